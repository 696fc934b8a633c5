"""A server's market feed as scoring tests use it: bars from a list of closes, published through
MarketService.PublishBars, and the stored rows as pandas frames (to recompute scores from)."""

from __future__ import annotations

from datetime import datetime, timedelta

import grpc
import pandas as pd
from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy import select

from mlmp_marketplace.v1 import market_pb2, market_pb2_grpc
from tests.helpers.auth import bearer
from tests.helpers.server_thread import ServerThread


def daily_closes(symbol: str, start: datetime, closes: list[float]) -> list[market_pb2.Bar]:
    """One bar a day from `start`, each opening, topping and bottoming at its close."""
    bars = []
    for day, close in enumerate(closes):
        stamp = Timestamp()
        stamp.FromDatetime(start + timedelta(days=day))
        bars.append(market_pb2.Bar(symbol=symbol, time=stamp, open=close, high=close, low=close, close=close,
                                   volume=1000))  # fmt: skip
    return bars


class FeedClient:
    """Publishes bars to a server's feed, and reads its stored rows back."""

    def __init__(self, server: ServerThread) -> None:
        self.server = server

    def publish(self, bars: list[market_pb2.Bar]) -> market_pb2.PublishBarsResponse:
        """Publishes the bars in one PublishBars message, as the operator."""
        with grpc.insecure_channel(self.server.grpc_target) as channel:
            return market_pb2_grpc.MarketServiceStub(channel).PublishBars(
                iter([market_pb2.PublishBarsRequest(bars=bars)]), metadata=bearer(self.server.admin_token), timeout=20
            )

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
