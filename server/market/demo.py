"""The demo round's market: on a fresh install a newcomer sees new bars (and so new features, signals and
scores) within a minute. The history the demo round was built from is stored first, then new synthetic bars
continue it in time (one per business day per symbol, a random walk with each symbol's recent volatility),
paced at MP_DEMO_REPLAY_SPEED market seconds per second (17280: a daily bar every 5 s).

With several replicas, one replays: the one holding a PostgreSQL advisory lock; the others wait to take it
over. The history comes from a child process (server/datasets/synthetic.py needs numpy and pandas, which
never load into the server).
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from mlmp_server.datasets.building import ChildBuilder
from mlmp_server.datasets.synthetic import SYMBOLS, synthetic_bars
from mlmp_server.market import store
from mlmp_server.market.publishing import BarPublisher
from mlmp_server.market.rules import BarValues

log = logging.getLogger("mp.market")

LOCK_KEY = 0x6D70_6465_6D6F  # "mpdemo": the advisory lock of the replica that replays
RETRY_LOCK = 1.0  # seconds between attempts to take the lock over
DAY = timedelta(days=1)
VOLATILITY = 0.02  # of the continuation's daily log returns


def next_business_day(time: datetime) -> datetime:
    time += DAY
    while time.weekday() >= 5:
        time += DAY
    return time


def next_bar(last: BarValues, rng: random.Random) -> BarValues:
    """The bar after `last`: the synthetic history's process (geometric Brownian motion), continued."""
    close = last.close * math.exp(rng.gauss(0.0002, VOLATILITY))
    open_ = last.close * math.exp(rng.gauss(0, VOLATILITY / 3))
    high = max(open_, close) * (1 + rng.uniform(0, VOLATILITY))
    low = min(open_, close) * (1 - rng.uniform(0, VOLATILITY))
    volume = float(round(rng.lognormvariate(13, 0.4)))
    return BarValues(last.symbol, next_business_day(last.time), open_, high, low, close, volume)


@asynccontextmanager
async def leadership(engine: AsyncEngine) -> AsyncIterator[None]:
    """Held while this replica is the one that replays: at once on SQLite (one process), else once the
    PostgreSQL session lock is ours (a replica that dies releases it with its connection)."""
    if engine.dialect.name != "postgresql":
        yield
        return
    async with engine.connect() as connection:
        while not await connection.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": LOCK_KEY}):
            await connection.rollback()  # no transaction left open while waiting
            await asyncio.sleep(RETRY_LOCK)
        await connection.commit()
        try:
            yield
        finally:
            await connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": LOCK_KEY})
            await connection.commit()


class DemoReplay:
    def __init__(
        self,
        engine: AsyncEngine,
        sessions: async_sessionmaker[AsyncSession],
        publisher: BarPublisher,
        speed: float,
        *,
        seed: int | None = None,
    ) -> None:
        self._engine = engine
        self._sessions = sessions
        self._publisher = publisher
        self._interval = DAY.total_seconds() / speed
        self._rng = random.Random(seed)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="demo replay")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        try:
            async with leadership(self._engine):
                last = await self._history()
                log.info(
                    "demo replay: a bar per symbol every %.1f s from %s",
                    self._interval,
                    min(b.time for b in last.values()).date(),
                )
                while True:
                    await asyncio.sleep(self._interval)
                    bars = [next_bar(bar, self._rng) for bar in last.values()]
                    await self._publisher.publish(bars)
                    last = {bar.symbol: bar for bar in bars}
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("the demo replay stopped")

    async def _history(self) -> dict[str, BarValues]:
        """Each demo symbol's newest bar, storing the demo round's history first for symbols without bars."""
        last: dict[str, BarValues] = {}
        async with self._sessions() as session:
            for symbol in SYMBOLS:
                found = await store.last_bar(session, symbol)
                if found is not None:
                    last[symbol] = found
        if len(last) < len(SYMBOLS):
            rows = await ChildBuilder().run(synthetic_bars)
            history = [
                BarValues(symbol, datetime.fromtimestamp(seconds, UTC), *values)
                for symbol, seconds, *values in rows
                if symbol not in last
            ]
            for start in range(0, len(history), 5000):
                await self._publisher.publish(history[start : start + 5000])
            for bar in history:
                last[bar.symbol] = bar
        return last
