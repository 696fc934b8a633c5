"""indexes for keyset paging; the catalog's activity and score ranks

Revision ID: 0009_keyset_indexes
Revises: 0008_session_parent
Create Date: 2026-12-06 05:30:00.000000
"""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision: str = "0009_keyset_indexes"
down_revision: str | None = "0008_session_parent"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None

# Each listing's order together with its filters, ending in the unique column its page tokens continue after.
_INDEXES: list[tuple[str, str, list[str]]] = [
    ("ix_marketplace_vendors_created", "marketplace_vendors", ["created_at", "id"]),
    ("ix_marketplace_vendors_activity", "marketplace_vendors", ["activity_rank", "created_at", "id"]),
    ("ix_marketplace_vendors_score", "marketplace_vendors", ["score_rank", "created_at", "id"]),
    ("ix_api_tokens_created", "api_tokens", ["created_at", "id"]),
    ("ix_api_tokens_vendor_created", "api_tokens", ["vendor_id", "created_at", "id"]),
    ("ix_training_runs_created", "training_runs", ["created_at", "id"]),
    ("ix_deployments_created", "deployments", ["created_at", "id"]),
    ("ix_deployments_vendor_created", "deployments", ["vendor_id", "created_at", "id"]),
    ("ix_signals_symbol_id", "signals", ["symbol", "id"]),
    ("ix_signals_vendor_id", "signals", ["vendor_id", "id"]),
    ("ix_signals_vendor_symbol_id", "signals", ["vendor_id", "symbol", "id"]),
    ("ix_signals_round_id", "signals", ["round_number", "id"]),
]
# Replaced: no query orders signals by stored_at; runs get the id in their (vendor, created_at) index; a
# vendor_id index is the prefix of the new (vendor_id, created_at, id) one.
_DROPPED: list[tuple[str, str, list[str]]] = [
    ("ix_signals_symbol_stored", "signals", ["symbol", "stored_at"]),
    ("ix_signals_vendor_stored", "signals", ["vendor_id", "stored_at"]),
    ("ix_training_runs_vendor_created", "training_runs", ["vendor_id", "created_at"]),
    ("ix_api_tokens_vendor_id", "api_tokens", ["vendor_id"]),  # led by the new (vendor_id, created_at, id)
    ("ix_deployments_vendor_id", "deployments", ["vendor_id"]),
]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def upgrade() -> None:
    with op.batch_alter_table("marketplace_vendors", schema=None) as batch_op:
        batch_op.add_column(sa.Column("activity_rank", sa.BigInteger(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("score_rank", sa.Float(), server_default="2", nullable=False))
    _fill_ranks()
    for name, table, _ in _DROPPED:
        op.drop_index(name, table_name=table)
    op.create_index("ix_training_runs_vendor_created", "training_runs", ["vendor_id", "created_at", "id"])
    for name, table, columns in _INDEXES:
        op.create_index(name, table, columns)
    op.create_index(
        "ix_marketplace_vendors_name", "marketplace_vendors", [sa.text("lower(display_name)"), "created_at", "id"]
    )


def _fill_ranks() -> None:
    """The ranks of vendors listed before this revision, as server/signals/store.py and scoring.py keep them:
    minus the microseconds since 1970 of the latest signal; minus the best live model's mean round score."""
    bind = op.get_bind()
    latest = bind.execute(sa.text("SELECT vendor_id, max(last_signal_at) FROM deployments GROUP BY vendor_id")).all()
    for vendor_id, at in latest:
        if at is None:
            continue
        if isinstance(at, str):  # SQLite hands back its text
            at = datetime.fromisoformat(at)
        at = at.replace(tzinfo=UTC) if at.tzinfo is None else at
        rank = -((at - _EPOCH) // timedelta(microseconds=1))
        bind.execute(
            sa.text("UPDATE marketplace_vendors SET activity_rank = :r WHERE id = :v"), {"r": rank, "v": vendor_id}
        )
    best = bind.execute(
        sa.text(
            "SELECT d.vendor_id, max(m.mean) FROM deployments d JOIN "
            "(SELECT deployment_id, avg(score) AS mean FROM deployment_scores GROUP BY deployment_id) m "
            "ON m.deployment_id = d.id WHERE d.deleted_at IS NULL GROUP BY d.vendor_id"
        )
    ).all()
    for vendor_id, mean in best:
        bind.execute(
            sa.text("UPDATE marketplace_vendors SET score_rank = :r WHERE id = :v"), {"r": -float(mean), "v": vendor_id}
        )


def downgrade() -> None:
    op.drop_index("ix_marketplace_vendors_name", table_name="marketplace_vendors")
    for name, table, _ in reversed(_INDEXES):
        op.drop_index(name, table_name=table)
    op.drop_index("ix_training_runs_vendor_created", table_name="training_runs")
    for name, table, columns in _DROPPED:
        op.create_index(name, table, columns)
    with op.batch_alter_table("marketplace_vendors", schema=None) as batch_op:
        batch_op.drop_column("score_rank")
        batch_op.drop_column("activity_rank")
