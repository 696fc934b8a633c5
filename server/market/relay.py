"""Bars stored by other replicas, into this replica's feed: a notification on MARKET_CHANNEL names the
symbols and times of a committed batch; the bars are read from the database (notifications carry ids, not
rows) and published to the local BarFeed, one notification at a time, in the order they arrived. After the
listener lost its connection (notifications missed), every symbol this feed has published is caught up to
its newest stored bar."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mlmp_server.core.notifications import Notifications
from mlmp_server.market import store
from mlmp_server.market.feed import BarFeed
from mlmp_server.market.publishing import MARKET_CHANNEL, parse_payload

log = logging.getLogger("mp.market")
_CATCH_UP = ""  # the queue's item for "notifications were missed"


class BarRelay:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], feed: BarFeed, notifications: Notifications) -> None:
        self._sessions = sessions
        self._feed = feed
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        notifications.on(MARKET_CHANNEL, self._queue.put_nowait, on_gap=lambda: self._queue.put_nowait(_CATCH_UP))

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="market relay")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            item = await self._queue.get()
            try:
                await (self._catch_up() if item == _CATCH_UP else self._relay(item))
            except Exception:  # a database hiccup: the next notification (or gap) catches up
                log.exception("bars from another replica were not relayed to this replica's subscribers")

    async def _relay(self, payload: str) -> None:
        async with self._sessions() as session:
            for symbol, first, last in parse_payload(payload):
                after = self._feed.newest(symbol) or first - timedelta(microseconds=1)
                self._feed.publish(await store.bars_between(session, symbol, after, last))

    async def _catch_up(self) -> None:
        async with self._sessions() as session:
            after = None
            while page := await store.list_symbols(session, after=after, limit=500):
                for extent in page:
                    newest = self._feed.newest(extent.symbol)
                    if newest is not None and extent.last_time > newest:
                        self._feed.publish(await store.bars_between(session, extent.symbol, newest, extent.last_time))
                after = (page[-1].symbol,)
