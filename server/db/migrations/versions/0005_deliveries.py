"""signal destinations: deliveries from the marketplace to linked destinations

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 21:00:00.000000

Deployments no longer send signals anywhere a link names, so the old `signals_url` / `signals_target`
links are dropped from `deployments.links`; a destination is linked anew (`mp link-infra --add URL`),
which shows its signing secret.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None

OLD_LINKS = ("signals_url", "signals_target")


def upgrade() -> None:
    op.create_table(
        "signal_destinations",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("deployment_id", sa.String(length=32), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("secret_seed", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_through", sa.BigInteger(), nullable=False),
        sa.Column("pending_through", sa.BigInteger(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=200), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_owner", sa.String(length=32), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["deployment_id"], ["deployments.id"], name=op.f("fk_signal_destinations_deployment_id_deployments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signal_destinations")),
        sa.UniqueConstraint("deployment_id", "url", name=op.f("uq_signal_destinations_deployment_id")),
    )
    with op.batch_alter_table("signal_destinations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_signal_destinations_deployment_id"), ["deployment_id"], unique=False)
    with op.batch_alter_table("signals", schema=None) as batch_op:
        batch_op.create_index("ix_signals_deployment_id", ["deployment_id", "id"], unique=False)

    deployments = sa.table("deployments", sa.column("id", sa.String()), sa.column("links", sa.JSON()))
    connection = op.get_bind()
    for deployment_id, links in connection.execute(sa.select(deployments.c.id, deployments.c.links)).all():
        if links and any(key in links for key in OLD_LINKS):
            kept = {key: value for key, value in links.items() if key not in OLD_LINKS}
            connection.execute(deployments.update().where(deployments.c.id == deployment_id).values(links=kept))


def downgrade() -> None:
    with op.batch_alter_table("signals", schema=None) as batch_op:
        batch_op.drop_index("ix_signals_deployment_id")
    with op.batch_alter_table("signal_destinations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_signal_destinations_deployment_id"))
    op.drop_table("signal_destinations")
