"""A rolling upgrade (README, "Deployment: replicas"): version N+1's `mp-server migrate` runs first, so a replica
of version N that (re)starts then finds a schema ahead of its own. It starts (with a warning) and is ready; its own
`mp-server migrate` leaves the schema as it is. A schema behind, or at a revision it cannot place, is refused.

Version N+1 is played by this version's migrations plus one more whose down_revision is this version's head."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import httpx
import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import text

from mlmp_server.db.engine import MIGRATIONS_DIR, _alembic_config, create_engine, head_revision
from mlmp_server.settings import normalise_database_url
from tests.helpers.postgres import fresh_database
from tests.helpers.processes import ServerProcess, mp_server_env, run

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

NEXT_TABLE = "added_by_the_next_version"


def next_revision() -> str:
    return f"{int(head_revision()[:4]) + 1:04d}_from_the_next_version"


def next_version_migrations(root: Path) -> Path:
    """This version's migrations and one more after its head: what version N+1 ships."""
    scripts = root / "migrations"
    shutil.copytree(MIGRATIONS_DIR, scripts, ignore=shutil.ignore_patterns("__pycache__"))
    revision = next_revision()
    (scripts / "versions" / f"{revision}.py").write_text(
        f'''"""The next version's addition (additive, as every migration is)."""

import sqlalchemy as sa
from alembic import op

revision = "{revision}"
down_revision = "{head_revision()}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("{NEXT_TABLE}", sa.Column("id", sa.Integer, primary_key=True))


def downgrade() -> None:
    op.drop_table("{NEXT_TABLE}")
'''
    )
    return scripts


def run_sql(database_url: str, work) -> object:
    async def go() -> object:
        engine = create_engine(database_url)
        try:
            async with engine.begin() as conn:
                return await conn.run_sync(work)
        finally:
            await engine.dispose()

    return asyncio.run(go())


def migrate_with(database_url: str, scripts: Path) -> None:
    def upgrade(sync) -> None:
        config = _alembic_config(sync)
        config.set_main_option("script_location", str(scripts))
        command.upgrade(config, "head")

    run_sql(database_url, upgrade)


def revision_and_tables(database_url: str) -> tuple[str, bool]:
    def read(sync) -> tuple[str, bool]:
        revision = sync.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
        table = sync.execute(text("SELECT to_regclass(:name) IS NOT NULL"), {"name": NEXT_TABLE}).scalar_one()
        return revision, table

    return run_sql(database_url, read)  # type: ignore[return-value]


def test_a_replica_of_version_n_starts_on_the_schema_version_n_plus_1_migrated(postgres_admin_url, tmp_path: Path):
    with fresh_database(postgres_admin_url) as admin_url:
        url = normalise_database_url(admin_url)
        env = mp_server_env(tmp_path / "data", url)  # version N's migrate, on an empty database
        migrate_with(url, next_version_migrations(tmp_path))  # then version N+1's
        assert revision_and_tables(url) == (next_revision(), True)
        server = ServerProcess(env)  # before: refused ("this server needs 00NN_…")
        try:
            said = server.output()
            assert f"the database schema is at revision {next_revision()}, ahead of this version's" in said
            ready = httpx.get(f"{server.api_url}/readyz", timeout=10)
            assert ready.status_code == 200, ready.text
            assert ready.json()["schema"] == f"ahead: at {next_revision()}, migrated by a newer version"
            who = httpx.get(f"{server.api_url}/api/whoami", headers={"Authorization": f"Bearer {server.admin_token}"})
            assert who.status_code == 200, who.text  # it serves
        finally:
            server.stop()
        # Version N's own `mp-server migrate` (say, its init step on that restart) leaves the newer schema alone.
        migrated = run("mp-server", "migrate", env=env)
        assert migrated.returncode == 0, migrated.stdout + migrated.stderr
        assert f"already at revision {next_revision()}" in migrated.stdout
        assert revision_and_tables(url) == (next_revision(), True)


def previous_revision() -> str:
    down = ScriptDirectory(str(MIGRATIONS_DIR)).get_revision(head_revision()).down_revision
    assert isinstance(down, str)
    return down


@pytest.mark.parametrize(
    ("revision", "says"),
    [
        (previous_revision(), f"this server needs {head_revision()}. Back up the database, then run `mp-server"),
        # A revision numbered before the head that this version does not know: from a build that never shipped.
        ("0001_from_a_branch", "is neither one of this server's revisions nor one numbered after its head"),
        ("3f9a1c2b7d4e", "is neither one of this server's revisions nor one numbered after its head"),  # not ours
    ],
    ids=["behind", "unknown-lower-number", "foreign"],
)
def test_a_schema_behind_or_unknown_is_refused(postgres_admin_url, tmp_path: Path, revision: str, says: str):
    with fresh_database(postgres_admin_url) as admin_url:
        url = normalise_database_url(admin_url)
        env = mp_server_env(tmp_path / "data", url)
        run_sql(url, lambda sync: sync.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": revision}))
        refused = run("mp-server", env=env, timeout=60)
        assert refused.returncode != 0
        said = " ".join((refused.stdout + refused.stderr).split())
        assert f"the database schema is at revision {revision}" in said
        assert says in said
