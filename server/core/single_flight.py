"""Short-lived answers that never stampede: when an answer has expired, the callers that miss at the
same time await one rebuild instead of each running its own (under 32 clients, the catalog's
one-second cache used to rebuild 17-32 times a second).

With `stale_for`, callers need not wait for that rebuild at all: for that long past its expiry, an
answer is still served while its rebuild runs (under 32 clients, every caller waiting on the
catalog's rebuild, 13-21 ms once a second, was the REST p99). Only an answer that no rebuild has
replaced in time, a first fill, or one after `invalidate()` is waited for.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from functools import partial
from typing import Generic, TypeVar

import cachetools

from mlmp_server.core.clock import Clock

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class SingleFlightCache(Generic[K, V]):
    """Answers by key, each fresh `ttl` seconds of `clock`; one build in flight per key at a time.
    `stale_for` seconds past that, an answer is still given (without waiting) while its rebuild runs.

    A build that fails is not kept: its waiters all get its exception, the next caller builds again
    (callers served a stale answer meanwhile are not told). A caller cancelled while waiting leaves the
    build running for the others.
    """

    def __init__(self, ttl: float, clock: Clock, max_size: int = 1024, *, stale_for: float = 0.0) -> None:
        self._ttl = ttl
        self._stale_for = stale_for
        self._clock = clock
        # Each answer with the time it stops being fresh; gone (expired) once stale_for is over too.
        self._answers: cachetools.TTLCache[K, tuple[V, float]] = cachetools.TTLCache(
            max_size, ttl + stale_for, timer=clock
        )
        self._flights: dict[K, asyncio.Future[V]] = {}
        self._generation = 0

    async def get(self, key: K, build: Callable[[], Awaitable[V]]) -> V:
        kept = self._answers.get(key)
        now = self._clock()
        if kept is not None and now < kept[1]:
            return kept[0]
        if kept is not None and now >= kept[1] + self._stale_for:
            kept = None
        flight = self._flights.get(key)
        if flight is None:
            flight = self._flights[key] = asyncio.ensure_future(build())
            flight.add_done_callback(partial(self._landed, key, self._generation))
        if kept is not None:
            return kept[0]  # stale, but within stale_for: its rebuild is under way
        return await asyncio.shield(flight)

    def invalidate(self) -> None:
        """Forgets every answer, stale ones too; a build in flight still answers its waiters but is not
        kept, and the next caller starts a new one (it may have read what the invalidation is about)."""
        self._generation += 1
        self._answers.clear()
        self._flights.clear()

    def _landed(self, key: K, generation: int, flight: asyncio.Future[V]) -> None:
        if self._flights.get(key) is flight:
            del self._flights[key]
        if flight.cancelled() or flight.exception() is not None or generation != self._generation:
            return
        self._answers[key] = (flight.result(), self._clock() + self._ttl)
