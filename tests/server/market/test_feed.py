"""The in-process feed of new bars: each subscriber gets each batch once, filtered by symbol; a bar heard of
twice (a replica's own commit and a catch-up read) is handed on once; a subscriber a whole queue behind is ended
with FeedOverrun instead of missing bars silently."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from mlmp_server.market.feed import BarFeed, FeedOverrun
from mlmp_server.market.rules import BarValues

T0 = datetime(2026, 1, 5, tzinfo=UTC)


def bars(symbol: str, days: range) -> list[BarValues]:
    return [BarValues(symbol, T0 + timedelta(days=d), 100, 101, 99, 100, 1) for d in days]


def test_each_subscriber_gets_its_symbols_once_and_a_slow_one_is_ended():
    async def run() -> None:
        feed = BarFeed()
        everything, only_b, slow = feed.subscribe(), feed.subscribe(["BBB"]), feed.subscribe(limit=2)
        feed.publish(bars("AAA", range(0, 2)) + bars("BBB", range(0, 1)))
        feed.publish(bars("AAA", range(0, 3)))  # two already handed on: only the third is new
        feed.publish(bars("BBB", range(0, 1)))  # nothing new: nobody hears of it
        assert [len(await everything.next_batch()) for _ in range(2)] == [3, 1]
        assert everything.queue.empty()
        assert [b.symbol for b in await only_b.next_batch()] == ["BBB"]
        assert only_b.queue.empty()
        assert feed.newest("AAA") == T0 + timedelta(days=2)
        feed.publish(bars("CCC", range(0, 1)))  # the slow one's third batch while it read none
        assert slow.queue.qsize() == 3  # its two batches, then the end mark
        await slow.next_batch()
        await slow.next_batch()
        with pytest.raises(FeedOverrun):
            await slow.next_batch()
        assert [b.symbol for b in await everything.next_batch()] == ["CCC"]
        feed.unsubscribe(everything)
        feed.publish(bars("CCC", range(1, 2)))
        assert everything.queue.empty()

    asyncio.run(run())
