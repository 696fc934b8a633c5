"""The live scorer's turns against the database (SQLite and PostgreSQL): a signal committed after one of a
higher id is still enrolled, a turn scored twice stores the same, and on PostgreSQL one replica scores at a time."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text

from mlmp_server.core.clock import to_datetime
from mlmp_server.db.engine import create_engine, migrate, session_factory
from mlmp_server.db.models import DeploymentLiveScore, MarketBar, MarketSymbol, Signal, SignalOutcome
from mlmp_server.signals import outcomes
from mlmp_server.signals.scorer import Scorer
from tests.helpers.clock import ManualClock

T0 = datetime(2026, 1, 5, tzinfo=UTC)
DAY = timedelta(days=1)


def signal_row(signal_id: int, symbol: str, score: float, stored_at: datetime) -> dict:
    return {"id": signal_id, "deployment_id": "dep_1", "vendor_id": "vnd_1", "run_id": None, "symbol": symbol,
            "action": 1, "score": score, "confidence": 0.5, "horizon_seconds": DAY.total_seconds(),
            "generated_at": stored_at, "round_number": 1, "model_version": "", "batch_sequence": 0,
            "stored_at": stored_at}  # fmt: skip


async def add_bar(session, symbol: str, day: int, close: float, received_at: datetime) -> None:
    time = T0 + day * DAY
    session.add(MarketBar(symbol=symbol, time=time, open=close, high=close, low=close, close=close, volume=1.0,
                          received_at=received_at))  # fmt: skip
    extent = await session.get(MarketSymbol, symbol)
    if extent is None:
        session.add(MarketSymbol(symbol=symbol, first_time=time, last_time=time, bar_count=1, updated_at=received_at))
    else:
        extent.last_time, extent.bar_count, extent.updated_at = time, extent.bar_count + 1, received_at


@pytest.fixture
def sessions(database_url):
    engine = create_engine(database_url)
    asyncio.run(migrate(engine))
    yield engine, session_factory(engine)
    asyncio.run(engine.dispose())


def test_a_signal_committed_after_a_higher_id_is_still_enrolled_and_scored_once(sessions):
    engine, factory = sessions
    clock = ManualClock(T0.timestamp() + 100 * 86400)
    now = to_datetime(clock())

    async def scenario():
        scorer = Scorer(factory, clock)
        async with factory.begin() as session:
            for symbol in ("AAA", "BBB"):
                await add_bar(session, symbol, 0, 100.0, now - timedelta(seconds=5))
            await session.execute(Signal.__table__.insert(), [signal_row(10, "AAA", 0.5, now)])
        first = await scorer.turn()
        # id 7 commits after id 10 was enrolled (its transaction was slower): within the settle time the
        # scorer reads past its cursor again and finds it
        clock.now += 2
        async with factory.begin() as session:
            await session.execute(Signal.__table__.insert(), [signal_row(7, "BBB", -0.5, now)])
        second = await scorer.turn()
        clock.now += 2
        async with factory.begin() as session:
            await add_bar(session, "AAA", 1, 110.0, to_datetime(clock()))
            await add_bar(session, "BBB", 1, 90.0, to_datetime(clock()))
        third = await scorer.turn()
        again = await Scorer(factory, clock).turn()  # another replica (or a restart) finds nothing left to do
        async with factory() as session:
            found = {row.signal_id: row.realized_return for row in await session.scalars(select(SignalOutcome))}
            live = await session.get(DeploymentLiveScore, "dep_1")
        return first, second, third, again, found, live

    first, second, third, again, found, live = asyncio.run(scenario())
    assert (first.enrolled, second.enrolled, third.scored) == (1, 1, 2)
    assert (again.enrolled, again.scored) == (0, 0)
    assert found == {10: pytest.approx(0.1), 7: pytest.approx(-0.1)}
    assert (live.scored_signals, live.hit_rate, live.rank_correlation) == (2, 1.0, pytest.approx(1.0))


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_only_one_replica_scores_at_a_time(sessions):
    engine, factory = sessions

    async def scenario():
        scorer = Scorer(factory, ManualClock())
        async with factory.begin() as other:  # another replica's turn, holding the lock
            assert await outcomes.take_scorer_lock(other)
            while_held = await scorer.turn()
        after = await scorer.turn()
        async with factory() as session:  # the lock is a transaction's: nothing is left held
            held = await session.scalar(text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"))
        return while_held, after, held

    while_held, after, held = asyncio.run(scenario())
    assert while_held.skipped
    assert not after.skipped
    assert held == 0


def test_a_bar_stamped_by_a_clock_far_behind_is_found_by_the_next_sweep(sessions):
    engine, factory = sessions
    clock = ManualClock(T0.timestamp() + 100 * 86400)
    now = to_datetime(clock())

    async def scenario():
        scorer = Scorer(factory, clock)
        async with factory.begin() as session:
            await add_bar(session, "AAA", 0, 100.0, now - timedelta(seconds=5))
            await session.execute(Signal.__table__.insert(), [signal_row(1, "AAA", 0.5, now)])
        await scorer.turn()  # the first turn looks at every symbol
        clock.now += 2
        async with factory.begin() as session:  # another replica, its clock 5 minutes behind
            await add_bar(session, "AAA", 1, 110.0, to_datetime(clock()) - timedelta(minutes=5))
        missed = await scorer.turn()
        clock.now += 60
        swept = await scorer.turn()
        return missed, swept

    missed, swept = asyncio.run(scenario())
    assert missed.scored == 0  # its market_symbols row looks older than the last turn
    assert swept.scored == 1
