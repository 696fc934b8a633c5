"""Token buckets per principal and rate class. Over the limit: RESOURCE_EXHAUSTED with the delay,
as `retry-after-ms` trailing metadata and a google.rpc.RetryInfo detail.

The limiter sits behind a small interface so a shared store (Redis) can replace the in-memory one
when several replicas must share limits.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Protocol

import cachetools
import grpc
from google.protobuf import duration_pb2
from google.rpc import error_details_pb2

from server.core.clock import Clock, system_clock
from server.core.contract import MethodRules
from server.core.errors import ResourceExhausted
from server.core.principal import Principal, current_principal
from server.settings import RateLimit


class RateLimiter(Protocol):
    async def acquire(self, key: str, limit: RateLimit) -> float:
        """Takes one token; returns 0 when allowed, else the seconds to wait."""
        ...


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


class InMemoryRateLimiter:
    def __init__(self, clock: Clock = system_clock, max_keys: int = 100_000) -> None:
        self._buckets = TokenBuckets(clock, max_keys)

    async def acquire(self, key: str, limit: RateLimit) -> float:
        level = self._buckets.level(key, limit)
        if level >= 1:
            self._buckets.take(key, limit, 1)
            return 0.0
        return (1 - level) / limit.per_second


def limit_key(principal: Principal, rate_class: str) -> str:
    owner = principal.deployment_id or principal.run_id or principal.vendor_id or principal.token_id
    return f"{rate_class}:{owner}"


class RateLimitCheck:
    def __init__(self, rules: MethodRules, limiter: RateLimiter, limits: Mapping[str, RateLimit]) -> None:
        self._rules = rules
        self._limiter = limiter
        self._limits = limits

    async def __call__(self, method: str, context: grpc.aio.ServicerContext) -> None:
        rule = self._rules.get(method)
        principal = current_principal()
        if rule is None or not rule.rate_class or principal is None or principal.is_admin:
            return
        wait = await self._limiter.acquire(limit_key(principal, rule.rate_class), self._limits[rule.rate_class])
        if wait > 0:
            raise rate_limited(rule.rate_class, wait)


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
