"""Signal outcomes and live scores: their rows. Which signals are pending, which fall due with the bars
stored, the prices that score them, a deployment's window; server/signals/scoring.py says what is computed
from these, server/signals/scorer.py when."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, UnaryExpression, and_, exists, func, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from mlmp_server.db.models import DeploymentLiveScore, MarketBar, MarketSymbol, Signal, SignalOutcome

# One scorer at a time across replicas (PostgreSQL); a scorer that does not get it skips its turn.
_SCORER_LOCK = 0x6D705F73636F7265  # "mp_score"


@dataclass(frozen=True, slots=True)
class NewSignal:
    id: int
    deployment_id: str
    symbol: str
    action: int
    score: float | None
    horizon_seconds: float
    stored_at: datetime
    seen_bar: datetime | None  # the newest bar of its symbol stored before it; None: none was


def _dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


async def take_scorer_lock(session: AsyncSession) -> bool:
    """True when this transaction may score: always on SQLite (one process), on PostgreSQL when no other
    replica's scorer holds the lock (released at the end of the transaction)."""
    if _dialect(session) != "postgresql":
        return True
    return bool(await session.scalar(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": _SCORER_LOCK}))


async def enrolled_through(session: AsyncSession) -> int:
    """The highest signal id with an outcome row (0: none)."""
    return int(await session.scalar(select(func.coalesce(func.max(SignalOutcome.signal_id), 0))) or 0)


def _seen_bar():  # the time of the signal's symbol's newest bar stored (received) before the signal was
    return (
        select(MarketBar.time)
        .where(MarketBar.symbol == Signal.symbol, MarketBar.received_at <= Signal.stored_at)
        .order_by(MarketBar.time.desc())
        .limit(1)
        .scalar_subquery()
    )


async def unenrolled_signals(session: AsyncSession, after_id: int, limit: int) -> list[NewSignal]:
    """Signals past `after_id` without an outcome row, by id, each with the bar it was made after."""
    enrolled = exists().where(SignalOutcome.signal_id == Signal.id)
    rows = await session.execute(
        select(Signal.id, Signal.deployment_id, Signal.symbol, Signal.action, Signal.score, Signal.horizon_seconds,
               Signal.stored_at, _seen_bar())  # fmt: skip
        .where(Signal.id > after_id, ~enrolled)
        .order_by(Signal.id)
        .limit(limit)
    )
    return [NewSignal(*row) for row in rows]


async def enroll(session: AsyncSession, rows: Sequence[Mapping[str, object]]) -> None:
    """Adds pending outcome rows; a row already there (another scorer's) stays as it is."""
    if not rows:
        return
    upsert = postgresql.insert if _dialect(session) == "postgresql" else sqlite.insert
    await session.execute(upsert(SignalOutcome).on_conflict_do_nothing(), list(rows))


async def symbols_updated_since(session: AsyncSession, since: datetime | None) -> set[str]:
    """The symbols whose bars changed at or after `since` (all: None)."""
    query = select(MarketSymbol.symbol)
    if since is not None:
        query = query.where(MarketSymbol.updated_at >= since)
    return set(await session.scalars(query))


def _entry_close():  # the close of the last bar at or before the signal's time
    return (
        select(MarketBar.close)
        .where(MarketBar.symbol == SignalOutcome.symbol, MarketBar.time <= SignalOutcome.signal_time)
        .order_by(MarketBar.time.desc())
        .limit(1)
        .scalar_subquery()
    )


def _exit(column):  # a column of the first bar at or after the signal's due time
    return (
        select(column)
        .where(MarketBar.symbol == SignalOutcome.symbol, MarketBar.time >= SignalOutcome.due_at)
        .order_by(MarketBar.time)
        .limit(1)
        .scalar_subquery()
    )


async def score_due(
    session: AsyncSession,
    symbols: Collection[str],
    realized: Callable[[ColumnElement[float], ColumnElement[float]], ColumnElement[float]],
    now: datetime,
    limit: int,
) -> list[tuple[str, float | None]]:
    """Scores the pending outcomes of these symbols that their newest bar made due (found through the
    (symbol, due_at) index up to each symbol's market_symbols last_time), at most `limit`, in one UPDATE:
    entry and exit closes by probes of market_bars' key, the realised return by `realized(entry, exit)`.
    Returns (deployment, realised return) of each; None: void. Bars are immutable, so scoring an outcome
    twice would store the same values."""
    if not symbols:
        return []
    due = (
        select(SignalOutcome.signal_id)
        .join(MarketSymbol, and_(MarketSymbol.symbol == SignalOutcome.symbol,
                                 SignalOutcome.due_at <= MarketSymbol.last_time))  # fmt: skip
        .where(SignalOutcome.exit_time.is_(None), MarketSymbol.symbol.in_(sorted(symbols)))
        .limit(limit)
    )
    entry, exit_close = _entry_close(), _exit(MarketBar.close)
    rows = await session.execute(
        update(SignalOutcome)
        .where(SignalOutcome.signal_id.in_(due.scalar_subquery()))
        .values(entry_close=entry, exit_time=_exit(MarketBar.time), exit_close=exit_close,
                realized_return=realized(entry, exit_close), scored_at=now)  # fmt: skip
        .returning(SignalOutcome.deployment_id, SignalOutcome.realized_return)
        .execution_options(synchronize_session=False)
    )
    return [(deployment_id, r) for deployment_id, r in rows]


async def window(
    session: AsyncSession, deployment_id: str, order: Sequence[UnaryExpression], limit: int
) -> list[tuple[float, float, datetime]]:
    """(view, realised return, signal time) of the deployment's latest `limit` scored signals in `order`."""
    rows = await session.execute(
        select(SignalOutcome.view, SignalOutcome.realized_return, SignalOutcome.signal_time)
        .where(SignalOutcome.deployment_id == deployment_id, SignalOutcome.realized_return.is_not(None))
        .order_by(*order)
        .limit(limit)
    )
    return [(float(view), float(r or 0.0), t) for view, r, t in rows]  # r is set: see the where clause


async def save_live_score(
    session: AsyncSession,
    deployment_id: str,
    rank_correlation: float | None,
    hit_rate: float | None,
    scored_signals: int,
    window_size: int,
    latest_signal_time: datetime | None,
    now: datetime,
) -> None:
    values = {
        "rank_correlation": rank_correlation,
        "hit_rate": hit_rate,
        "scored_signals": scored_signals,
        "window": window_size,
        "latest_signal_time": latest_signal_time,
        "updated_at": now,
    }
    upsert = postgresql.insert if _dialect(session) == "postgresql" else sqlite.insert
    statement = upsert(DeploymentLiveScore).values(deployment_id=deployment_id, **values)
    await session.execute(statement.on_conflict_do_update(index_elements=["deployment_id"], set_=values))


async def live_scores_of(session: AsyncSession, deployment_ids: Collection[str]) -> list[DeploymentLiveScore]:
    if not deployment_ids:
        return []
    rows = await session.scalars(
        select(DeploymentLiveScore).where(DeploymentLiveScore.deployment_id.in_(sorted(deployment_ids)))
    )
    return list(rows)


@dataclass(frozen=True, slots=True)
class Closes:
    """The bars around one reference time of one symbol: the entry (last at or before it) and the exit (first
    at or after it plus the horizon), and the symbol's newest bar."""

    entry_close: float | None
    exit_close: float | None
    newest: datetime | None


async def closes_around(
    session: AsyncSession, symbols: Collection[str], at: datetime, due: datetime
) -> dict[str, Closes]:
    """Symbol → its closes around `at` (entry) and `due` (exit), for each of `symbols`."""
    found = {}
    for symbol in sorted(symbols):
        here = MarketBar.symbol == symbol
        entry = await session.scalar(
            select(MarketBar.close).where(here, MarketBar.time <= at).order_by(MarketBar.time.desc()).limit(1)
        )
        exit_close = await session.scalar(
            select(MarketBar.close).where(here, MarketBar.time >= due).order_by(MarketBar.time).limit(1)
        )
        newest = await session.scalar(select(MarketSymbol.last_time).where(MarketSymbol.symbol == symbol))
        found[symbol] = Closes(entry, exit_close, newest)
    return found
