"""A short-lived snapshot of the latest rounds and their files, for the hot read paths.

Rounds change rarely, and a round's state is computed from its stored facts and the current time on
every read, so a snapshot never shows a stale state; a publish or close on this replica refreshes it
at once, on another one within TTL seconds.
"""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.core.clock import Clock
from server.datasets import store
from server.db.models import DatasetFile, DatasetRound

TTL = 2.0
DEPTH = 50  # rounds kept: "current" is looked for among the latest ones


class RoundCache:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Clock, ttl: float = TTL) -> None:
        self._sessions = sessions
        self._clock = clock
        self._ttl = ttl
        self._lock = asyncio.Lock()
        self._loaded_at = float("-inf")
        self._rounds: list[DatasetRound] = []
        self._files: dict[int, list[DatasetFile]] = {}

    async def latest(self) -> tuple[list[DatasetRound], dict[int, list[DatasetFile]]]:
        """The latest rounds, newest first, and the files of each."""
        if self._clock() - self._loaded_at > self._ttl:
            async with self._lock:
                if self._clock() - self._loaded_at > self._ttl:  # another waiter may have reloaded
                    async with self._sessions() as session:
                        rows = await store.list_rounds(session, 0, DEPTH)
                        files = await store.files_of(session, [row.number for row in rows])
                    self._rounds, self._files, self._loaded_at = rows, files, self._clock()
        return self._rounds, self._files

    def invalidate(self) -> None:
        self._loaded_at = float("-inf")
