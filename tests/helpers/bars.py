"""Bars for the market feed's tests: a symbol's daily bars from a start day, and a PublishBars stream."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from google.protobuf.timestamp_pb2 import Timestamp

from mlmp_marketplace.v1 import market_pb2

START = datetime(2026, 1, 5, tzinfo=UTC)


def stamp(time: datetime) -> Timestamp:
    value = Timestamp()
    value.FromDatetime(time)
    return value


def bar(symbol: str, day: int, close: float = 100.0, **changes: float) -> market_pb2.Bar:
    """The bar of `symbol` on day `day` after START: open 1 below close, a range of ±2 around it."""
    values = {"open": close - 1, "high": close + 2, "low": close - 2, "close": close, "volume": 1000.0}
    values.update(changes)
    return market_pb2.Bar(symbol=symbol, time=stamp(START + timedelta(days=day)), **values)


def daily(symbol: str, days: range, base: float = 100.0) -> list[market_pb2.Bar]:
    return [bar(symbol, day, base + day) for day in days]


def stream(*batches: list[market_pb2.Bar]) -> Iterator[market_pb2.PublishBarsRequest]:
    for batch in batches:
        yield market_pb2.PublishBarsRequest(bars=batch)
