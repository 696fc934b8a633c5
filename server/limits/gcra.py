"""Token buckets in Redis, one key per bucket, kept by a Lua script as GCRA's theoretical arrival time (TAT).

Why a script and not the `limits` library: our limits are token buckets (a rate and a burst, callers told how long
to wait, signal batches taken into debt), which GCRA is exactly, in one key and one atomic round trip per call;
`limits` offers fixed and sliding windows (a fixed window lets 2× the rate through at its edges; the moving window
keeps a sorted-set entry per call) and no debt. The script reads Redis's clock, so the replicas' clocks never have
to agree, and each key expires once its bucket is full again.
"""

from __future__ import annotations

import redis.asyncio as aioredis

from mlmp_server.core.buckets import RateLimit, Taken

# The bucket holds burst - (TAT - now) * rate tokens; taking `count` moves TAT on by count / rate.
# ARGV: rate per second, burst, count, mode: `take` (only when the tokens are there), `debt` (anyway), `peek`.
GCRA_SCRIPT = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local rate, burst, count, mode = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local level = burst - (tat - now) * rate
if mode == 'peek' or (mode == 'take' and level < count) then
  return {0, tostring(level)}
end
tat = tat + count / rate
redis.call('SET', KEYS[1], string.format('%.6f', tat), 'PX', math.ceil((tat - now) * 1000) + 1000)
return {1, tostring(level - count)}
"""


class RedisBuckets:
    """The BucketStore of server/core/buckets.py in Redis: every process using the same Redis and prefix shares
    the buckets. Redis errors reach the caller (shared.py falls back on them)."""

    def __init__(self, client: aioredis.Redis, prefix: str) -> None:
        self._client = client
        self._prefix = f"{prefix}bucket:"
        self._script = client.register_script(GCRA_SCRIPT)

    async def _run(self, key: str, limit: RateLimit, count: float, mode: str) -> Taken:
        taken, left = await self._script(keys=[self._prefix + key], args=[limit.per_second, limit.burst, count, mode])
        return Taken(bool(taken), float(left))

    async def level(self, key: str, limit: RateLimit) -> float:
        return (await self._run(key, limit, 0, "peek")).left

    async def take(self, key: str, limit: RateLimit, count: float, *, into_debt: bool = False) -> Taken:
        return await self._run(key, limit, count, "debt" if into_debt else "take")

    async def ping(self) -> None:
        await self._client.ping()

    async def close(self) -> None:
        await self._client.aclose()
