"""The feature feed: each committed batch of bars becomes feature rows (the feature worker), stamped with the open
round and handed to every StreamFeatures subscriber; a new subscriber starts with the latest row of each symbol.

One per process, created in server/app.py. The worker starts with the first bar or the first subscriber, so a
server with no feed never starts a process with pandas in it. A subscriber that falls LIMIT batches behind is
ended (it reconnects and starts again from the latest rows), so one slow model never holds the others back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mlmp_server.core.clock import Clock, to_datetime
from mlmp_server.core.errors import ResourceExhausted
from mlmp_server.features.history import recent_bars
from mlmp_server.features.rounds import OpenRound, open_round
from mlmp_server.features.worker import Bar, FeatureRow, FeatureWorker, FeatureWorkerError

log = logging.getLogger("mp.features")
LIMIT = 256  # batches a subscriber may fall behind


class BarSource(Protocol):
    """The market's in-process feed of committed bars (server/market/feed.py)."""

    def subscribe(self) -> AsyncIterable[Sequence[Any]]: ...

    def unsubscribe(self, subscription: Any) -> None: ...


@dataclass(frozen=True)
class RoundRow:
    """A feature row as a subscriber gets it: for one round, its features in the round's column order."""

    round: OpenRound
    row: FeatureRow
    latest: bool  # one of the rows a stream starts with

    @property
    def features(self) -> list[tuple[str, float]]:
        return [(name, self.row.values[name]) for name in self.round.feature_names(list(self.row.values))]


@dataclass(eq=False)
class FeatureSubscription:
    symbols: frozenset[str]
    start: list[RoundRow] = field(default_factory=list)
    # A batch of rows per batch of bars; None, last in the queue, marks a subscriber ended for falling behind.
    queue: asyncio.Queue[list[RoundRow] | None] = field(default_factory=asyncio.Queue)

    def wants(self, item: RoundRow) -> bool:
        return not self.symbols or item.row.symbol in self.symbols

    async def rows(self) -> AsyncIterator[RoundRow]:
        """The latest rows, then each new bar's, never the same (round, symbol, bar) twice: a bar that arrived
        while the latest rows were gathered may be among them and in the queue."""
        sent: dict[tuple[int, str], datetime] = {}
        for item in self.start:
            sent[(item.round.number, item.row.symbol)] = item.row.time
            yield item
        while True:
            batch = await self.queue.get()
            if batch is None:
                raise ResourceExhausted(
                    f"this subscriber fell {LIMIT} bars behind the feature stream; subscribe again for the latest"
                )
            for item in batch:
                key = (item.round.number, item.row.symbol)
                if key in sent and sent[key] >= item.row.time:
                    continue
                sent[key] = item.row.time
                yield item


class FeatureFeed:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        *,
        worker: FeatureWorker | None = None,
        live_source: Callable[[str], str | None] = lambda _key: None,
    ) -> None:
        """`live_source`: where the worker reads a blob (a path or URL). The worker starts from the last stored
        bars of each symbol, so features do not wait for a warm-up after a restart."""
        self._sessions, self._clock = sessions, clock
        self.worker = worker or FeatureWorker()
        self._live_source = live_source
        self._subscriptions: set[FeatureSubscription] = set()
        self._latest: dict[str, FeatureRow] = {}  # per symbol, from the newest bar
        self._live: dict[int, list[FeatureRow]] = {}  # per round, the newest rows of its live file
        self._started = asyncio.Lock()
        self._running = False
        self._task: asyncio.Task[None] | None = None

    def follow(self, bars: BarSource) -> None:
        """Consumes the committed batches of bars of `bars` (the market's BarFeed) from now on."""
        self._task = asyncio.create_task(self._follow(bars), name="feature-feed")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.worker.close()

    async def _follow(self, bars: BarSource) -> None:
        while True:
            subscription = bars.subscribe()
            try:
                async for batch in subscription:
                    try:
                        await self.add_bars([_bar(value) for value in batch])
                    except FeatureWorkerError:
                        log.exception("features of %d bars could not be computed", len(batch))
            except Exception:  # the feed ended this subscriber (it fell behind): start again from the store
                log.warning("the feature feed missed bars; its windows are read again from the store", exc_info=True)
                async with self._started:
                    await self.worker.forget()
                    self._running = False
            finally:
                bars.unsubscribe(subscription)

    async def _ensure_worker(self) -> None:
        async with self._started:
            if self._running:
                return
            await self.worker.start()
            self._running = True
            async with self._sessions() as session:
                kept = await recent_bars(session, self.worker.window)
            for row in await self.worker.add_bars(kept):
                self._latest[row.symbol] = row

    async def add_bars(self, bars: Sequence[Bar]) -> None:
        """The rows of a committed batch, to every subscriber."""
        await self._ensure_worker()
        rows = await self.worker.add_bars(bars)
        for row in rows:
            self._latest[row.symbol] = row
        if not rows or not self._subscriptions:
            return
        current = await self._open_round()
        if current is None:
            return
        items = [RoundRow(current, row, False) for row in rows if _in_round(current, row.symbol)]
        for subscription in list(self._subscriptions):
            wanted = [item for item in items if subscription.wants(item)]
            if not wanted:
                continue
            if subscription.queue.qsize() >= LIMIT:
                self.unsubscribe(subscription)
                subscription.queue.put_nowait(None)
            else:
                subscription.queue.put_nowait(wanted)

    async def subscribe(self, symbols: Iterable[str] = ()) -> FeatureSubscription:
        """A subscription holding the latest row of each (wanted) symbol of the open round, then every new one."""
        subscription = FeatureSubscription(frozenset(symbols))
        self._subscriptions.add(subscription)  # first: a batch that arrives meanwhile is queued, not lost
        await self._ensure_worker()
        current = await self._open_round()
        if current is not None:
            start = [RoundRow(current, row, True) for row in await self._latest_rows(current)]
            subscription.start = [item for item in start if subscription.wants(item)]
        return subscription

    def unsubscribe(self, subscription: FeatureSubscription) -> None:
        self._subscriptions.discard(subscription)

    @property
    def subscribers(self) -> int:
        return len(self._subscriptions)

    async def _open_round(self) -> OpenRound | None:
        async with self._sessions() as session:
            return await open_round(session, to_datetime(self._clock()))

    async def _latest_rows(self, current: OpenRound) -> list[FeatureRow]:
        """Per symbol of the round: the row of its newest bar, else the newest row of the round's live file."""
        live = {row.symbol: row for row in await self._live_rows(current)}
        symbols = current.symbols or frozenset(self._latest) | frozenset(live)
        found = (self._latest.get(symbol) or live.get(symbol) for symbol in sorted(symbols))
        return [row for row in found if row is not None]

    async def _live_rows(self, current: OpenRound) -> list[FeatureRow]:
        if current.number not in self._live:
            source = self._live_source(current.live_key) if current.live_key else None
            rows: list[FeatureRow] = []
            if source is not None:
                try:
                    rows = await self.worker.live_rows(source, current.live_format)
                except FeatureWorkerError:
                    log.exception("the live file of round %d could not be read", current.number)
            self._live = {current.number: rows}  # only the open round's are kept
        return self._live[current.number]


def _in_round(current: OpenRound, symbol: str) -> bool:
    return not current.symbols or symbol in current.symbols


def _bar(value: Any) -> Bar:
    if isinstance(value, Bar):
        return value
    return Bar(value.symbol, value.time, value.open, value.high, value.low, value.close, value.volume)
