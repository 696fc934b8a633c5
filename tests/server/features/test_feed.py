"""The feature feed inside a real server's process, on SQLite and PostgreSQL: a worker started after bars were
stored starts from them, and a subscriber that falls LIMIT batches behind is ended rather than slowing the feed."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from mlmp_marketplace.v1 import datasets_pb2_grpc, market_pb2, market_pb2_grpc
from mlmp_server.core.errors import ResourceExhausted
from mlmp_server.features.feed import LIMIT, FeatureFeed
from mlmp_server.features.worker import Bar
from tests.helpers.rounds import publish_request

START = datetime(2026, 3, 2, tzinfo=UTC)


def bar(day: int) -> Bar:
    close = 100 + day + (day % 3)
    return Bar("AAA", START + timedelta(days=day), close, close + 1, close - 1, close, 1000 + day)


def proto(bar: Bar) -> market_pb2.Bar:
    message = market_pb2.Bar(symbol=bar.symbol, open=bar.open, high=bar.high, low=bar.low, close=bar.close,
                             volume=bar.volume)  # fmt: skip
    message.time.FromDatetime(bar.time)
    return message


@pytest.fixture
def open_round(server, channel, admin):
    datasets_pb2_grpc.DatasetServiceStub(channel).PublishRound(
        publish_request({"train": b"x"}, symbols=["AAA"]), metadata=admin
    )
    return server


def test_a_feed_started_after_bars_were_stored_starts_from_them(open_round, channel, admin):
    market_pb2_grpc.MarketServiceStub(channel).PublishBars(
        iter([market_pb2.PublishBarsRequest(bars=[proto(bar(day)) for day in range(25)])]), metadata=admin
    )
    resources = open_round.listening.resources

    async def scenario():
        feed = FeatureFeed(resources.sessions, resources.clock)
        try:
            subscription = await feed.subscribe()
            return subscription.start
        finally:
            await feed.close()

    (first,) = open_round.run_in_loop(scenario, timeout=60)
    assert (first.row.symbol, first.row.time, first.latest, first.round.number) == ("AAA", bar(24).time, True, 1)


def test_a_subscriber_limit_batches_behind_is_ended_and_the_feed_goes_on(open_round):
    resources = open_round.listening.resources

    async def scenario():
        feed = FeatureFeed(resources.sessions, resources.clock)
        try:
            slow, other = await feed.subscribe(), await feed.subscribe()
            await feed.add_bars([bar(day) for day in range(20)])  # the warm-up: no rows
            for day in range(20, 21 + LIMIT):
                await feed.add_bars([bar(day)])
                await other.queue.get()  # this one keeps up
            read = []

            async def read_all() -> None:
                async for item in slow.rows():
                    read.append(item)

            with pytest.raises(ResourceExhausted, match="fell 256 bars behind"):
                await read_all()
            return len(read), feed.subscribers
        finally:
            await feed.close()

    read, subscribers = open_round.run_in_loop(scenario, timeout=120)
    assert read == LIMIT  # every batch it had queued, then the end
    assert subscribers == 1  # the one that kept up


class DroppingSource:
    """A bar feed whose first subscription ends at once, as the market's feed ends a subscriber that fell behind
    (FeedOverrun); the next subscription hands `later`."""

    def __init__(self, later: list[Bar]) -> None:
        self.later, self.subscriptions = later, 0

    def subscribe(self):
        self.subscriptions += 1
        return self._dropped() if self.subscriptions == 1 else self._later()

    async def _dropped(self):
        raise RuntimeError("fell 1000 batches of bars behind and was ended")
        yield  # an async generator

    async def _later(self):
        yield self.later
        await asyncio.Event().wait()

    def unsubscribe(self, subscription) -> None:
        pass


def test_a_feed_that_missed_bars_reads_its_windows_again_from_the_store(open_round, channel, admin):
    """The feed starts from bars 0–29; bars 30 and 31 are stored, but its subscription to the bar feed is ended
    before it sees 30: bar 31's row is still the one the full history gives, bar 30 read back from the store."""
    market = market_pb2_grpc.MarketServiceStub(channel)

    def store(days: range) -> None:
        market.PublishBars(iter([market_pb2.PublishBarsRequest(bars=[proto(bar(day)) for day in days])]),
                           metadata=admin)  # fmt: skip

    store(range(30))
    resources = open_round.listening.resources

    async def scenario():
        feed = FeatureFeed(resources.sessions, resources.clock)
        reference = FeatureFeed(resources.sessions, resources.clock)
        try:
            rows = (await feed.subscribe()).rows()
            started = await anext(rows)  # bar 29's row, from the store
            await asyncio.to_thread(store, range(30, 32))
            feed.follow(DroppingSource([bar(31)]))
            after = await asyncio.wait_for(anext(rows), 30)
            expected = (await reference.subscribe()).start[0].row  # from all 32 stored bars
            return started.row, after.row, expected, feed.worker.starts
        finally:
            await feed.close()
            await reference.close()

    started, after, expected, starts = open_round.run_in_loop(scenario, timeout=60)
    assert started.time == bar(29).time
    assert after.time == expected.time == bar(31).time
    assert starts == 2  # the worker that missed bars was dropped, and a new one read the store
    assert after.values == pytest.approx(expected.values, rel=1e-12)
