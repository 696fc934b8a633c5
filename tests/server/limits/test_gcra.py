"""Token buckets in a real Redis (GCRA script): what two replicas' clients see is one bucket."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
import redis

from mlmp_server.core.buckets import RateLimit
from mlmp_server.limits.gcra import RedisBuckets
from mlmp_server.limits.shared import redis_client
from tests.helpers.redis_server import redis_or_skip, redis_prefix

SLOW = RateLimit(per_second=0.001, burst=5)  # refills 1 token in 1000 s: nothing comes back during a test


@pytest.fixture
def redis_at() -> Iterator[tuple[str, str]]:
    url = redis_or_skip()
    with redis_prefix(url) as prefix:
        yield url, prefix


def run(scenario):
    return asyncio.run(scenario())


def test_a_bucket_allows_its_burst_then_says_how_long_to_wait(redis_at):
    url, prefix = redis_at

    async def scenario():
        buckets = RedisBuckets(redis_client(url), prefix)
        try:
            taken = [await buckets.take("read:v1", SLOW, 1) for _ in range(6)]
            assert [t.taken for t in taken] == [True] * 5 + [False]
            assert taken[-1].left == pytest.approx(0, abs=0.01)
            assert taken[-1].wait(1, SLOW) == pytest.approx(1000, rel=0.02)
            assert (await buckets.take("read:v2", SLOW, 1)).taken  # buckets are per key
        finally:
            await buckets.close()

    run(scenario)


def test_two_clients_share_one_bucket(redis_at):
    """What makes the limit hold across replicas: each replica's client takes from the same bucket."""
    url, prefix = redis_at

    async def scenario():
        replicas = [RedisBuckets(redis_client(url), prefix) for _ in range(3)]
        try:
            taken = [await replicas[i % 3].take("write:v1", SLOW, 1) for i in range(9)]
            assert sum(t.taken for t in taken) == 5
        finally:
            for buckets in replicas:
                await buckets.close()

    run(scenario)


def test_concurrent_takes_never_pass_the_burst(redis_at):
    url, prefix = redis_at

    async def scenario():
        clients = [RedisBuckets(redis_client(url), prefix) for _ in range(4)]
        try:
            limit = RateLimit(per_second=0.001, burst=50)
            results = await asyncio.gather(*(clients[i % 4].take("read:v1", limit, 1) for i in range(200)))
            assert sum(t.taken for t in results) == 50
        finally:
            for buckets in clients:
                await buckets.close()

    run(scenario)


def test_debt_and_peek(redis_at):
    """Signal batches are taken into debt; the writer is told how long the debt takes to clear."""
    url, prefix = redis_at

    async def scenario():
        buckets = RedisBuckets(redis_client(url), prefix)
        limit = RateLimit(per_second=100, burst=50)
        try:
            assert await buckets.level("signals:d1", limit) == pytest.approx(50, abs=0.5)
            taken = await buckets.take("signals:d1", limit, 80, into_debt=True)
            assert taken.taken
            assert taken.left == pytest.approx(-30, abs=0.5)
            assert taken.wait(80, limit) == pytest.approx(0.3, abs=0.01)
            assert await buckets.level("signals:d1", limit) < 0  # peeking takes nothing
            refused = await buckets.take("signals:d1", limit, 1)
            assert not refused.taken
        finally:
            await buckets.close()

    run(scenario)


def test_keys_carry_the_prefix_and_expire_once_full_again(redis_at):
    url, prefix = redis_at

    async def scenario():
        buckets = RedisBuckets(redis_client(url), prefix)
        try:
            await buckets.take("read:v1", RateLimit(per_second=10, burst=20), 5)
        finally:
            await buckets.close()

    run(scenario)
    with redis.Redis.from_url(url) as client:
        keys = list(client.scan_iter(match=f"{prefix}*"))
        assert keys == [f"{prefix}bucket:read:v1".encode()]
        # 5 tokens at 10/s are back within 0.5 s: the key lives about that long (plus a second's margin).
        assert 0 < client.pttl(keys[0]) <= 1500
