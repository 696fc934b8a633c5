"""MarketService: bars in (PublishBars), bars out (ListBars, ListMarketSymbols)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import grpc
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mlmp_marketplace.v1 import market_pb2, market_pb2_grpc
from mlmp_server.core.convert import timestamp
from mlmp_server.core.pagination import read_page
from mlmp_server.db.models import MarketBar, MarketSymbol
from mlmp_server.market import store
from mlmp_server.market.publishing import BarPublisher
from mlmp_server.market.rules import BarValues


def bar_values(bar: market_pb2.Bar) -> BarValues:
    """A Bar of the contract as the rules take it; its time to the microsecond (what the databases keep)."""
    return BarValues(
        bar.symbol, bar.time.ToDatetime(tzinfo=UTC), bar.open, bar.high, bar.low, bar.close, bar.volume
    )  # fmt: skip


def bar_proto(row: MarketBar) -> market_pb2.Bar:
    return market_pb2.Bar(
        symbol=row.symbol, time=timestamp(row.time), open=row.open, high=row.high, low=row.low, close=row.close,
        volume=row.volume, receive_time=timestamp(row.received_at),
    )  # fmt: skip


def symbol_proto(row: MarketSymbol) -> market_pb2.MarketSymbol:
    return market_pb2.MarketSymbol(
        symbol=row.symbol, first_bar_time=timestamp(row.first_time), last_bar_time=timestamp(row.last_time),
        bar_count=row.bar_count, update_time=timestamp(row.updated_at),
    )  # fmt: skip


def _time(stamp: object, given: bool) -> datetime | None:
    return stamp.ToDatetime(tzinfo=UTC) if given else None  # type: ignore[attr-defined]


class MarketServicer(market_pb2_grpc.MarketServiceServicer):
    def __init__(self, sessions: async_sessionmaker[AsyncSession], publisher: BarPublisher) -> None:
        self._sessions = sessions
        self._publisher = publisher

    async def PublishBars(
        self, request_iterator: AsyncIterator[market_pb2.PublishBarsRequest], context: grpc.aio.ServicerContext
    ) -> market_pb2.PublishBarsResponse:
        stored = duplicates = 0
        extents: dict[str, market_pb2.MarketSymbol] = {}
        number = 0
        async for request in request_iterator:
            number += 1
            published = await self._publisher.publish(
                [bar_values(bar) for bar in request.bars], prefix=f"message {number}: "
            )
            stored += len(published.stored)
            duplicates += published.duplicates
            extents.update((row.symbol, symbol_proto(row)) for row in published.symbols)
        return market_pb2.PublishBarsResponse(
            stored=stored, duplicates=duplicates, symbols=[extents[s] for s in sorted(extents)]
        )

    async def ListBars(
        self, request: market_pb2.ListBarsRequest, context: grpc.aio.ServicerContext
    ) -> market_pb2.ListBarsResponse:
        start = _time(request.start_time, request.HasField("start_time"))
        end = _time(request.end_time, request.HasField("end_time"))
        page = read_page(
            request.page_size, request.page_token, request.symbol, start, end, request.newest_first, key=(datetime,)
        )
        async with self._sessions() as session:
            rows = await store.list_bars(
                session, request.symbol, start=start, end=end, newest_first=request.newest_first, after=page.after,
                limit=page.size + 1,
            )  # fmt: skip
        return market_pb2.ListBarsResponse(
            bars=[bar_proto(row) for row in rows[: page.size]], next_page_token=page.next_token(rows, store.bar_key)
        )

    async def ListMarketSymbols(
        self, request: market_pb2.ListMarketSymbolsRequest, context: grpc.aio.ServicerContext
    ) -> market_pb2.ListMarketSymbolsResponse:
        page = read_page(request.page_size, request.page_token, key=(str,))
        async with self._sessions() as session:
            rows = await store.list_symbols(session, after=page.after, limit=page.size + 1)
        return market_pb2.ListMarketSymbolsResponse(
            symbols=[symbol_proto(row) for row in rows[: page.size]],
            next_page_token=page.next_token(rows, store.symbol_key),
        )
