"""SQLite's plans for the list queries, as the real store functions build them: each page SEARCHes (seeks)
the index of its order and filters, continuing from the page token's key, and sorts nothing."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlalchemy import event

from mlmp_server.auth import store as auth_store
from mlmp_server.catalog import store as catalog_store
from mlmp_server.db.engine import create_engine, migrate, session_factory
from mlmp_server.deployments import store as deployment_store
from mlmp_server.settings import default_database_url
from mlmp_server.signals import store as signal_store
from mlmp_server.training import store as run_store

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def signals_of(**filters):
    query = {"symbol": "", "vendor_id": None, "deployment_id": "", "round_number": 0, **filters}
    return lambda s: signal_store.list_signals(s, **query, after=(500,), limit=51)


CASES = {
    "ix_signals_vendor_id": signals_of(vendor_id="old"),
    "ix_signals_vendor_symbol_id": signals_of(vendor_id="old", symbol="S1"),
    "ix_signals_symbol_id": signals_of(symbol="S1"),
    "ix_signals_deployment_id": signals_of(deployment_id="dep"),
    "ix_signals_round_id": signals_of(round_number=3),
    "ix_marketplace_vendors_created": lambda s: catalog_store.list_vendors(s, "", False, (T0, "v9"), 51),
    "ix_marketplace_vendors_name": lambda s: catalog_store.list_vendors(
        s, "", False, ("desk", T0, "v9"), 51, order="name"
    ),
    "ix_marketplace_vendors_score": lambda s: catalog_store.list_vendors(
        s, "", False, (0.5, T0, "v9"), 51, order="score"
    ),
    "ix_marketplace_vendors_activity": lambda s: catalog_store.list_vendors(
        s, "", False, (-5, T0, "v9"), 51, order="activity"
    ),
    "ix_api_tokens_created": lambda s: auth_store.list_tokens(s, None, True, (T0, "t9"), 51),
    "ix_api_tokens_vendor_created": lambda s: auth_store.list_tokens(s, "v9", True, (T0, "t9"), 51),
    "ix_training_runs_created": lambda s: run_store.list_runs(s, None, None, 0, (T0, "r9"), 51),
    "ix_training_runs_vendor_created": lambda s: run_store.list_runs(s, "v9", None, 0, (T0, "r9"), 51),
    "ix_deployments_created": lambda s: deployment_store.list_deployments(s, None, None, T0, (T0, "d9"), 51),
    "ix_deployments_vendor_created": lambda s: deployment_store.list_deployments(s, "v9", None, T0, (T0, "d9"), 51),
}


def test_every_list_query_seeks_its_index(tmp_path):
    async def scenario() -> dict[str, list[str]]:
        engine = create_engine(default_database_url(tmp_path))
        seen: list[tuple[str, object]] = []

        def record(conn, cursor, statement, parameters, context, executemany) -> None:
            seen.append((statement, parameters))

        try:
            await migrate(engine)
            event.listen(engine.sync_engine, "before_cursor_execute", record)
            plans = {}
            async with session_factory(engine)() as session:
                for index, query in CASES.items():
                    await query(session)
                    statement, parameters = seen[-1]
                    found = await (await session.connection()).exec_driver_sql(
                        "EXPLAIN QUERY PLAN " + statement,
                        parameters,  # type: ignore[arg-type]
                    )
                    plans[index] = [row[-1] for row in found]
            return plans
        finally:
            await engine.dispose()

    for index, plan in asyncio.run(scenario()).items():
        steps = [step for step in plan if f"USING INDEX {index} (" in step]  # "(": the key it seeks
        assert steps, (index, plan)
        assert steps[0].startswith("SEARCH"), (index, plan)
        assert not any("TEMP B-TREE" in step for step in plan), (index, plan)
