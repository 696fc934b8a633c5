"""List pages at scale, on PostgreSQL: `python -m bench.lists [signals|catalog]` prints

- the latency (p50/p99) of a signals page for a vendor whose signals are the oldest, at 10k and 10M stored
  signals (seeded in the database by INSERT … SELECT generate_series, the table's indexes built after), through
  the real store function (keyset on ix_signals_vendor_id), the ratio between the sizes, and the same page
  with main's indexes (vendor_id, stored_at) instead: the reproduction of issue 16 (a few runs only: at 10M
  each takes seconds);
- the time to walk every catalog page at 1k and 10k vendors: whole pages (entries built as ListCatalog builds
  them) and the vendor listing alone (with its time in the database), by keyset and as main did (OFFSET, no
  index on the order), and the ratio between the sizes (~10 when a page costs its rows, ~100 when it costs all
  the rows before it).
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time

from sqlalchemy import event, select

from bench.quick import sized
from mlmp_server.catalog import rules as catalog
from mlmp_server.catalog import store as catalog_store
from mlmp_server.db.engine import create_engine, migrate, session_factory
from mlmp_server.db.models import Vendor
from mlmp_server.settings import normalise_database_url
from mlmp_server.signals import store as signal_store

OLD_SHARE = 10  # 1 in this many signals is the old vendor's: the first ids, before 200 other vendors'


MAINS_INDEXES = """DROP INDEX ix_signals_vendor_id; DROP INDEX ix_signals_vendor_symbol_id;
CREATE INDEX ix_signals_vendor_stored ON signals (vendor_id, stored_at); ANALYZE"""


def seed_signals(total: int) -> str:
    return f"""
SET maintenance_work_mem = '256MB';
INSERT INTO marketplace_vendors (id, slug, display_name, created_at)
SELECT 'v' || n, 'v' || n, 'Desk ' || n, '2026-01-01' FROM generate_series(0, 199) n;
INSERT INTO marketplace_vendors (id, slug, display_name, created_at) VALUES ('old', 'old', 'Old', '2025-01-01');
INSERT INTO signals (deployment_id, vendor_id, symbol, action, score, confidence, horizon_seconds, generated_at,
                     round_number, model_version, batch_sequence, stored_at)
SELECT CASE WHEN n <= {total // OLD_SHARE} THEN 'dep_old' ELSE 'dep_' || (n % 200) END,
       CASE WHEN n <= {total // OLD_SHARE} THEN 'old' ELSE 'v' || (n % 200) END,
       'S' || (n % 50), 1, 0.5, 1, 60, '2026-01-01',
       1 + n / 100000, 'v1', n, timestamptz '2026-01-01' + n * interval '1 millisecond'
FROM generate_series(1, {total}) n;
ANALYZE;
"""


SEED_VENDORS = """
INSERT INTO marketplace_vendors (id, slug, display_name, created_at, activity_rank, score_rank)
SELECT 'v' || n, 'v' || n, 'Desk ' || n, timestamptz '2026-01-01' + (n % 97) * interval '1 minute',
       -(n % 300), (n % 200) / 100.0 - 1
FROM generate_series(1, {count}) n;
ANALYZE;
"""


async def seed_without_indexes(engine, sql: str) -> None:
    """Runs `sql` with the signals table's secondary indexes dropped, then builds them again from their own
    definitions: one sort per index instead of 10M index insertions each (minutes on a shared machine)."""
    async with engine.begin() as connection:
        raw = (await connection.get_raw_connection()).driver_connection
        cursor = await raw.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'signals' AND indexname NOT IN "
            "(SELECT conname FROM pg_constraint WHERE conrelid = 'signals'::regclass)"
        )
        indexes = await cursor.fetchall()
        for name, _definition in indexes:
            await raw.execute(f'DROP INDEX "{name}"')
        await raw.execute(sql)
        for _name, definition in indexes:
            await raw.execute(definition)
        await raw.execute("ANALYZE")


async def run_sql(engine, sql: str) -> None:
    async with engine.begin() as connection:
        raw = (await connection.get_raw_connection()).driver_connection
        await raw.execute(sql)


async def page_latencies(engine, repeats: int, sql: str) -> tuple[list[float], list[float]]:
    """Milliseconds per page: through the store function (SQL, rows and ORM objects), and the database's
    own execution time of the statement it ran (EXPLAIN ANALYZE), which the machine's load disturbs less."""
    sessions = session_factory(engine)
    store_ms, database_ms = [], []
    async with sessions() as session:
        for _ in range(repeats):
            started = time.perf_counter()
            rows = await signal_store.list_signals(
                session, symbol="", vendor_id="old", deployment_id="", round_number=0, after=None, limit=51
            )
            store_ms.append((time.perf_counter() - started) * 1000)
            assert len(rows) == 51
        raw = (await (await session.connection()).get_raw_connection()).driver_connection
        for _ in range(repeats):
            cursor = await raw.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql)
            database_ms.append((await cursor.fetchone())[0][0]["Execution Time"])
    return store_ms, database_ms


# The statement list_signals runs for the old vendor's first page (the same index and order).
PAGE_SQL = """SELECT signals.*, marketplace_vendors.* FROM signals JOIN marketplace_vendors
ON signals.vendor_id = marketplace_vendors.id WHERE signals.vendor_id >= 'old' AND signals.vendor_id <= 'old'
ORDER BY signals.vendor_id DESC, signals.id DESC LIMIT 51"""
# The statement main's list_signals ran for it (an equality, ordered by id alone).
MAIN_SQL = """SELECT signals.*, marketplace_vendors.* FROM signals JOIN marketplace_vendors
ON signals.vendor_id = marketplace_vendors.id WHERE signals.vendor_id = 'old' ORDER BY signals.id DESC LIMIT 51"""


def shown(latencies: list[float]) -> str:
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"p50 {statistics.median(ordered):7.2f} ms  p99 {p99:7.2f} ms"


async def signals_part(admin_url: str) -> None:
    from tests.helpers.postgres import fresh_database

    small, large = sized(10_000, 2_000), sized(10_000_000, 20_000)
    repeats = sized(300, 30)
    figures = {}
    for total in (small, large):
        with fresh_database(admin_url) as url:
            engine = create_engine(normalise_database_url(url))
            try:
                await migrate(engine)
                started = time.perf_counter()
                await seed_without_indexes(engine, seed_signals(total))
                print(f"  seeded {total:,} signals and built their indexes in {time.perf_counter() - started:.0f} s")
                store_ms, figures[total] = await page_latencies(engine, repeats, PAGE_SQL)
                print(f"signals page, old vendor, {total:>9,} signals: database {shown(figures[total])}; "
                      f"store call {shown(store_ms)}")  # fmt: skip
                if total == large:  # main's indexes: the page walks the primary key back from the newest
                    await run_sql(engine, MAINS_INDEXES)
                    _, before = await page_latencies(engine, 3, MAIN_SQL)
                    print(
                        f"  with main's indexes instead,    {total:>9,} signals: database {shown(before)}; "
                        f"p50 ratio main/keyset {statistics.median(before) / statistics.median(figures[total]):.0f}"
                    )
            finally:
                await engine.dispose()
    ratio = statistics.median(figures[large]) / statistics.median(figures[small])
    print(f"  p50 ratio {large:,} / {small:,} signals: {ratio:.2f} (1.0: a page costs its rows, whatever the table)")


async def executed_ms(session, captured: tuple[str, object]) -> float:
    statement, parameters = captured
    result = await (await session.connection()).exec_driver_sql(
        "EXPLAIN (ANALYZE, FORMAT JSON) " + statement, parameters
    )
    return float(result.scalar_one()[0]["Execution Time"])


async def walk_catalog(engine, *, offset: bool, order: str = "", store_only: bool = False) -> tuple[float, int, float]:
    """(seconds, pages, database milliseconds): the walk's time, and for the listing alone (`store_only`) the
    sum of the database's execution times of its page queries (EXPLAIN ANALYZE), which load disturbs less."""
    seen: list[tuple[str, object]] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        if not statement.startswith("EXPLAIN"):
            seen.append((statement, parameters))

    query = catalog.Query(order=order)
    started, pages, after, position, database = time.perf_counter(), 0, None, 0, 0.0
    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        async with session_factory(engine)() as session:
            while True:
                pages += 1
                if offset:  # main's way: the same order, the page found by counting past the earlier ones
                    statement = select(Vendor).order_by(Vendor.created_at, Vendor.id).offset(position).limit(51)
                    vendors = list(await session.scalars(statement))
                    if store_only:
                        database += await executed_ms(session, seen[-1])
                    else:
                        await catalog.entries(session, vendors[:50])
                    position += 50
                    if len(vendors) <= 50:
                        break
                elif store_only:
                    found = await catalog_store.list_vendors(session, "", False, after, 51, order=order)
                    database += await executed_ms(session, seen[-1])
                    if len(found) <= 50:
                        break
                    after = found[49][1]
                else:
                    _entries, keys = await catalog.list_entries(session, query, after, 50)
                    if len(keys) <= 50:
                        break
                    after = keys[49]
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)
    return time.perf_counter() - started, pages, database


# Whole pages (entries built as ListCatalog builds them), and the vendor listing alone.
WAYS = ("keyset pages", "keyset pages by score", "keyset rows", "offset rows", "offset pages")


async def catalog_part(admin_url: str) -> None:
    from tests.helpers.postgres import fresh_database

    small, large = sized(1_000, 200), sized(10_000, 2_000)
    times: dict[tuple[str, int], float] = {}
    for count in (small, large):
        with fresh_database(admin_url) as url:
            engine = create_engine(normalise_database_url(url))
            try:
                await migrate(engine)
                await run_sql(engine, SEED_VENDORS.format(count=count))
                for way in WAYS:
                    if way == "offset rows":  # main's catalog: no index on this order, OFFSET over a sort
                        await run_sql(engine, "DROP INDEX ix_marketplace_vendors_created; ANALYZE")
                    took, pages, database = await walk_catalog(
                        engine,
                        offset="offset" in way,
                        order="score" if "score" in way else "",
                        store_only="rows" in way,
                    )
                    times[way, count] = took
                    in_database = f"; in the database {database:7.1f} ms" if database else ""
                    if database:
                        times[way + " (database)", count] = database
                    print(f"catalog walk, {count:>6,} vendors, {pages:>4} pages, {way:<22}: {took * 1000:8.0f} ms"
                          f"{in_database}")  # fmt: skip
            finally:
                await engine.dispose()
    for way in sorted({way for way, _ in times}):
        print(f"  {way:<33} {large:,} / {small:,} vendors: {times[way, large] / times[way, small]:.1f}× the time")


def main() -> None:
    from tests.helpers.postgres import PostgresUnavailable, postgres_server

    try:
        with postgres_server() as admin_url:
            if "catalog" not in sys.argv[1:]:
                asyncio.run(signals_part(admin_url))
            if "signals" not in sys.argv[1:]:
                asyncio.run(catalog_part(admin_url))
    except PostgresUnavailable as error:
        print(f"list benchmark skipped: {error}")


if __name__ == "__main__":
    main()
