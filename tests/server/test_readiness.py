"""/livez and /readyz on a real server (SQLite and PostgreSQL), and what makes a replica not ready."""

from __future__ import annotations

import asyncio
import socket

import httpx
import pytest
from sqlalchemy import text

from mlmp_server.db.engine import create_engine, head_revision, migrate
from mlmp_server.limits.gcra import RedisBuckets
from mlmp_server.limits.shared import SharedBuckets, redis_client
from mlmp_server.readiness import Readiness
from tests.helpers.server_thread import ServerThread


def set_revision(database_url: str, revision: str) -> None:
    async def go() -> None:
        engine = create_engine(database_url)
        try:
            async with engine.begin() as conn:
                await conn.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": revision})
        finally:
            await engine.dispose()

    asyncio.run(go())


def test_live_and_ready_with_the_schema_current_then_ahead_then_behind(server: ServerThread, settings):
    live = httpx.get(f"{server.http_url}/livez")
    assert (live.status_code, live.json()) == (200, {"status": "live"})
    ready = httpx.get(f"{server.http_url}/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"database": "ok", "schema": f"current ({head_revision()})", "status": "ready"}
    assert ready.headers["cache-control"] == "no-store"
    # The next version migrated first (a rollout): this one stays ready.
    set_revision(settings.database_url, "0099_from_the_future")
    ahead = httpx.get(f"{server.http_url}/readyz")
    assert ahead.status_code == 200
    assert ahead.json()["schema"].startswith("ahead")
    # Behind this version's head (a restored backup): not ready, and it says what it needs.
    set_revision(settings.database_url, _first_revision())
    behind = httpx.get(f"{server.http_url}/readyz")
    assert behind.status_code == 503
    assert behind.json()["schema"].startswith("behind")
    assert head_revision() in behind.json()["schema"]
    # A revision this version cannot place (not ours, not numbered after our head): not ready either.
    set_revision(settings.database_url, "3f9a1c2b7d4e")
    unknown = httpx.get(f"{server.http_url}/readyz")
    assert unknown.status_code == 503
    assert unknown.json()["schema"].startswith("unknown")
    assert httpx.post(f"{server.http_url}/readyz").status_code == 405


def _first_revision() -> str:
    from alembic.script import ScriptDirectory

    from mlmp_server.db.engine import MIGRATIONS_DIR

    return ScriptDirectory(str(MIGRATIONS_DIR)).get_base()  # type: ignore[return-value]


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_database_that_does_not_answer_is_not_ready():
    async def go():
        engine = create_engine(f"postgresql+psycopg://postgres@127.0.0.1:{closed_port()}/mp")
        try:
            return await Readiness(engine, None, replica=False).check()
        finally:
            await engine.dispose()

    ready, parts = asyncio.run(go())
    assert not ready
    assert parts["database"].startswith("unreachable")


@pytest.mark.parametrize("replica", [True, False])
def test_a_redis_that_never_answered_keeps_a_replica_out(settings, replica: bool):
    """In replica mode a replica is ready only once Redis has answered; a single process only reports it."""
    async def go():
        engine = create_engine(settings.database_url)
        await migrate(engine)  # the SQLite one is still empty
        url = f"redis://127.0.0.1:{closed_port()}/0"
        buckets = SharedBuckets(RedisBuckets(redis_client(url), "mp:"), where=url)
        try:
            return await Readiness(engine, buckets, replica=replica).check()
        finally:
            await buckets.close()
            await engine.dispose()

    ready, parts = asyncio.run(go())
    assert parts["redis"] == "unreachable: rate limits per replica"
    assert ready is (not replica)


def test_draining_is_not_ready():
    async def go():
        engine = create_engine(f"postgresql+psycopg://postgres@127.0.0.1:{closed_port()}/mp")
        readiness = Readiness(engine, None, replica=False)
        readiness.draining = True
        try:
            return await readiness.check()
        finally:
            await engine.dispose()

    assert asyncio.run(go()) == (False, {"status": "draining"})
