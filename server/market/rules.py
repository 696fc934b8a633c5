"""The market feed's rules: what makes a bar acceptable, and when a bar may follow the stored ones.

Per symbol, bars arrive in increasing time and are immutable once stored. A bar at a stored time is a
duplicate when its values are the stored ones (a retried stream, a replay restarted from its file's
start), and refused otherwise (AlreadyExists): features sent to deployments and scores of their signals
were computed from the stored bar, and would silently disagree with a replaced one. A bar older than the
newest stored one of its symbol, at a time not stored (a late bar filling a gap), is refused too
(FailedPrecondition): the features of every later bar were computed without it, and the scorer may have
measured a return across the gap already.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from mlmp_server.core.errors import AlreadyExists, FailedPrecondition, InvalidArgument
from mlmp_server.db.models import MarketSymbol
from mlmp_server.market import store

PRICES = ("open", "high", "low", "close")


@dataclass(frozen=True)
class BarValues:
    """One OHLCV bar. `time` is timezone-aware UTC, to the microsecond (what both databases keep)."""

    symbol: str
    time: datetime
    open: float
    high: float
    low: float
    close: float
    volume: float

    def same_values(self, other: BarValues) -> bool:
        return (self.open, self.high, self.low, self.close, self.volume) == (
            other.open, other.high, other.low, other.close, other.volume,
        )  # fmt: skip


@dataclass(frozen=True)
class Published:
    stored: list[BarValues]  # in the order given, each symbol's in time order
    duplicates: int
    symbols: list[MarketSymbol]  # the extent of each symbol the batch carried, after it


def _time(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def check_bar(bar: BarValues, where: str) -> None:
    """Refuses a bar whose values no market prints, naming `where` (e.g. "bars[3]") and the field."""
    for name in PRICES:
        value = getattr(bar, name)
        if not math.isfinite(value) or value <= 0:
            raise InvalidArgument(f"{where}.{name} must be a finite price above 0, not {value}")
    if not math.isfinite(bar.volume) or bar.volume < 0:
        raise InvalidArgument(f"{where}.volume must be a finite number of 0 or more, not {bar.volume}")
    if bar.time.tzinfo is None:
        raise InvalidArgument(f"{where}.time has no time zone")
    if bar.high < bar.low:
        raise InvalidArgument(f"{where}.high {bar.high} is below its low {bar.low} ({bar.symbol} at {_time(bar.time)})")
    for name in ("open", "close"):
        value = getattr(bar, name)
        if value > bar.high:
            raise InvalidArgument(
                f"{where}.high {bar.high} is below its {name} {value} ({bar.symbol} at {_time(bar.time)})"
            )
        if value < bar.low:
            raise InvalidArgument(
                f"{where}.low {bar.low} is above its {name} {value} ({bar.symbol} at {_time(bar.time)})"
            )


def check_batch(bars: Sequence[BarValues], prefix: str = "") -> None:
    """Every bar's values, and each symbol's bars in increasing time within the batch."""
    last: dict[str, tuple[int, datetime]] = {}
    for index, bar in enumerate(bars):
        where = f"{prefix}bars[{index}]"
        check_bar(bar, where)
        before = last.get(bar.symbol)
        if before is not None and bar.time <= before[1]:
            raise InvalidArgument(
                f"{where}.time {_time(bar.time)} is not after {prefix}bars[{before[0]}].time {_time(before[1])} of "
                f"the same symbol {bar.symbol}: send each symbol's bars in increasing time"
            )
        last[bar.symbol] = (index, bar.time)


async def publish_bars(
    session: AsyncSession, bars: Sequence[BarValues], *, now: datetime, prefix: str = ""
) -> Published:
    """Stores the new bars of a batch, all or none (the caller's transaction); identical re-sent bars are
    counted, not stored. Symbols are locked in name order, so concurrent publishers never deadlock."""
    check_batch(bars, prefix)
    by_symbol: dict[str, list[tuple[int, BarValues]]] = defaultdict(list)
    for index, bar in enumerate(bars):
        by_symbol[bar.symbol].append((index, bar))
    stored: list[BarValues] = []
    duplicates = 0
    extents: list[MarketSymbol] = []
    for symbol in sorted(by_symbol):
        rows = by_symbol[symbol]
        extent = await store.lock_symbol(session, symbol, rows[0][1].time, now)
        newest = extent.last_time if extent.bar_count else None
        old = [(index, bar) for index, bar in rows if newest is not None and bar.time <= newest]
        new = [bar for index, bar in rows if newest is None or bar.time > newest]
        if old:
            known = await store.bars_at(session, symbol, [bar.time for _, bar in old])
            for index, bar in old:
                found = known.get(bar.time)
                where = f"{prefix}bars[{index}]"
                if found is None:
                    raise FailedPrecondition(
                        f"{where}: {symbol} at {_time(bar.time)} is older than its newest stored bar "
                        f"({_time(extent.last_time)}); bars of a symbol arrive in time order, and a gap stays a gap"
                    )
                if not found.same_values(bar):
                    raise AlreadyExists(
                        f"{where}: {symbol} at {_time(bar.time)} is stored with other values "
                        f"({_values(found)}, sent {_values(bar)}); a stored bar is never replaced"
                    )
                duplicates += 1
        if new:
            await store.add_bars(session, new, now)
            if not extent.bar_count:
                extent.first_time = new[0].time
            extent.last_time = new[-1].time
            extent.bar_count += len(new)
            extent.updated_at = now
            stored.extend(new)
        extents.append(extent)
    await session.flush()
    return Published(stored, duplicates, extents)


def _values(bar: BarValues) -> str:
    return f"open {bar.open}, high {bar.high}, low {bar.low}, close {bar.close}, volume {bar.volume}"
