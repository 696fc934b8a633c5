"""Bars for a server's market feed, and its stored rows as pandas frames (to recompute scores from)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy import select

from mlmp_marketplace.v1 import market_pb2
from mlmp_server.db.models import MarketBar, MarketSymbol
from tests.helpers.server_thread import ServerThread


def daily(symbol: str, start: datetime, closes: list[float]) -> list[market_pb2.Bar]:
    """One bar a day from `start`, each opening, topping and bottoming at its close."""
    bars = []
    for day, close in enumerate(closes):
        stamp = Timestamp()
        stamp.FromDatetime(start + timedelta(days=day))
        bars.append(market_pb2.Bar(symbol=symbol, time=stamp, open=close, high=close, low=close, close=close,
                                   volume=1000))  # fmt: skip
    return bars


class BarFeed:
    """Publishes bars to a server's feed, and reads stored rows back."""

    def __init__(self, server: ServerThread) -> None:
        self.server = server

    def publish(self, bars: list[market_pb2.Bar]) -> None:
        """Stores the bars and their symbols' extents as PublishBars does. (Written to the database until the
        market task's PublishBars lands; then through it.)"""

        async def insert() -> None:
            async with self.server.listening.resources.sessions.begin() as session:  # type: ignore[union-attr]
                now = datetime.now(UTC)
                for bar in bars:
                    t = bar.time.ToDatetime(UTC)
                    session.add(MarketBar(symbol=bar.symbol, time=t, open=bar.open, high=bar.high, low=bar.low,
                                          close=bar.close, volume=bar.volume, received_at=now))  # fmt: skip
                    extent = await session.get(MarketSymbol, bar.symbol)
                    if extent is None:
                        session.add(MarketSymbol(symbol=bar.symbol, first_time=t, last_time=t, bar_count=1,
                                                 updated_at=now))  # fmt: skip
                    else:
                        extent.last_time, extent.bar_count, extent.updated_at = t, extent.bar_count + 1, now
                    await session.flush()

        self.server.run_in_loop(insert)

    def stored(self, *models) -> list[pd.DataFrame]:
        """Each model's table, whole, as a frame with its column names."""

        async def read():
            frames = []
            async with self.server.listening.resources.sessions() as session:  # type: ignore[union-attr]
                for model in models:
                    columns = [column.name for column in model.__table__.columns]
                    rows = (await session.execute(select(*model.__table__.columns))).all()
                    frames.append(pd.DataFrame([tuple(row) for row in rows], columns=columns))
            return frames

        return self.server.run_in_loop(read)
