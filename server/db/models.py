"""SQLAlchemy models: the tables of the marketplace. Schema changes go through Alembic migrations."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on both databases (SQLite keeps no zone, so it is restored on read)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


class Vendor(Base):
    __tablename__ = "marketplace_vendors"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    slug: Mapped[str] = mapped_column(String(40), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # While set, introspection refuses every token of the vendor; nothing of its data is deleted.
    suspended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Sort keys of the catalog's orders by activity and by score, stored so those orders page through an
    # index (server/catalog/store.py) instead of computing every vendor's value for each page. Both ascend:
    # minus the microseconds since 1970 of its latest signal (0: none yet, so after every other), kept by
    # each stored batch (server/signals/store.py count_batch); minus its best model's headline score, the live
    # rank correlation or else the round-based score (2.0: none scored, after every other, as scores lie in
    # [-1, 1]), kept by the live scorer, scoring a round and deleting a model (server/signals/scoring.py
    # refresh_score_ranks).
    activity_rank: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    score_rank: Mapped[float] = mapped_column(Float, default=2.0, server_default="2")


class Invitation(Base):
    """An invitation to register as a vendor: single use, expiring; only its code's keyed digest is kept."""

    __tablename__ = "vendor_invitations"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    hint: Mapped[str] = mapped_column(String(32))
    note: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(32))
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    vendor_id: Mapped[str | None] = mapped_column(ForeignKey("marketplace_vendors.id"))


class ApiToken(Base):
    __tablename__ = "api_tokens"
    __table_args__ = (
        Index("ix_api_tokens_created", "created_at", "id"),
        Index("ix_api_tokens_vendor_created", "vendor_id", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    hint: Mapped[str] = mapped_column(String(32))
    display_name: Mapped[str] = mapped_column(String(200), default="")
    vendor_id: Mapped[str | None] = mapped_column(
        ForeignKey("marketplace_vendors.id")
    )  # indexed in __table_args__
    scopes: Mapped[str] = mapped_column(Text)  # space-separated
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by: Mapped[str | None] = mapped_column(String(32))
    # A browser session's parent: the token it was signed in with (CreateSession). Revoking the parent
    # ends its sessions; a token with a parent is a session.
    parent_token_id: Mapped[str | None] = mapped_column(String(32), index=True)


class DatasetRound(Base):
    __tablename__ = "dataset_rounds"

    number: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    state: Mapped[str] = mapped_column(String(16))
    opens_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closes_at: Mapped[datetime] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    symbols: Mapped[list[str]] = mapped_column(JSON, default=list)
    data_start: Mapped[datetime | None] = mapped_column(UTCDateTime)
    data_end: Mapped[datetime | None] = mapped_column(UTCDateTime)
    synthetic: Mapped[bool] = mapped_column(Boolean, default=False)
    description: Mapped[str] = mapped_column(Text, default="")
    realized_returns: Mapped[dict[str, float] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The bar length of the round's prices and how many bars ahead its target looks (the builder's).
    bar_seconds: Mapped[int] = mapped_column(Integer, default=86400, server_default="86400")
    horizon_bars: Mapped[int] = mapped_column(Integer, default=5, server_default="5")


class DatasetFile(Base):
    __tablename__ = "dataset_files"
    __table_args__ = (UniqueConstraint("round_number", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    round_number: Mapped[int] = mapped_column(ForeignKey("dataset_rounds.number"))
    name: Mapped[str] = mapped_column(String(64))
    format: Mapped[str] = mapped_column(String(16))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    blob_key: Mapped[str] = mapped_column(Text)
    columns: Mapped[list[str]] = mapped_column(JSON, default=list)
    row_count: Mapped[int] = mapped_column(BigInteger, default=0)


class TrainingRun(Base):
    __tablename__ = "training_runs"
    __table_args__ = (
        Index("ix_training_runs_created", "created_at", "id"),
        Index("ix_training_runs_vendor_created", "vendor_id", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    vendor_id: Mapped[str] = mapped_column(ForeignKey("marketplace_vendors.id"))
    task: Mapped[str] = mapped_column(String(64))
    round_number: Mapped[int] = mapped_column(ForeignKey("dataset_rounds.number"))
    provider: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16))
    project: Mapped[str] = mapped_column(String(200), default="")
    hyperparameters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    latest_metrics: Mapped[dict[str, float]] = mapped_column(JSON, default=dict)
    artifact_key: Mapped[str | None] = mapped_column(Text)
    artifact_size: Mapped[int | None] = mapped_column(BigInteger)
    artifact_sha256: Mapped[str | None] = mapped_column(String(64))
    gpu_type: Mapped[str] = mapped_column(String(64), default="")
    external_id: Mapped[str] = mapped_column(String(128), default="")
    message: Mapped[str] = mapped_column(Text, default="")
    exit_code: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    event_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class RunToken(Base):
    """A token confined to one training run, for a remote trainer; it dies with the run."""

    __tablename__ = "run_tokens"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    hint: Mapped[str] = mapped_column(String(32))
    run_id: Mapped[str] = mapped_column(ForeignKey("training_runs.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class RunEvent(Base):
    """What happened to a run, in order: state changes, metric points, log lines."""

    __tablename__ = "run_events"
    __table_args__ = (UniqueConstraint("run_id", "sequence"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("training_runs.id"), index=True)
    sequence: Mapped[int] = mapped_column(BigInteger)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    kind: Mapped[str] = mapped_column(String(16))  # "state", "metric" or "log"
    data: Mapped[dict[str, Any]] = mapped_column(JSON)


class Deployment(Base):
    __tablename__ = "deployments"
    __table_args__ = (
        Index("ix_deployments_created", "created_at", "id"),
        Index("ix_deployments_vendor_created", "vendor_id", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    vendor_id: Mapped[str] = mapped_column(ForeignKey("marketplace_vendors.id"))  # indexed in __table_args__
    run_id: Mapped[str | None] = mapped_column(ForeignKey("training_runs.id"))
    name: Mapped[str] = mapped_column(String(200))
    provider: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16))
    links: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    external_id: Mapped[str] = mapped_column(String(128), default="")
    message: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Kept up to date by each stored batch, so the catalog never counts the signals table.
    signal_count: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    last_signal_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_sequence: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class DeploymentToken(Base):
    __tablename__ = "deployment_tokens"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    hint: Mapped[str] = mapped_column(String(32))
    deployment_id: Mapped[str] = mapped_column(ForeignKey("deployments.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Signal(Base):
    __tablename__ = "signals"
    # Listings page newest first by id under each filter: an index per filter ending in id (and the
    # deliveries' (deployment_id, id) below); (deployment_id, round_number) serves the rounds entered.
    __table_args__ = (
        Index("ix_signals_symbol_id", "symbol", "id"),
        Index("ix_signals_vendor_id", "vendor_id", "id"),
        Index("ix_signals_vendor_symbol_id", "vendor_id", "symbol", "id"),
        Index("ix_signals_round_id", "round_number", "id"),
        Index("ix_signals_deployment_round", "deployment_id", "round_number"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    deployment_id: Mapped[str] = mapped_column(String(32))
    vendor_id: Mapped[str] = mapped_column(String(32))
    run_id: Mapped[str | None] = mapped_column(String(32))
    symbol: Mapped[str] = mapped_column(String(32))
    action: Mapped[int] = mapped_column(SmallInteger)
    score: Mapped[float | None] = mapped_column(Float)
    confidence: Mapped[float] = mapped_column(Float)
    horizon_seconds: Mapped[float] = mapped_column(Float)
    generated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    round_number: Mapped[int] = mapped_column(Integer)
    model_version: Mapped[str] = mapped_column(String(64))
    batch_sequence: Mapped[int] = mapped_column(BigInteger)
    stored_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SignalBatch(Base):
    """One stored batch per (deployment, publisher, sequence): what makes a resent batch a duplicate.
    Each publisher numbers its own batches, so two publishers of one deployment never collide."""

    __tablename__ = "signal_batches"

    deployment_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    publisher_id: Mapped[str] = mapped_column(String(64), primary_key=True, server_default="")
    sequence: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    accepted: Mapped[int] = mapped_column(Integer)
    rejected: Mapped[int] = mapped_column(Integer)
    stored_at: Mapped[datetime] = mapped_column(UTCDateTime)


class DeploymentScore(Base):
    """A deployment's live score for one resolved round, computed when the round is resolved."""

    __tablename__ = "deployment_scores"

    deployment_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    round_number: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    score: Mapped[float] = mapped_column(Float)
    symbols: Mapped[int] = mapped_column(Integer)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SignalOutcome(Base):
    """A signal's realised return, as server/signals/scoring.py defines it: enrolled (pending) when the scorer
    first sees the signal, scored at its symbol's first bar at or after due_at. exit_time set with no
    realised_return: void (no bar at or before the signal's time, so no entry price)."""

    __tablename__ = "signal_outcomes"
    __table_args__ = (
        # Pending outcomes of a symbol, by when they fall due: what a new bar of the symbol may score.
        Index(
            "ix_signal_outcomes_pending", "symbol", "due_at",
            postgresql_where=text("exit_time IS NULL"), sqlite_where=text("exit_time IS NULL"),
        ),
        # A deployment's window: its scored signals, latest signal time first.
        Index(
            "ix_signal_outcomes_window", "deployment_id", "signal_time", "signal_id",
            postgresql_where=text("realized_return IS NOT NULL"), sqlite_where=text("realized_return IS NOT NULL"),
        ),
    )  # fmt: skip

    signal_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    )
    deployment_id: Mapped[str] = mapped_column(String(32))
    symbol: Mapped[str] = mapped_column(String(32))
    view: Mapped[float] = mapped_column(Float)  # the signal's score, or its action as +1, -1 or 0
    signal_time: Mapped[datetime] = mapped_column(UTCDateTime)  # t: the signal's generate_time
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)  # t + horizon
    entry_close: Mapped[float | None] = mapped_column(Float)  # close of the last bar at or before t
    exit_time: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the first bar at or after due_at
    exit_close: Mapped[float | None] = mapped_column(Float)
    realized_return: Mapped[float | None] = mapped_column(Float)
    scored_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # when the scorer stored it


class DeploymentLiveScore(Base):
    """A deployment's live score over its window of scored signals (server/signals/scoring.py), recomputed
    for that deployment whenever one of its signals is scored."""

    __tablename__ = "deployment_live_scores"

    deployment_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    rank_correlation: Mapped[float | None] = mapped_column(Float)
    hit_rate: Mapped[float | None] = mapped_column(Float)
    scored_signals: Mapped[int] = mapped_column(Integer)
    window: Mapped[int] = mapped_column(Integer)
    # The latest signal time in the window: how recent the signals it rests on are.
    latest_signal_time: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AuditEvent(Base):
    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    actor: Mapped[str] = mapped_column(String(32))  # token id, never the token
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(128))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class IdempotencyRecord(Base):
    """The first answer to a create, keyed by who asked and their request id (AIP-155)."""

    __tablename__ = "idempotency_records"

    principal_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    method: Mapped[str] = mapped_column(String(128), primary_key=True)
    request_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    response: Mapped[bytes] = mapped_column(LargeBinary)
    # Random seed a secret in the response is derived from, so a retried create can return the
    # same secret without the secret itself being stored. Kept only while the record lives.
    secret_seed: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class SignalDestination(Base):
    """A destination linked to a deployment, and how far the marketplace's deliveries to it got.

    `pending_through` fixes the signal range of the delivery being attempted, so every retry (also after a
    restart) sends the same signals under the same delivery id; the lease keeps one replica delivering."""

    __tablename__ = "signal_destinations"
    __table_args__ = (UniqueConstraint("deployment_id", "url"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    deployment_id: Mapped[str] = mapped_column(ForeignKey("deployments.id"), index=True)
    url: Mapped[str] = mapped_column(Text)
    # The signing secret is derived from this and the server's key; the row alone cannot sign.
    secret_seed: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    delivered_through: Mapped[int] = mapped_column(BigInteger, default=0)
    pending_through: Mapped[int | None] = mapped_column(BigInteger)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str] = mapped_column(String(200), default="")
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lease_owner: Mapped[str | None] = mapped_column(String(32))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class MarketBar(Base):
    """One OHLCV bar of the market feed. The primary key (symbol, time) makes a bar's identity and serves
    each symbol's bars in time order, either way."""

    __tablename__ = "market_bars"

    symbol: Mapped[str] = mapped_column(String(32), primary_key=True)
    time: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    open: Mapped[float] = mapped_column(Float)
    high: Mapped[float] = mapped_column(Float)
    low: Mapped[float] = mapped_column(Float)
    close: Mapped[float] = mapped_column(Float)
    volume: Mapped[float] = mapped_column(Float)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)


class MarketSymbol(Base):
    """Each symbol of the feed with the extent of its bars, kept with every insert: the newest time is what
    a next bar is checked against (its row is locked while a batch is stored, so publishers of one symbol take
    turns), and listing symbols never scans the bars."""

    __tablename__ = "market_symbols"

    symbol: Mapped[str] = mapped_column(String(32), primary_key=True)
    first_time: Mapped[datetime] = mapped_column(UTCDateTime)
    last_time: Mapped[datetime] = mapped_column(UTCDateTime)
    bar_count: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


# Deliveries read a deployment's signals by id range.
Index("ix_signals_deployment_id", Signal.deployment_id, Signal.id)
# The orders of vendor listings (server/catalog/store.py, server/auth/store.py), each ending in the unique id.
Index("ix_marketplace_vendors_created", Vendor.created_at, Vendor.id)
Index("ix_marketplace_vendors_name", func.lower(Vendor.display_name), Vendor.created_at, Vendor.id)
Index("ix_marketplace_vendors_activity", Vendor.activity_rank, Vendor.created_at, Vendor.id)
Index("ix_marketplace_vendors_score", Vendor.score_rank, Vendor.created_at, Vendor.id)
