"""`mp-server migrate` run by several replicas at once (each replica's init step, say) on a fresh PostgreSQL
database: one upgrades, the others wait for it and find the schema current."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlmp_server.db.engine import create_engine, current_revision, head_revision
from mlmp_server.settings import normalise_database_url
from tests.helpers.postgres import fresh_database

pytestmark = pytest.mark.postgres

MP_SERVER = Path(sys.executable).with_name("mp-server")


def revision_of(url: str) -> str | None:
    async def read() -> str | None:
        engine = create_engine(url)
        try:
            return await current_revision(engine)
        finally:
            await engine.dispose()

    return asyncio.run(read())


def test_migrations_run_at_once_by_three_replicas_all_succeed(postgres_admin_url, tmp_path):
    with fresh_database(postgres_admin_url) as admin_url:
        url = normalise_database_url(admin_url)
        env = {**os.environ, "MP_DATABASE_URL": url, "MP_DATA_DIR": str(tmp_path), "MP_SECRET_KEY": "s" * 43}
        runs = [
            subprocess.Popen([str(MP_SERVER), "migrate"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True)  # fmt: skip
            for _ in range(3)
        ]
        outputs = [run.communicate(timeout=90)[0] for run in runs]
        assert [run.returncode for run in runs] == [0, 0, 0], [output[-400:] for output in outputs]
        assert sum("migrated from empty" in output for output in outputs) == 1
        assert revision_of(url) == head_revision()
