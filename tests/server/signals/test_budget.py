"""The signal budget per deployment, over this process's buckets or Redis's: two replicas' budgets are one."""

from __future__ import annotations

import asyncio

import pytest

from mlmp_server.core import metrics
from mlmp_server.core.buckets import RateLimit
from mlmp_server.core.clock import ManualClock
from mlmp_server.limits.gcra import RedisBuckets
from mlmp_server.limits.shared import redis_client
from mlmp_server.signals.ingest import SignalBudget
from tests.helpers.redis_server import redis_or_skip, redis_prefix

LIMIT = RateLimit(per_second=100, burst=50)


def rejections() -> float:
    return metrics.rate_limit_rejections.labels("signal")._value.get()


def test_a_batch_is_taken_into_debt_and_the_next_waits_for_it():
    clock = ManualClock()
    budget = SignalBudget(LIMIT, clock)

    async def scenario():
        assert await budget.wait_for("d1", 80) == 0  # more than the burst fits once the bucket is full
        assert await budget.take("d1", 80) == pytest.approx(0.3)  # 30 in debt at 100/s
        before = rejections()
        assert await budget.wait_for("d1", 10) == pytest.approx(0.4)
        assert rejections() == before + 1
        clock.advance(0.4)
        assert await budget.wait_for("d1", 10) == 0

    asyncio.run(scenario())


def test_two_replicas_budgets_are_one_through_redis():
    url = redis_or_skip()

    async def scenario(prefix: str):
        clients = [RedisBuckets(redis_client(url), prefix) for _ in range(2)]
        first, second = (SignalBudget(LIMIT, ManualClock(), buckets) for buckets in clients)
        try:
            assert await first.take("d1", 80) == pytest.approx(0.3, abs=0.02)
            assert await second.wait_for("d1", 10) == pytest.approx(0.4, abs=0.02)  # the other replica's debt
            assert await second.wait_for("d2", 10) == 0  # per deployment
        finally:
            for buckets in clients:
                await buckets.close()

    with redis_prefix(url) as prefix:
        asyncio.run(scenario(prefix))
