"""Token buckets, the one rate-limit mechanism: the limit a bucket keeps, the buckets themselves
(refilled from the clock), and the RESOURCE_EXHAUSTED a caller over its limit gets, with the delay
as `retry-after-ms` trailing metadata and a google.rpc.RetryInfo detail.

The rate-limit interceptor, signal ingest and the signal servicer all use them, through a BucketStore: this
process's own buckets (LocalBuckets), or buckets every replica shares (server/limits/, over Redis)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import cachetools
from google.protobuf import duration_pb2
from google.rpc import error_details_pb2

from mlmp_server.core.clock import Clock, system_clock
from mlmp_server.core.errors import ResourceExhausted


@dataclass(frozen=True)
class RateLimit:
    per_second: float
    burst: float


class TokenBuckets:
    """Token buckets by key, refilled from the clock. A bucket may go below zero (debt) when a
    caller takes more than it holds; it refills from there. Idle buckets are forgotten after an
    hour, by which time any bucket is full again."""

    def __init__(self, clock: Clock = system_clock, max_keys: int = 100_000) -> None:
        self._clock = clock
        self._buckets: cachetools.TTLCache[str, tuple[float, float]] = cachetools.TTLCache(
            max_keys, ttl=3600, timer=clock
        )

    def level(self, key: str, limit: RateLimit) -> float:
        tokens, updated = self._buckets.get(key, (limit.burst, self._clock()))
        return min(limit.burst, tokens + (self._clock() - updated) * limit.per_second)

    def take(self, key: str, limit: RateLimit, count: float) -> float:
        """Takes `count` tokens (into debt if need be); returns what is left."""
        left = self.level(key, limit) - count
        self._buckets[key] = (left, self._clock())
        return left


@dataclass(frozen=True)
class Taken:
    taken: bool
    """The tokens were taken (always, into debt if need be, when asked so)."""
    left: float
    """The bucket's level after the take; when nothing was taken, as it is."""

    def wait(self, count: float, limit: RateLimit) -> float:
        """Seconds until `count` tokens would have been there (0 when they were)."""
        missing = count - self.left if not self.taken else -self.left
        return max(0.0, missing / limit.per_second)


class BucketStore(Protocol):
    """Where the buckets live. Keys name the rate class and its owner (`read:vendor-id`)."""

    async def level(self, key: str, limit: RateLimit) -> float:
        """The tokens in the bucket now (negative: debt), taking none."""
        ...

    async def take(self, key: str, limit: RateLimit, count: float, *, into_debt: bool = False) -> Taken:
        """Takes `count` tokens when the bucket holds them; with `into_debt`, takes them anyway."""
        ...


class LocalBuckets:
    """TokenBuckets behind the BucketStore interface: this process's own limits."""

    def __init__(self, clock: Clock = system_clock, max_keys: int = 100_000) -> None:
        self._buckets = TokenBuckets(clock, max_keys)

    async def level(self, key: str, limit: RateLimit) -> float:
        return self._buckets.level(key, limit)

    async def take(self, key: str, limit: RateLimit, count: float, *, into_debt: bool = False) -> Taken:
        level = self._buckets.level(key, limit)
        if level < count and not into_debt:
            return Taken(False, level)
        return Taken(True, self._buckets.take(key, limit, count))


def rate_limited(rate_class: str, wait: float) -> ResourceExhausted:
    millis = max(1, math.ceil(wait * 1000))
    retry = error_details_pb2.RetryInfo(
        retry_delay=duration_pb2.Duration(seconds=millis // 1000, nanos=(millis % 1000) * 1_000_000)
    )
    return ResourceExhausted(
        f"rate limit for {rate_class.replace('_', ' ')} calls reached; retry in {millis / 1000:.3f}s",
        details=[retry],
        trailing_metadata=[("retry-after-ms", str(millis))],
    )
