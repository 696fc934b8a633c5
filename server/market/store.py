"""The market feed's queries: bars, and each symbol's extent. Functions take a session; the caller opens
the transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from mlmp_server.db.keyset import seek
from mlmp_server.db.models import MarketBar, MarketSymbol

if TYPE_CHECKING:
    from mlmp_server.market.rules import BarValues


def _values(row: MarketBar) -> BarValues:
    from mlmp_server.market.rules import BarValues

    return BarValues(row.symbol, row.time, row.open, row.high, row.low, row.close, row.volume)


async def lock_symbol(session: AsyncSession, symbol: str, first_time: datetime, now: datetime) -> MarketSymbol:
    """The symbol's extent row, made (with no bars) when new, and locked until the transaction ends on
    PostgreSQL (SQLite serialises writers anyway): publishers of one symbol take turns."""
    upsert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    await session.execute(
        upsert(MarketSymbol)
        .values(symbol=symbol, first_time=first_time, last_time=first_time, bar_count=0, updated_at=now)
        .on_conflict_do_nothing()
    )
    query = select(MarketSymbol).where(MarketSymbol.symbol == symbol).with_for_update()
    return (await session.execute(query.execution_options(populate_existing=True))).scalar_one()


async def bars_at(session: AsyncSession, symbol: str, times: Sequence[datetime]) -> dict[datetime, BarValues]:
    query = select(MarketBar).where(MarketBar.symbol == symbol, MarketBar.time.in_(list(times)))
    return {row.time: _values(row) for row in (await session.execute(query)).scalars()}


async def add_bars(session: AsyncSession, bars: Sequence[BarValues], now: datetime) -> None:
    rows = [
        {"symbol": b.symbol, "time": b.time, "open": b.open, "high": b.high, "low": b.low, "close": b.close,
         "volume": b.volume, "received_at": now}
        for b in bars
    ]  # fmt: skip
    await session.execute(insert(MarketBar), rows)


def bar_key(bar: MarketBar) -> tuple[datetime]:
    return (bar.time,)


async def list_bars(
    session: AsyncSession,
    symbol: str,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    newest_first: bool = False,
    after: Sequence[object] | None = None,
    limit: int,
) -> list[MarketBar]:
    """Bars of `symbol` with start <= time < end, by time (the primary key's order), past `after`'s time."""
    query = select(MarketBar)
    if start is not None:
        query = query.where(MarketBar.time >= start)
    if end is not None:
        query = query.where(MarketBar.time < end)
    query = seek(query, [MarketBar.time], after, descending=newest_first, equal=[(MarketBar.symbol, symbol)])
    return list((await session.execute(query.limit(limit))).scalars())


async def bars_between(
    session: AsyncSession, symbol: str, after: datetime | None, through: datetime
) -> list[BarValues]:
    """Bars of `symbol` with after < time <= through, oldest first (a replica catching up on a notification)."""
    query = select(MarketBar).where(MarketBar.symbol == symbol, MarketBar.time <= through)
    if after is not None:
        query = query.where(MarketBar.time > after)
    return [_values(row) for row in (await session.execute(query.order_by(MarketBar.time))).scalars()]


def symbol_key(row: MarketSymbol) -> tuple[str]:
    return (row.symbol,)


async def list_symbols(
    session: AsyncSession, *, after: Sequence[object] | None = None, limit: int
) -> list[MarketSymbol]:
    query = seek(select(MarketSymbol).where(MarketSymbol.bar_count > 0), [MarketSymbol.symbol], after)
    return list((await session.execute(query.limit(limit))).scalars())


async def get_symbol(session: AsyncSession, symbol: str) -> MarketSymbol | None:
    return await session.get(MarketSymbol, symbol)


async def last_bar(session: AsyncSession, symbol: str) -> BarValues | None:
    query = select(MarketBar).where(MarketBar.symbol == symbol).order_by(MarketBar.time.desc()).limit(1)
    row = (await session.execute(query)).scalar_one_or_none()
    return None if row is None else _values(row)
