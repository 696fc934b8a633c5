"""Token buckets, the one rate-limit mechanism: the limit a bucket keeps, the buckets themselves
(refilled from the clock), and the RESOURCE_EXHAUSTED a caller over its limit gets, with the delay
as `retry-after-ms` trailing metadata and a google.rpc.RetryInfo detail.

The rate-limit interceptor, signal ingest and the signal servicer all use them."""

from __future__ import annotations

import math
from dataclasses import dataclass

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
