"""The feature feed inside a real server's process, on SQLite and PostgreSQL: a worker started after bars were
stored starts from them, and a subscriber that falls LIMIT batches behind is ended rather than slowing the feed."""

from __future__ import annotations

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
