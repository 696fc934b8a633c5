"""signal batches numbered per publisher

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 21:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    # Batches stored before this revision belong to the unnamed publisher "".
    with op.batch_alter_table("signal_batches", schema=None) as batch_op:
        batch_op.add_column(sa.Column("publisher_id", sa.String(length=64), server_default="", nullable=False))
        batch_op.drop_constraint("pk_signal_batches", type_="primary")
        batch_op.create_primary_key("pk_signal_batches", ["deployment_id", "publisher_id", "sequence"])


def downgrade() -> None:
    # Several publishers' batches may share a sequence: keep the unnamed publisher's, as before.
    op.execute("DELETE FROM signal_batches WHERE publisher_id <> ''")
    with op.batch_alter_table("signal_batches", schema=None) as batch_op:
        batch_op.drop_constraint("pk_signal_batches", type_="primary")
        batch_op.create_primary_key("pk_signal_batches", ["deployment_id", "sequence"])
        batch_op.drop_column("publisher_id")
