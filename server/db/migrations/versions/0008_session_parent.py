"""a browser session's parent token, as a column

Revision ID: 0008_session_parent
Revises: 0007_invitations
Create Date: 2026-12-06 05:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_session_parent"
down_revision: str | None = "0007_invitations"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("parent_token_id", sa.String(length=32), nullable=True))
        batch_op.create_index(batch_op.f("ix_api_tokens_parent_token_id"), ["parent_token_id"], unique=False)
    # Sessions made before this revision are known by their `session.create` audit event, whose actor
    # is the token they were signed in with.
    op.execute(
        "UPDATE api_tokens SET parent_token_id = ("
        " SELECT MIN(audit_events.actor) FROM audit_events"
        " WHERE audit_events.action = 'session.create' AND audit_events.target = api_tokens.id"
        ") WHERE parent_token_id IS NULL AND EXISTS ("
        " SELECT 1 FROM audit_events"
        " WHERE audit_events.action = 'session.create' AND audit_events.target = api_tokens.id)"
    )


def downgrade() -> None:
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_tokens_parent_token_id"))
        batch_op.drop_column("parent_token_id")
