"""vendor invitations and vendor suspension

Revision ID: 0007_invitations
Revises: 0006
Create Date: 2026-12-06 05:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_invitations"
down_revision: str | None = "0006"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("marketplace_vendors", schema=None) as batch_op:
        batch_op.add_column(sa.Column("suspended_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "vendor_invitations",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("hint", sa.String(length=32), nullable=False),
        sa.Column("note", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=32), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("vendor_id", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["vendor_id"], ["marketplace_vendors.id"],
            name=op.f("fk_vendor_invitations_vendor_id_marketplace_vendors"),
        ),  # fmt: skip
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vendor_invitations")),
        sa.UniqueConstraint("digest", name=op.f("uq_vendor_invitations_digest")),
    )
    op.create_index(op.f("ix_vendor_invitations_created_at"), "vendor_invitations", ["created_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_vendor_invitations_created_at"), table_name="vendor_invitations")
    op.drop_table("vendor_invitations")
    with op.batch_alter_table("marketplace_vendors", schema=None) as batch_op:
        batch_op.drop_column("suspended_at")
