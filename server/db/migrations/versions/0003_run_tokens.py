"""run tokens

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 07:49:47.459800
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "run_tokens",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("hint", sa.String(length=32), nullable=False),
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["training_runs.id"], name=op.f("fk_run_tokens_run_id_training_runs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_run_tokens")),
        sa.UniqueConstraint("digest", name=op.f("uq_run_tokens_digest")),
    )
    with op.batch_alter_table("run_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_run_tokens_run_id"), ["run_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("run_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_run_tokens_run_id"))

    op.drop_table("run_tokens")
