"""Signal ingest: judge a batch, store it in one transaction, hand it to subscribers.

The result is known only after the commit, which is what lets the stream acknowledge a batch as
stored. A batch with a sequence number is stored at most once per (deployment, publisher); a resent
one is answered as a duplicate with the counts of the first.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, cast

from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mlmp_marketplace.v1 import signals_pb2
from mlmp_server.core import metrics
from mlmp_server.core.buckets import BucketStore, LocalBuckets, RateLimit
from mlmp_server.core.clock import Clock, to_datetime
from mlmp_server.core.completion import finish_even_if_cancelled
from mlmp_server.core.convert import timestamp
from mlmp_server.core.errors import FailedPrecondition, InvalidArgument
from mlmp_server.datasets.round_cache import RoundCache
from mlmp_server.db.models import Signal, Vendor
from mlmp_server.deployments import rules as deployments
from mlmp_server.signals import store
from mlmp_server.signals.hub import SignalHub
from mlmp_server.signals.rules import (
    MAX_BATCH,
    MAX_SEQUENCE,
    Judged,
    NewSignal,
    OpenRounds,
    Writer,
    check_publisher,
    judge,
)

WRITABLE = tuple(sorted(deployments.WRITABLE))


class Replicas(Protocol):
    """The other replicas' side of ingest (server/signals/replicas.py)."""

    shared: bool

    async def announce(self, session: AsyncSession, ids: Sequence[int]) -> None: ...

    def handed_out(self, ids: Iterable[int]) -> None: ...


@dataclass
class Stored:
    accepted: int
    rejections: list[signals_pb2.SignalRejection] = field(default_factory=list)
    duplicate: bool = False


@dataclass(frozen=True)
class Attribution:
    vendor_slug: str
    vendor_display_name: str


class SignalBudget:
    """Signals per second per deployment. A batch is never split or dropped for the limit: its
    signals are taken even into debt, and the writer is told how long to wait for the debt to clear.
    The buckets are this process's own, or every replica's through Redis (server/limits/)."""

    def __init__(self, limit: RateLimit, clock: Clock, buckets: BucketStore | None = None) -> None:
        self._limit = limit
        self._buckets = buckets or LocalBuckets(clock)

    async def wait_for(self, key: str, count: int) -> float:
        """Seconds until `count` signals fit, without taking them (0: they fit now). The caller refuses the
        batch when this is above 0, so it counts as a rejection."""
        missing = min(count, self._limit.burst) - await self._buckets.level(f"signals:{key}", self._limit)
        if missing <= 0:
            return 0.0
        metrics.rate_limit_rejections.labels("signal").inc()
        return missing / self._limit.per_second

    async def take(self, key: str, count: int) -> float:
        """Takes `count` signals; returns how long the writer should wait before its next batch."""
        taken = await self._buckets.take(f"signals:{key}", self._limit, count, into_debt=True)
        return taken.wait(count, self._limit)


class SignalIngest:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        rounds: RoundCache,
        hub: SignalHub,
        clock: Clock,
        budget: SignalBudget,
        replicas: Replicas | None = None,
    ) -> None:
        self._sessions = sessions
        self._rounds = rounds
        self._hub = hub
        self._clock = clock
        self.budget = budget
        self._replicas = replicas

    async def store(
        self,
        writer: Writer,
        attribution: Attribution,
        sequence: int,
        signals: Sequence[signals_pb2.Signal],
        publisher_id: str = "",
    ) -> Stored:
        """Stores one batch. A stream cancelled meanwhile stops waiting, but the batch's transaction
        still ends (committed or rolled back), so a cancelled stream holds no lock or connection."""
        return await finish_even_if_cancelled(self._store(writer, attribution, sequence, signals, publisher_id))

    async def _store(
        self,
        writer: Writer,
        attribution: Attribution,
        sequence: int,
        signals: Sequence[signals_pb2.Signal],
        publisher_id: str,
    ) -> Stored:
        started = time.perf_counter()
        if not 0 <= sequence <= MAX_SEQUENCE:
            raise InvalidArgument(f"sequence {sequence} is outside 0..2^53 ({MAX_SEQUENCE})")
        check_publisher(publisher_id)
        if len(signals) > MAX_BATCH:
            raise InvalidArgument(f"a batch holds at most {MAX_BATCH} signals, not {len(signals)}")
        now = to_datetime(self._clock())
        latest, _files = await self._rounds.latest()
        judged = judge(signals, OpenRounds.of(latest, now), now)
        accepted = len(judged.rows)
        async with self._sessions.begin() as session:
            if sequence and not await store.claim_batch(
                session, writer.deployment_id, publisher_id, sequence, accepted, len(judged.rejections), now
            ):
                first = await store.stored_batch(session, writer.deployment_id, publisher_id, sequence)
                return Stored(accepted=first.accepted if first else 0, duplicate=True)
            # Locks the deployment's row before the rows get ids: a deployment's ids then grow in commit
            # order, which deliveries rely on (server/deployments/store.py).
            if not await store.count_batch(session, writer.deployment_id, sequence, accepted, now, WRITABLE):
                raise await self._refusal(session, writer.deployment_id)
            # Ids are needed by this replica's subscribers, and by the other replicas (told in this transaction).
            replicas = self._replicas if self._replicas is not None and self._replicas.shared else None
            ids = await store.insert_rows(
                session, writer, sequence, judged.rows, now, want_ids=replicas is not None or self._hub.has_subscribers
            )
            if replicas is not None:
                await replicas.announce(session, ids)
        metrics.signal_batches.inc()
        metrics.signals_stored.inc(accepted)
        metrics.signal_batch_seconds.observe(time.perf_counter() - started)
        if replicas is not None:
            replicas.handed_out(ids)
        self._hub.publish(lambda: _protos(judged, ids, writer, attribution, now), committed_at=time.time())
        return Stored(accepted=accepted, rejections=judged.rejections)

    @staticmethod
    async def _refusal(session: AsyncSession, deployment_id: str) -> FailedPrecondition:
        found = await store.get_deployment(session, deployment_id)
        if found is None or found.deleted_at is not None:
            return FailedPrecondition(f"deployment {deployment_id} was deleted; its signals are no longer taken")
        return FailedPrecondition(
            f"deployment {deployment_id} is {found.state}; signals are taken while it is pending, starting or live"
        )


def _protos(
    judged: Judged, ids: list[int], writer: Writer, attribution: Attribution, now: datetime
) -> list[signals_pb2.Signal]:
    if len(ids) != len(judged.rows):
        return []  # the first subscriber arrived while this batch was written without ids: it starts after it
    by = signals_pb2.Attribution(
        vendor_id=writer.vendor_id, vendor_slug=attribution.vendor_slug,
        vendor_display_name=attribution.vendor_display_name, deployment_id=writer.deployment_id,
        run_id=writer.run_id,
    )  # fmt: skip
    stored = timestamp(now)
    return [signal_proto(new_id, row, by, stored) for new_id, row in zip(ids, judged.rows, strict=True)]


MAX_DURATION_SECONDS = 315_576_000_000  # protobuf's Duration range: ±10,000 years


def signal_proto(
    signal_id: int, signal: NewSignal | Signal, by: signals_pb2.Attribution, stored: Timestamp | None
) -> signals_pb2.Signal:
    proto = signals_pb2.Signal(
        id=str(signal_id), symbol=signal.symbol, action=cast("signals_pb2.Action.ValueType", signal.action),
        score=signal.score, confidence=signal.confidence, generate_time=timestamp(signal.generated_at),
        round_number=signal.round_number, model_version=signal.model_version, attribution=by, store_time=stored,
    )  # fmt: skip
    # Rows stored before horizons were bounded may lie past what a Duration can say: shown at its
    # bound, so one old row can never make a listing or a subscription fail.
    seconds = max(-MAX_DURATION_SECONDS, min(MAX_DURATION_SECONDS, signal.horizon_seconds))
    proto.horizon.FromNanoseconds(round(seconds * 1e9))
    return proto


def stored_signal_proto(signal: Signal, vendor: Vendor) -> signals_pb2.Signal:
    by = signals_pb2.Attribution(
        vendor_id=vendor.id, vendor_slug=vendor.slug, vendor_display_name=vendor.display_name,
        deployment_id=signal.deployment_id, run_id=signal.run_id or "",
    )  # fmt: skip
    return signal_proto(signal.id, signal, by, timestamp(signal.stored_at))
