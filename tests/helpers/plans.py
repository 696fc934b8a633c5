"""PostgreSQL plans of the queries store functions build: EXPLAIN of the statement a store call ran, and the
check that a list query seeks its index (tests/server/db/test_list_plans.py and the market tests use it)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterator

from sqlalchemy import event

from mlmp_server.db.engine import session_factory


def plan_of(sessions, query: Callable[..., Awaitable[object]]) -> dict:
    """EXPLAIN of the last statement `query(session)` ran, with its parameters."""
    loop, engine = sessions
    seen: list[tuple[str, object]] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        if not statement.startswith("EXPLAIN"):
            seen.append((statement, parameters))

    async def run() -> dict:
        async with session_factory(engine)() as session:
            await query(session)
            statement, parameters = seen[-1]
            found = await session.connection()
            result = await found.exec_driver_sql("EXPLAIN (FORMAT JSON) " + statement, parameters)  # type: ignore[arg-type]
            raw = result.scalar_one()
            return (json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"]

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        return loop.run_until_complete(run())
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)


def nodes(plan: dict) -> Iterator[dict]:
    yield plan
    for child in plan.get("Plans", []):
        yield from nodes(child)


def assert_seeks(plan: dict, index: str, table: str, *, sorts: bool = False) -> None:
    """`index` used, no Seq Scan of `table`, and no Sort unless `sorts` (the rows of one vendor, or of one
    vendor's symbol, may be few enough for the planner to fetch them all and sort them)."""
    found = list(nodes(plan))
    shown = json.dumps(plan, indent=1)[:3000]
    assert any(n.get("Index Name") == index for n in found), f"{index} not used:\n{shown}"
    if not sorts:
        assert not any(n["Node Type"] in ("Sort", "Incremental Sort") for n in found), f"sorts:\n{shown}"
    assert not any(n["Node Type"] == "Seq Scan" and n.get("Relation Name") == table for n in found), shown
