"""What sharing rate limits costs a call: `python -m bench.rate_limits` prints the time of one limiter decision
(BucketRateLimiter.acquire, as the interceptor makes it) over this process's buckets and over Redis (the GCRA
script, one round trip), one caller at a time and 50 at once, with their ratio. Needs a Redis
(MP_TEST_REDIS_URL or 127.0.0.1:6379); the keys it writes are deleted.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid

from bench.quick import sized
from mlmp_interceptors.rate_limit import BucketRateLimiter
from mlmp_server.core.buckets import BucketStore, LocalBuckets, RateLimit
from mlmp_server.limits.gcra import RedisBuckets
from mlmp_server.limits.shared import SharedBuckets, redis_client
from tests.helpers.redis_server import RedisUnavailable, delete_prefixed, redis_url

LIMIT = RateLimit(per_second=1e9, burst=1e9)  # never refuses: the cost of deciding, not of waiting
KEYS = 200  # vendors


async def per_call(buckets: BucketStore, calls: int, concurrency: int) -> float:
    """Microseconds per decision, best of three runs."""
    limiter = BucketRateLimiter(buckets)

    async def caller(offset: int) -> None:
        for n in range(calls // concurrency):
            await limiter.acquire(f"read:v{(offset + n) % KEYS}", LIMIT)

    best = []
    for _ in range(3):
        start = time.perf_counter()
        await asyncio.gather(*(caller(i) for i in range(concurrency)))
        best.append((time.perf_counter() - start) / calls * 1e6)
    return statistics.median(best)


async def main() -> None:
    try:
        url = redis_url()
    except RedisUnavailable as error:
        print(f"rate limits: skipped ({error})")
        return
    prefix = f"mp-bench-{uuid.uuid4().hex[:8]}:"
    shared = SharedBuckets(RedisBuckets(redis_client(url), prefix), where=url)
    calls = sized(20_000, 2_000)
    try:
        for concurrency in (1, 50):
            local = await per_call(LocalBuckets(), calls, concurrency)
            redis = await per_call(shared, calls, concurrency)
            print(
                f"limiter decision, {concurrency:>2} caller(s): local {local:7.1f} µs, Redis {redis:7.1f} µs "
                f"({redis / local:.0f}x)"
            )
    finally:
        await shared.close()
        delete_prefixed(url, prefix)


if __name__ == "__main__":
    asyncio.run(main())
