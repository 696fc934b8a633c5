"""signal outcomes (realised returns from the market feed) and deployments' live scores

Revision ID: 0012_signal_outcomes
Revises: 0011_round_bar_length
Create Date: 2026-12-06 08:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_signal_outcomes"
down_revision: str | None = "0011_round_bar_length"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "signal_outcomes",
        sa.Column("signal_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False,
                  autoincrement=False),  # fmt: skip
        sa.Column("deployment_id", sa.String(length=32), nullable=False),
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column("view", sa.Float(), nullable=False),
        sa.Column("signal_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("entry_close", sa.Float(), nullable=True),
        sa.Column("exit_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("exit_close", sa.Float(), nullable=True),
        sa.Column("realized_return", sa.Float(), nullable=True),
        sa.Column("scored_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("signal_id", name="pk_signal_outcomes"),
    )
    op.create_index(
        "ix_signal_outcomes_pending", "signal_outcomes", ["symbol", "due_at"],
        postgresql_where=sa.text("exit_time IS NULL"), sqlite_where=sa.text("exit_time IS NULL"),
    )  # fmt: skip
    op.create_index(
        "ix_signal_outcomes_window", "signal_outcomes", ["deployment_id", "signal_time", "signal_id"],
        postgresql_where=sa.text("realized_return IS NOT NULL"), sqlite_where=sa.text("realized_return IS NOT NULL"),
    )  # fmt: skip
    op.create_table(
        "deployment_live_scores",
        sa.Column("deployment_id", sa.String(length=32), nullable=False),
        sa.Column("rank_correlation", sa.Float(), nullable=True),
        sa.Column("hit_rate", sa.Float(), nullable=True),
        sa.Column("scored_signals", sa.Integer(), nullable=False),
        sa.Column("window", sa.Integer(), nullable=False),
        sa.Column("latest_signal_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("deployment_id", name="pk_deployment_live_scores"),
    )


def downgrade() -> None:
    op.drop_table("deployment_live_scores")
    op.drop_index("ix_signal_outcomes_window", table_name="signal_outcomes")
    op.drop_index("ix_signal_outcomes_pending", table_name="signal_outcomes")
    op.drop_table("signal_outcomes")
