"""The plans PostgreSQL makes for every list query, as the real store functions build them, over tables
of realistic size that have been ANALYZE'd: each page seeks the index meant for its order and filters, with
no Sort and no Seq Scan of the listed table, so a page costs the same on page 1 and page 1,000."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from mlmp_server.auth import store as auth_store
from mlmp_server.catalog import store as catalog_store
from mlmp_server.db.engine import create_engine, migrate
from mlmp_server.deployments import store as deployment_store
from mlmp_server.settings import normalise_database_url
from mlmp_server.signals import store as signal_store
from mlmp_server.training import store as run_store
from tests.helpers.plans import assert_seeks, plan_of
from tests.helpers.postgres import fresh_database

pytestmark = [pytest.mark.postgres, pytest.mark.e2e]

T0 = datetime(2026, 1, 1, tzinfo=UTC)
# 300k signals: the "old" vendor's 2,000 come first (the smallest ids), then 200 vendors' in turn; 50 symbols,
# 10 rounds in id order. Vendors, tokens, runs and deployments by the ten thousand.
SEED = """
INSERT INTO marketplace_vendors (id, slug, display_name, created_at, activity_rank, score_rank)
SELECT 'v' || n, 'v' || n, 'Desk ' || (n % 997), timestamptz '2026-01-01' + n * interval '1 minute',
       -(n % 5000)::bigint * 1000000, (n % 200) / 100.0 - 1
FROM generate_series(0, 9999) n;
INSERT INTO marketplace_vendors (id, slug, display_name, created_at) VALUES ('old', 'old', 'Old', '2025-01-01');
INSERT INTO dataset_rounds (number, state, opens_at, closes_at, symbols, synthetic, description, created_at)
SELECT n, 'closed', '2025-01-01', '2025-01-08', '[]', false, '', '2025-01-01' FROM generate_series(1, 10) n;
INSERT INTO signals (deployment_id, vendor_id, symbol, action, score, confidence, horizon_seconds, generated_at,
                     round_number, model_version, batch_sequence, stored_at)
SELECT CASE WHEN n <= 2000 THEN 'dep_old' ELSE 'dep_' || (n % 200) || '_' || (n % 3) END,
       CASE WHEN n <= 2000 THEN 'old' ELSE 'v' || (n % 200) END,
       'S' || (n % 50), 1, 0.5, 1, 60, '2026-01-01', 1 + n / 30001, 'v1', n, '2026-01-01'
FROM generate_series(1, 300000) n;
INSERT INTO api_tokens (id, digest, hint, display_name, vendor_id, scopes, created_at)
SELECT 'tok' || n, md5(n::text), 'h', '', 'v' || (n % 500), 'signals:read',
       timestamptz '2026-01-01' + n * interval '1 second'
FROM generate_series(1, 20000) n;
INSERT INTO training_runs (id, vendor_id, task, round_number, provider, state, project, hyperparameters,
                           latest_metrics, gpu_type, external_id, message, created_at)
SELECT 'run' || n, 'v' || (n % 500), 't', 1 + n % 10, 'local', 'queued', '', '{}', '{}', '', '', '',
       timestamptz '2026-01-01' + n * interval '1 second'
FROM generate_series(1, 20000) n;
INSERT INTO deployments (id, vendor_id, name, provider, state, links, external_id, message, created_at, updated_at)
SELECT 'dep' || n, 'v' || (n % 500), 'm', 'local', 'live', '{}', '', '',
       timestamptz '2026-01-01' + n * interval '1 second', timestamptz '2026-01-01'
FROM generate_series(1, 20000) n;
ANALYZE;
"""


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


SIGNALS = {
    "ix_signals_vendor_id": {"vendor_id": "old"},
    "ix_signals_symbol_id": {"symbol": "S7"},
    "ix_signals_deployment_id": {"deployment_id": "dep_old"},
    "ix_signals_round_id": {"round_number": 1},
    "ix_signals_vendor_symbol_id": {"vendor_id": "v7", "symbol": "S7"},
}


@pytest.mark.parametrize("after", [None, (150_001,)], ids=["first", "later"])
@pytest.mark.parametrize("index", list(SIGNALS))
def test_signal_pages_seek_their_index(sessions, index, after):
    filters = {"symbol": "", "vendor_id": None, "deployment_id": "", "round_number": 0, **SIGNALS[index]}
    plan = plan_of(sessions, lambda s: signal_store.list_signals(s, **filters, after=after, limit=51))
    assert_seeks(plan, index, "signals", sorts=index == "ix_signals_vendor_symbol_id")


CATALOG = {
    "": ("ix_marketplace_vendors_created", (T0, "v5000")),
    "name": ("ix_marketplace_vendors_name", ("desk 5", T0, "v5000")),
    "activity": ("ix_marketplace_vendors_activity", (-2_000_000_000, T0, "v5000")),
    "score": ("ix_marketplace_vendors_score", (0.25, T0, "v5000")),
}


@pytest.mark.parametrize("later", [False, True], ids=["first", "later"])
@pytest.mark.parametrize("order", list(CATALOG))
def test_catalog_pages_seek_the_index_of_their_order(sessions, order, later):
    index, after = CATALOG[order]
    plan = plan_of(
        sessions, lambda s: catalog_store.list_vendors(s, "", False, after if later else None, 21, order=order)
    )
    assert_seeks(plan, index, "marketplace_vendors")


def test_admin_vendor_pages_seek_the_creation_index(sessions):
    plan = plan_of(sessions, lambda s: auth_store.list_vendors(s, (T0, "v5000"), 51))
    assert_seeks(plan, "ix_marketplace_vendors_created", "marketplace_vendors")


@pytest.mark.parametrize(("vendor", "index"), [(None, "created"), ("v7", "vendor_created")])
def test_token_run_and_deployment_pages_seek_their_index(sessions, vendor, index):
    after = (T0 + timedelta(seconds=10_000), "x")  # halfway
    plan = plan_of(sessions, lambda s: auth_store.list_tokens(s, vendor, True, after, 51))
    assert_seeks(plan, f"ix_api_tokens_{index}", "api_tokens", sorts=vendor is not None)
    plan = plan_of(sessions, lambda s: run_store.list_runs(s, vendor, None, 0, after, 51))
    assert_seeks(plan, f"ix_training_runs_{index}", "training_runs", sorts=vendor is not None)
    plan = plan_of(sessions, lambda s: deployment_store.list_deployments(s, vendor, None, T0, after, 51))
    assert_seeks(plan, f"ix_deployments_{index}", "deployments", sorts=vendor is not None)
