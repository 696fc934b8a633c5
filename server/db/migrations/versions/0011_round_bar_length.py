"""rounds know their bar length and target horizon

Revision ID: 0011_round_bar_length
Revises: 0010_market_bars
Create Date: 2026-12-06 08:00:00.000000

Rounds published before this revision get 86400 s × 5 bars: what the template and scoring assumed of
every round until now ("432000s").
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_round_bar_length"
down_revision: str | None = "0010_market_bars"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("dataset_rounds", schema=None) as batch_op:
        batch_op.add_column(sa.Column("bar_seconds", sa.Integer(), server_default="86400", nullable=False))
        batch_op.add_column(sa.Column("horizon_bars", sa.Integer(), server_default="5", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("dataset_rounds", schema=None) as batch_op:
        batch_op.drop_column("horizon_bars")
        batch_op.drop_column("bar_seconds")
