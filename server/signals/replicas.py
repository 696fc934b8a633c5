"""Signals across replicas: each replica tells the others the ids of the signals it stored (one notification
per batch, sent in the batch's transaction, so it lands at commit); the others read those rows from the
database and hand them to their own hub. Payloads are id ranges ("17-116,120"), never rows.

Notifications that arrive while a read is running are read together in the next one, so a busy replica
makes fewer, larger reads. After a gap (the listener reconnected: notifications may have been lost), the
signals stored after the highest id this replica handed out are read from the database. Ids handed out
recently are remembered, so none reaches this replica's subscribers twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mlmp_marketplace.v1 import signals_pb2
from mlmp_server.core.convert import timestamp
from mlmp_server.core.notifications import MAX_PAYLOAD_BYTES, Notifications
from mlmp_server.signals import store
from mlmp_server.signals.hub import SignalHub
from mlmp_server.signals.ingest import signal_proto, stored_signal_proto

log = logging.getLogger("mp.signals")

CHANNEL = "mp_signals"  # "<first>-<last>,<id>,…": signals another replica committed
REMEMBERED = 200_000  # ids handed out lately, against duplicates after a gap
CATCH_UP_LIMIT = 100_000  # at most this many signals read back after a gap
RANGES_PER_READ = 200


def encode(ids: Iterable[int]) -> list[str]:
    """Ids as range payloads ("a-b" for a run, "a" alone), each under the notification size limit."""
    payloads: list[str] = []
    parts: list[str] = []
    size = 0
    for first, last in ranges(ids):
        part = str(first) if first == last else f"{first}-{last}"
        if size + len(part) + 1 > MAX_PAYLOAD_BYTES - 100:
            payloads.append(",".join(parts))
            parts, size = [], 0
        parts.append(part)
        size += len(part) + 1
    if parts:
        payloads.append(",".join(parts))
    return payloads


def decode(payload: str) -> list[tuple[int, int]]:
    found = []
    for part in payload.split(","):
        first, _, last = part.partition("-")
        found.append((int(first), int(last or first)))
    return found


def ranges(ids: Iterable[int]) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    for one in sorted(ids):
        if runs and one == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], one)
        elif not runs or one != runs[-1][1]:
            runs.append((one, one))
    return runs


class ReplicaFanout:
    """`shared`: other replicas may use this database (PostgreSQL); without, announce() does nothing."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], hub: SignalHub, notifications: Notifications, *, shared: bool
    ) -> None:
        self._sessions = sessions
        self._hub = hub
        self._notifications = notifications
        self.shared = shared
        self._pending: list[tuple[int, int]] = []
        self._catch_up = False
        self._reader: asyncio.Task[None] | None = None
        self._recent: deque[int] = deque()
        self._recent_set: set[int] = set()
        self.highest = 0  # the highest id handed to this replica's hub
        if shared:
            notifications.on(CHANNEL, self._received, self._gap)

    async def announce(self, session: AsyncSession, ids: Sequence[int]) -> None:
        """In the batch's transaction: tells the other replicas at its commit."""
        if not self.shared or not ids:
            return
        for payload in encode(ids):
            await self._notifications.send_in(session, CHANNEL, payload)

    def handed_out(self, ids: Iterable[int]) -> None:
        """Ids this replica's hub got (stored here, or read after a notification)."""
        for one in ids:
            if one in self._recent_set:
                continue
            self._recent.append(one)
            self._recent_set.add(one)
            self.highest = max(self.highest, one)
        while len(self._recent) > REMEMBERED:
            self._recent_set.discard(self._recent.popleft())

    def _received(self, payload: str) -> None:
        try:
            self._pending.extend(decode(payload))
        except ValueError:
            log.warning("a signal notification that is not id ranges was ignored")
            return
        self._wake()

    def _gap(self) -> None:
        self._catch_up = True
        self._wake()

    def _wake(self) -> None:
        if self._reader is None or self._reader.done():
            self._reader = asyncio.get_running_loop().create_task(self._read(), name="mp-signals-replicas")

    async def _read(self) -> None:
        # One connection, in autocommit, while notifications keep coming: a read is then one round trip
        # (no pool checkout and ping, no BEGIN and ROLLBACK), each seeing every commit before it.
        async with self._sessions() as session:
            await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
            while self._pending or self._catch_up:
                wanted, self._pending = self._pending, []
                catch_up, self._catch_up = self._catch_up, False
                if not self._hub.has_subscribers:
                    self.highest = max([self.highest, *(last for _first, last in wanted)])
                    continue  # nobody here to hand them to
                try:
                    found = await self._signals(session, wanted, catch_up)
                except Exception:
                    log.exception("signals another replica stored could not be read; subscribers here miss them")
                    continue
                fresh = [(key, stored, proto) for key, (stored, proto) in sorted(found.items())
                         if key not in self._recent_set]  # fmt: skip
                if not fresh:
                    continue
                self.handed_out(key for key, _stored, _proto in fresh)
                oldest = min(stored for _key, stored, _proto in fresh)
                # Already a batch (and already late by the trip here): handed out now, not after FLUSH_SECONDS.
                self._hub.publish_signals([proto for _key, _stored, proto in fresh], committed_at=oldest, now=True)

    async def _signals(
        self, session: AsyncSession, wanted: list[tuple[int, int]], catch_up: bool
    ) -> dict[int, tuple[float, signals_pb2.Signal]]:
        """id → (stored at, its proto) of the signals in `wanted`, and after a gap those past `highest`."""
        found: dict[int, tuple[float, signals_pb2.Signal]] = {}
        merged = ranges_merged(wanted)
        for start in range(0, len(merged), RANGES_PER_READ):
            rows = await store.signal_rows_in_ranges(session, merged[start : start + RANGES_PER_READ])
            found.update(_protos(rows))
        if catch_up:
            missed = await store.signals_after(
                session, after_id=self.highest, symbol="", vendor_id=None, limit=CATCH_UP_LIMIT
            )
            for signal, vendor in missed:
                found[signal.id] = (signal.stored_at.timestamp(), stored_signal_proto(signal, vendor))
        return found


def _protos(rows: Sequence[Any]) -> Iterator[tuple[int, tuple[float, signals_pb2.Signal]]]:
    """Protos of plain rows (store.signal_rows_in_ranges), each attribution and store time built once."""
    attributions: dict[tuple[str, str, str | None], signals_pb2.Attribution] = {}
    stamps: dict[datetime, Timestamp | None] = {}
    for row in rows:
        who = (row.vendor_id, row.deployment_id, row.run_id)
        by = attributions.get(who)
        if by is None:
            by = attributions[who] = signals_pb2.Attribution(
                vendor_id=row.vendor_id, vendor_slug=row.slug, vendor_display_name=row.display_name,
                deployment_id=row.deployment_id, run_id=row.run_id or "",
            )  # fmt: skip
        if row.stored_at not in stamps:
            stamps[row.stored_at] = timestamp(row.stored_at)
        stored = stamps[row.stored_at]
        yield row.id, (row.stored_at.timestamp(), signal_proto(row.id, row, by, stored))


def ranges_merged(wanted: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for first, last in sorted(wanted):
        if merged and first <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], last))
        else:
            merged.append((first, last))
    return merged
