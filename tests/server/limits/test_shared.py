"""Shared buckets fall back to this process's own when Redis does not answer, say so once, and share again
once it answers."""

from __future__ import annotations

import asyncio
import logging
import socket

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from mlmp_server.core import metrics
from mlmp_server.core.buckets import RateLimit, Taken
from mlmp_server.core.clock import ManualClock
from mlmp_server.limits.gcra import RedisBuckets
from mlmp_server.limits.shared import SharedBuckets, redis_client, shown_url
from tests.helpers.redis_server import redis_or_skip, redis_prefix

LIMIT = RateLimit(per_second=0.001, burst=3)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # nothing listens there once the probe is closed


def shared_gauge() -> float:
    return metrics.rate_limiter_shared._value.get()


class Switchable:
    """Real Redis buckets that can be made to fail like an unreachable Redis."""

    def __init__(self, inner: RedisBuckets) -> None:
        self.inner = inner
        self.down = False

    def _check(self) -> None:
        if self.down:
            raise RedisConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    async def take(self, key: str, limit: RateLimit, count: float, *, into_debt: bool = False) -> Taken:
        self._check()
        return await self.inner.take(key, limit, count, into_debt=into_debt)

    async def level(self, key: str, limit: RateLimit) -> float:
        self._check()
        return await self.inner.level(key, limit)

    async def ping(self) -> None:
        self._check()
        await self.inner.ping()

    async def close(self) -> None:
        await self.inner.close()


def test_an_unreachable_redis_limits_per_process_and_says_so_once(caplog):
    url = f"redis://:hunter2hunter2@127.0.0.1:{closed_port()}/0"

    async def scenario():
        buckets = SharedBuckets(RedisBuckets(redis_client(url), "mp:"), where=shown_url(url), clock=ManualClock())
        try:
            assert not await buckets.ping()
            taken = [await buckets.take("read:v1", LIMIT, 1) for _ in range(5)]
            assert [t.taken for t in taken] == [True] * 3 + [False] * 2  # still limited, by this process
            assert not buckets.is_shared
            assert not buckets.answered
        finally:
            await buckets.close()

    with caplog.at_level(logging.WARNING, logger="mp.limits"):
        asyncio.run(scenario())
    said = [r.getMessage() for r in caplog.records if r.name == "mp.limits"]
    assert len(said) == 1, said
    assert "does not answer" in said[0]
    assert "per replica" in said[0]
    assert "hunter2" not in said[0]  # the Redis password stays out of the log
    assert shared_gauge() == 0


def test_limits_are_shared_again_when_redis_answers_again(caplog):
    url = redis_or_skip()
    clock = ManualClock()

    async def scenario(prefix: str):
        switch = Switchable(RedisBuckets(redis_client(url), prefix))
        buckets = SharedBuckets(switch, where=url, clock=clock, retry_every=1.0)  # type: ignore[arg-type]
        other_replica = RedisBuckets(redis_client(url), prefix)
        try:
            assert await buckets.ping()
            assert shared_gauge() == 1
            assert (await buckets.take("read:v1", LIMIT, 1)).taken  # 1 of 3 taken in Redis
            switch.down = True
            assert (await buckets.take("read:v1", LIMIT, 1)).taken  # the local bucket: full, 3 left
            assert shared_gauge() == 0
            switch.down = False
            # Within retry_every, the local buckets answer without asking Redis.
            for _ in range(2):
                assert (await buckets.take("read:v1", LIMIT, 1)).taken
            assert not (await buckets.take("read:v1", LIMIT, 1)).taken
            clock.advance(1.0)
            assert (await buckets.take("read:v1", LIMIT, 1)).taken  # Redis again: its bucket had 2 left
            assert buckets.is_shared
            assert shared_gauge() == 1
            assert (await other_replica.take("read:v1", LIMIT, 1)).taken  # the last one, seen by another client
            assert not (await buckets.take("read:v1", LIMIT, 1)).taken
        finally:
            await buckets.close()
            await other_replica.close()

    with redis_prefix(url) as prefix, caplog.at_level(logging.WARNING, logger="mp.limits"):
        asyncio.run(scenario(prefix))
    said = [r.getMessage() for r in caplog.records if r.name == "mp.limits"]
    assert len(said) == 2, said
    assert "does not answer" in said[0]
    assert "answers again" in said[1]


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:secret@cache:6379/0", "redis://:***@cache:6379/0"),
        ("redis://user:secret@cache/1", "redis://user:***@cache/1"),
        ("redis://cache:6379", "redis://cache:6379"),
    ],
)
def test_the_log_never_shows_the_redis_password(url: str, shown: str):
    assert shown_url(url) == shown
