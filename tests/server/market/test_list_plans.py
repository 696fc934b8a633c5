"""The plans PostgreSQL makes for the market's lists, as server/market/store.py builds them, over 200k ANALYZE'd
bars of 200 symbols (and 20k more symbols' extents): a page of a symbol's bars seeks the primary key (symbol,
time) either way, with a time range or past a page token, with no Sort and no Seq Scan, so the latest bars of a
long history cost what the first ones do."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from mlmp_server.db.engine import create_engine, migrate
from mlmp_server.market import store
from mlmp_server.settings import normalise_database_url
from tests.helpers.plans import assert_seeks, plan_of
from tests.helpers.postgres import fresh_database

pytestmark = [pytest.mark.postgres, pytest.mark.e2e]

SEED = """
INSERT INTO market_bars (symbol, time, open, high, low, close, volume, received_at)
SELECT 'S' || (n % 200), timestamptz '2020-01-01' + (n / 200) * interval '1 hour', 100, 101, 99, 100, 1000, now()
FROM generate_series(0, 199999) n;
INSERT INTO market_symbols (symbol, first_time, last_time, bar_count, updated_at)
SELECT 'S' || n, '2020-01-01', '2020-02-11', 1000, now() FROM generate_series(0, 199) n;
INSERT INTO market_symbols (symbol, first_time, last_time, bar_count, updated_at)
SELECT 'T' || n, '2020-01-01', '2020-02-11', 1000, now() FROM generate_series(0, 19999) n;
ANALYZE;
"""
MIDDLE = datetime(2020, 1, 20, tzinfo=UTC)


@pytest.fixture(scope="module")
def sessions(postgres_admin_url) -> Iterator[tuple]:
    with fresh_database(postgres_admin_url) as url:
        engine = create_engine(normalise_database_url(url))

        async def setup() -> None:
            await migrate(engine)
            async with engine.begin() as connection:
                raw = (await connection.get_raw_connection()).driver_connection
                await raw.execute(SEED)

        loop = asyncio.new_event_loop()
        loop.run_until_complete(setup())
        try:
            yield loop, engine
        finally:
            loop.run_until_complete(engine.dispose())
            loop.close()


@pytest.mark.parametrize("newest_first", [False, True], ids=["oldest-first", "newest-first"])
@pytest.mark.parametrize(
    "window", [{}, {"after": (MIDDLE,)}, {"start": MIDDLE}, {"start": datetime(2020, 1, 3, tzinfo=UTC), "end": MIDDLE}]
)
def test_bar_pages_seek_the_primary_key(sessions, newest_first, window):
    plan = plan_of(sessions, lambda s: store.list_bars(s, "S7", newest_first=newest_first, limit=51, **window))
    assert_seeks(plan, "pk_market_bars", "market_bars")


def test_symbol_pages_seek_the_primary_key(sessions):
    plan = plan_of(sessions, lambda s: store.list_symbols(s, after=("S50",), limit=51))
    assert_seeks(plan, "pk_market_symbols", "market_symbols")
