"""The stored bars a feature worker starts from: the last few of each symbol of the market feed."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mlmp_server.db.models import MarketBar, MarketSymbol
from mlmp_server.features.worker import Bar


async def recent_bars(session: AsyncSession, per_symbol: int) -> list[Bar]:
    """The newest `per_symbol` bars of every symbol, each symbol's oldest first (one indexed read per symbol:
    the primary key (symbol, time) serves it backwards)."""
    symbols = (await session.scalars(select(MarketSymbol.symbol).order_by(MarketSymbol.symbol))).all()
    bars: list[Bar] = []
    for symbol in symbols:
        query = (
            select(MarketBar).where(MarketBar.symbol == symbol).order_by(MarketBar.time.desc()).limit(per_symbol)
        )
        rows = (await session.scalars(query)).all()
        bars.extend(Bar(r.symbol, r.time, r.open, r.high, r.low, r.close, r.volume) for r in reversed(rows))
    return bars
