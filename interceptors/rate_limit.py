"""Rate limiting: a token bucket per principal and rate class (server/core/buckets.py). Over the
limit: RESOURCE_EXHAUSTED with the delay (see rate_limited).

The limiter sits behind a small interface; its buckets are this process's own, or shared by every replica
through Redis (server/limits/, chosen in server/app.py). Each refusal counts in `mp_rate_limit_rejections`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import grpc

from mlmp_server.core import metrics
from mlmp_server.core.buckets import BucketStore, LocalBuckets, RateLimit, rate_limited
from mlmp_server.core.clock import Clock, system_clock
from mlmp_server.core.contract import MethodRules
from mlmp_server.core.principal import Principal, current_principal


class RateLimiter(Protocol):
    async def acquire(self, key: str, limit: RateLimit) -> float:
        """Takes one token; returns 0 when allowed, else the seconds to wait."""
        ...


class BucketRateLimiter:
    """One token a call, from the buckets of a BucketStore."""

    def __init__(self, buckets: BucketStore) -> None:
        self._buckets = buckets

    async def acquire(self, key: str, limit: RateLimit) -> float:
        taken = await self._buckets.take(key, limit, 1)
        return taken.wait(1, limit)


class InMemoryRateLimiter(BucketRateLimiter):
    """This process's own buckets."""

    def __init__(self, clock: Clock = system_clock, max_keys: int = 100_000) -> None:
        super().__init__(LocalBuckets(clock, max_keys))


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
        if rule is None or not rule.rate_class:
            return
        if principal is None:
            if not rule.public:
                return
            # A public method's callers are anonymous (behind the gateway they all share its address),
            # so they share one bucket: it caps guessing and load, whoever asks.
            key = f"{rule.rate_class}:anonymous"
        elif principal.is_admin:
            return
        else:
            key = limit_key(principal, rule.rate_class)
        wait = await self._limiter.acquire(key, self._limits[rule.rate_class])
        if wait > 0:
            metrics.rate_limit_rejections.labels(rule.rate_class).inc()
            raise rate_limited(rule.rate_class, wait)
