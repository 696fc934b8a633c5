"""Short-lived answers that never stampede: when an answer has expired, the callers that miss at the
same time await one rebuild instead of each running its own (under 32 clients, the catalog's
one-second cache used to rebuild 17-32 times a second)."""

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
    """Answers by key, each kept `ttl` seconds of `clock`; one build in flight per key at a time.

    A build that fails is not kept: its waiters all get its exception, the next caller builds again.
    A caller cancelled while waiting leaves the build running for the others.
    """

    def __init__(self, ttl: float, clock: Clock, max_size: int = 1024) -> None:
        self._answers: cachetools.TTLCache[K, V] = cachetools.TTLCache(max_size, ttl, timer=clock)
        self._flights: dict[K, asyncio.Future[V]] = {}
        self._generation = 0

    async def get(self, key: K, build: Callable[[], Awaitable[V]]) -> V:
        try:
            return self._answers[key]
        except KeyError:
            pass
        flight = self._flights.get(key)
        if flight is None:
            flight = self._flights[key] = asyncio.ensure_future(build())
            flight.add_done_callback(partial(self._landed, key, self._generation))
        return await asyncio.shield(flight)

    def invalidate(self) -> None:
        """Forgets every answer; a build in flight still answers its waiters but is not kept, and the
        next caller starts a new one (it may have read what the invalidation is about)."""
        self._generation += 1
        self._answers.clear()
        self._flights.clear()

    def _landed(self, key: K, generation: int, flight: asyncio.Future[V]) -> None:
        if self._flights.get(key) is flight:
            del self._flights[key]
        if flight.cancelled() or flight.exception() is not None or generation != self._generation:
            return
        self._answers[key] = flight.result()
