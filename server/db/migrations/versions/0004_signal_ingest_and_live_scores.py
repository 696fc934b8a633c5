"""signal ingest and live scores

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 09:02:29.300095
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "deployment_scores",
        sa.Column("deployment_id", sa.String(length=32), nullable=False),
        sa.Column("round_number", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("symbols", sa.Integer(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("deployment_id", "round_number", name=op.f("pk_deployment_scores")),
    )
    op.create_table(
        "signal_batches",
        sa.Column("deployment_id", sa.String(length=32), nullable=False),
        sa.Column("sequence", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("accepted", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("stored_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("deployment_id", "sequence", name=op.f("pk_signal_batches")),
    )
    with op.batch_alter_table("deployments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("signal_count", sa.BigInteger(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("last_signal_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("last_sequence", sa.BigInteger(), server_default="0", nullable=False))

    with op.batch_alter_table("signals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_signals_deployment_sequence"))
        batch_op.create_index("ix_signals_deployment_round", ["deployment_id", "round_number"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("signals", schema=None) as batch_op:
        batch_op.drop_index("ix_signals_deployment_round")
        batch_op.create_index(
            batch_op.f("ix_signals_deployment_sequence"), ["deployment_id", "batch_sequence"], unique=False
        )

    with op.batch_alter_table("deployments", schema=None) as batch_op:
        batch_op.drop_column("last_sequence")
        batch_op.drop_column("last_signal_at")
        batch_op.drop_column("signal_count")

    op.drop_table("signal_batches")
    op.drop_table("deployment_scores")
