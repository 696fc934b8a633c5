"""The market feed across replicas (PostgreSQL): bars published to one replica reach the feed's subscribers of
another, and only one replica replays the demo market."""

from __future__ import annotations

import asyncio
import time

import grpc
import pytest

from mlmp_marketplace.v1 import market_pb2_grpc
from mlmp_server.db.engine import create_engine
from mlmp_server.market.demo import leadership
from tests.helpers.auth import bearer
from tests.helpers.bars import daily, stream
from tests.helpers.server_thread import ServerThread

pytestmark = pytest.mark.postgres


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_bars_published_to_one_replica_reach_the_subscribers_of_another(settings):
    first, second = ServerThread(settings).start(), ServerThread(settings).start()
    try:
        feed = second.listening.feed
        _listening(second, "mp_market")
        subscription = second.run_in_loop(lambda: _subscribe(feed))
        with grpc.insecure_channel(first.grpc_target) as channel:
            market = market_pb2_grpc.MarketServiceStub(channel)
            market.PublishBars(stream(daily("AAA", range(0, 2)), daily("AAA", range(2, 3)) + daily("BBB", range(0, 1))),
                               metadata=bearer(first.admin_token))  # fmt: skip
        seen: list[tuple[str, float]] = []
        deadline = time.monotonic() + 10
        while len(seen) < 4 and time.monotonic() < deadline:
            batch = second.run_in_loop(lambda: asyncio.wait_for(subscription.next_batch(), 10), timeout=11)
            seen.extend((bar.symbol, bar.close) for bar in batch)
        assert seen == [("AAA", 100), ("AAA", 101), ("AAA", 102), ("BBB", 100)]
    finally:
        first.stop()
        second.stop()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_one_replica_at_a_time_leads_the_demo_replay(database_url):
    async def run() -> None:
        one, two = create_engine(database_url), create_engine(database_url)
        try:
            async with leadership(one):
                with pytest.raises(TimeoutError):  # the second waits while the first holds the lock
                    await asyncio.wait_for(_lead(two), 0.5)
            await asyncio.wait_for(_lead(two), 15)  # released: the second takes it over
        finally:
            await one.dispose()
            await two.dispose()

    asyncio.run(run())


def _listening(server: ServerThread, channel: str) -> None:
    """Waits until the replica LISTENs on `channel`: the relay asks for it after the bus started, and the bus
    takes up channels asked for later within a poll (0.25 s)."""
    bus = server.listening.resources.notifications
    deadline = time.monotonic() + 10
    while channel not in bus._listening:  # type: ignore[attr-defined]
        assert time.monotonic() < deadline, f"the replica does not listen on {channel}"
        time.sleep(0.05)


async def _lead(engine) -> None:
    async with leadership(engine):
        pass


async def _subscribe(feed):
    return feed.subscribe()
