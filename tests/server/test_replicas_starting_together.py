"""Replicas started at once on a fresh PostgreSQL database: every one starts, the demo round is published
once and one first admin token is issued (before, two could each build round 1 and one died on the
duplicate key; two could each issue and print a first admin token)."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import replace

import psycopg
import pytest

from mlmp_server.db.engine import create_engine, migrate
from mlmp_server.settings import Settings, normalise_database_url
from tests.helpers.postgres import fresh_database
from tests.helpers.server_thread import ServerThread

pytestmark = pytest.mark.postgres

REPLICAS = 3


def migrated(url: str) -> None:
    async def run() -> None:
        engine = create_engine(url)
        try:
            await migrate(engine)
        finally:
            await engine.dispose()

    asyncio.run(run())


def test_replicas_started_together_publish_the_demo_round_once_and_one_admin_token(postgres_admin_url, tmp_path):
    with fresh_database(postgres_admin_url) as admin_url:
        url = normalise_database_url(admin_url)
        migrated(url)
        settings = Settings(data_dir=tmp_path, database_url=url, secret_key=b"s" * 32, log_level="INFO")
        servers = [ServerThread(replace(settings, data_dir=tmp_path / f"r{n}")) for n in range(REPLICAS)]
        failures: list[BaseException] = []
        go = threading.Barrier(REPLICAS)

        def start(server: ServerThread) -> None:
            go.wait()
            try:
                server.start()
            except BaseException as error:  # reported below
                failures.append(error)

        starters = [threading.Thread(target=start, args=(server,)) for server in servers]
        try:
            for starter in starters:
                starter.start()
            for starter in starters:
                starter.join(120)
            assert failures == []
            started = [server.listening for server in servers if server.listening]
            assert len(started) == REPLICAS
            # Counted, never shown: a failing assert would print the tokens.
            assert sum(listening.admin_token is not None for listening in started) == 1
        finally:
            for server in servers:
                server.stop()
        with psycopg.connect(admin_url) as conn:
            assert conn.execute("SELECT number FROM dataset_rounds").fetchall() == [(1,)]
            assert conn.execute("SELECT count(*) FROM api_tokens").fetchone() == (1,)


def test_the_demo_round_turn_keeps_no_transaction_open_while_it_builds(postgres_admin_url, tmp_path):
    # A database that ends transactions left idle (some hosted PostgreSQL do): the build takes seconds.
    with fresh_database(postgres_admin_url) as admin_url:
        url = normalise_database_url(admin_url)
        migrated(url)
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(
                f'ALTER DATABASE "{admin_url.rpartition("/")[2]}" SET idle_in_transaction_session_timeout = 300'
            )
        server = ServerThread(Settings(data_dir=tmp_path, database_url=url, log_level="INFO")).start()
        server.stop()
        with psycopg.connect(admin_url) as conn:
            assert conn.execute("SELECT number FROM dataset_rounds").fetchall() == [(1,)]
