"""Buckets shared through Redis while it answers, this process's own while it does not.

A rate limit must never take the service down with it: when Redis fails, each replica goes on limiting on its
own (N replicas then let up to N× the rate through), says so once in its log and in `mp_rate_limiter_shared`,
tries Redis again every `retry_every` seconds, and says so again once Redis is back.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from typing import TypeVar

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from mlmp_server.core import metrics
from mlmp_server.core.buckets import BucketStore, LocalBuckets, RateLimit, Taken
from mlmp_server.core.clock import Clock, system_clock
from mlmp_server.limits.gcra import RedisBuckets

log = logging.getLogger("mp.limits")
T = TypeVar("T")

# A limiter call waits at most about this long for Redis before this process decides alone: a rate limit
# that hangs would stall every call behind it. Not much less: on a busy host a reply can wait that long for
# the event loop, and every false alarm lets a second of calls through on per-replica limits.
REDIS_TIMEOUT = 1.0


def shown_url(url: str) -> str:
    """The URL without its password, for the log."""
    return re.sub(r"://([^:/@]*):[^@/]*@", r"://\1:***@", url)


def redis_client(url: str) -> aioredis.Redis:
    """A client that fails fast (short timeouts, no retries): the fall-back is the retry."""
    return aioredis.Redis.from_url(
        url,
        socket_timeout=REDIS_TIMEOUT,
        socket_connect_timeout=REDIS_TIMEOUT,
        retry=Retry(NoBackoff(), 0),
        health_check_interval=0,
    )


class SharedBuckets:
    def __init__(
        self,
        shared: RedisBuckets,
        *,
        where: str,
        clock: Clock = system_clock,
        retry_every: float = 1.0,
        local: BucketStore | None = None,
    ) -> None:
        self._shared = shared
        self._local = local or LocalBuckets(clock)
        self._where = where
        self._clock = clock
        self._retry_every = retry_every
        self._retry_at = 0.0
        self.is_shared = True
        self.answered = False  # Redis has answered since this process started
        metrics.rate_limiter_shared.set(1)

    async def ping(self) -> bool:
        """Asks Redis now (whatever the retry schedule); True when it answers. Start-up and /readyz ask."""
        try:
            async with asyncio.timeout(REDIS_TIMEOUT * 2):
                await self._shared.ping()
        except (RedisError, OSError, TimeoutError) as error:
            self._lost(error)
            return False
        self._back()
        return True

    async def close(self) -> None:
        await self._shared.close()

    async def level(self, key: str, limit: RateLimit) -> float:
        return await self._call(lambda store: store.level(key, limit))

    async def take(self, key: str, limit: RateLimit, count: float, *, into_debt: bool = False) -> Taken:
        return await self._call(lambda store: store.take(key, limit, count, into_debt=into_debt))

    async def _call(self, operation: Callable[[BucketStore], Awaitable[T]]) -> T:
        if not self.is_shared and self._clock() < self._retry_at:
            return await operation(self._local)
        try:
            async with asyncio.timeout(REDIS_TIMEOUT * 2):
                answer = await operation(self._shared)
        except (RedisError, OSError, TimeoutError) as error:
            self._lost(error)
            return await operation(self._local)
        self._back()
        return answer

    def _back(self) -> None:
        self.answered = True
        if not self.is_shared:
            self.is_shared = True
            metrics.rate_limiter_shared.set(1)
            log.warning("Redis at %s answers again: rate limits are shared across replicas again", self._where)

    def _lost(self, error: BaseException) -> None:
        self._retry_at = self._clock() + self._retry_every
        if self.is_shared:
            self.is_shared = False
            metrics.rate_limiter_shared.set(0)
            log.error(
                "Redis at %s does not answer (%s: %s): rate limits are per replica until it does",
                self._where, type(error).__name__, error,
            )  # fmt: skip
