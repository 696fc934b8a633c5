"""A short-lived snapshot of the latest rounds and their files, for the hot read paths.

Rounds change rarely, and a round's state is computed from its stored facts and the current time on
every read, so a snapshot never shows a stale state; a publish, close or resolve on this replica
refreshes it at once, and on the other replicas of the same database as soon as the notification
arrives (server/core/notifications.py; within TTL seconds at worst). Concurrent readers of an expired
snapshot await one reload (server/core/single_flight.py).
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mlmp_server.core.clock import Clock
from mlmp_server.core.notifications import ROUNDS, Notifications
from mlmp_server.core.single_flight import SingleFlightCache
from mlmp_server.datasets import store
from mlmp_server.db.models import DatasetFile, DatasetRound

TTL = 2.0
DEPTH = 50  # rounds kept: "current" is looked for among the latest ones


@dataclass
class Snapshot:
    rounds: list[DatasetRound]  # newest first
    files: dict[int, list[DatasetFile]]
    # What readers built from this snapshot (a round's response), dropped with it.
    built: dict[Hashable, object] = field(default_factory=dict)


class RoundCache:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        ttl: float = TTL,
        notifications: Notifications | None = None,
    ) -> None:
        self._sessions = sessions
        self._snapshots: SingleFlightCache[str, Snapshot] = SingleFlightCache(ttl, clock, max_size=1)
        self._notifications = notifications
        if notifications is not None:
            notifications.on(ROUNDS, lambda _payload: self._snapshots.invalidate(), on_gap=self._snapshots.invalidate)

    async def snapshot(self) -> Snapshot:
        return await self._snapshots.get("latest", self._load)

    async def latest(self) -> tuple[list[DatasetRound], dict[int, list[DatasetFile]]]:
        """The latest rounds, newest first, and the files of each."""
        snapshot = await self.snapshot()
        return snapshot.rounds, snapshot.files

    def invalidate(self) -> None:
        """After a commit that changed a round: here at once, on the other replicas at their notification."""
        self._snapshots.invalidate()
        if self._notifications is not None:
            self._notifications.send_soon(ROUNDS, "changed")

    async def _load(self) -> Snapshot:
        async with self._sessions() as session:
            rows = await store.list_rounds(session, DEPTH)
            files = await store.files_of(session, [row.number for row in rows])
        return Snapshot(rows, files)
