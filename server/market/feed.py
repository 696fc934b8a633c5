"""The in-process notification of new bars: the services that act on each bar (features for deployments,
scoring of signals) subscribe here; whoever stores bars publishes them here once committed.

Created once in server/app.py and handed to what needs it. A subscriber gets every committed batch, in
commit order, each symbol's bars in time order. A subscriber that falls a whole queue behind is ended
(its iteration raises FeedOverrun) rather than fed a stream with silent gaps: it reads what it missed from
the database (market store `list_bars` after the last time it saw) and subscribes again. Bars stored by
other replicas arrive through server/market/relay.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from mlmp_server.market.rules import BarValues

QUEUE_LIMIT = 1_000  # batches a subscriber may fall behind before it is ended


class FeedOverrun(Exception):
    """The subscriber fell QUEUE_LIMIT batches behind and was ended."""


@dataclass(eq=False)
class BarSubscription:
    """One subscriber's queue. Iterate it (`async for batch in subscription`) for each committed batch of
    bars (of the subscribed symbols only, when it names some)."""

    symbols: frozenset[str]
    limit: int = QUEUE_LIMIT
    # None, last in the queue, marks a subscriber ended for falling behind.
    queue: asyncio.Queue[tuple[BarValues, ...] | None] = field(default_factory=asyncio.Queue)

    def wants(self, bar: BarValues) -> bool:
        return not self.symbols or bar.symbol in self.symbols

    async def next_batch(self) -> tuple[BarValues, ...]:
        batch = await self.queue.get()
        if batch is None:
            raise FeedOverrun(f"fell {self.limit} batches of bars behind and was ended; read the rest from the store")
        return batch

    def __aiter__(self) -> AsyncIterator[tuple[BarValues, ...]]:
        return self._batches()

    async def _batches(self) -> AsyncIterator[tuple[BarValues, ...]]:
        while True:
            yield await self.next_batch()


class BarFeed:
    def __init__(self) -> None:
        self._subscriptions: set[BarSubscription] = set()
        self._newest: dict[str, datetime] = {}  # per symbol, the newest bar published here

    @property
    def has_subscribers(self) -> bool:
        return bool(self._subscriptions)

    def subscribe(self, symbols: Iterable[str] = (), *, limit: int = QUEUE_LIMIT) -> BarSubscription:
        """A subscription to bars published from now on; `symbols` empty: every symbol."""
        subscription = BarSubscription(frozenset(symbols), limit)
        self._subscriptions.add(subscription)
        return subscription

    def unsubscribe(self, subscription: BarSubscription) -> None:
        self._subscriptions.discard(subscription)

    def newest(self, symbol: str) -> datetime | None:
        """The time of the newest bar of `symbol` this feed has published (None: none yet)."""
        return self._newest.get(symbol)

    def publish(self, bars: Sequence[BarValues]) -> None:
        """Hands committed bars to every subscriber. Bars at or before the newest one published for their
        symbol are left out: a replica may hear of a batch twice (its own commit, a catch-up read)."""
        fresh = []
        for bar in bars:
            newest = self._newest.get(bar.symbol)
            if newest is None or bar.time > newest:
                fresh.append(bar)
                self._newest[bar.symbol] = bar.time
        if not fresh:
            return
        for subscription in list(self._subscriptions):
            batch = tuple(bar for bar in fresh if subscription.wants(bar))
            if not batch:
                continue
            if subscription.queue.qsize() >= subscription.limit:
                self._subscriptions.discard(subscription)
                subscription.queue.put_nowait(None)
                continue
            subscription.queue.put_nowait(batch)
