import asyncio
from dataclasses import replace

import pytest
from alembic import command
from sqlalchemy import text

from mlmp_server.db.engine import (
    SchemaBehind,
    _alembic_config,
    create_engine,
    current_revision,
    head_revision,
    migrate,
    schema_state,
)
from mlmp_server.resources import open_resources
from mlmp_server.settings import Settings, default_database_url
from tests.helpers.postgres import fresh_database


@pytest.mark.postgres
def test_start_up_refuses_a_database_whose_schema_is_behind(postgres_admin_url, tmp_path):
    with fresh_database(postgres_admin_url) as url:
        settings = Settings(data_dir=tmp_path, database_url=url.replace("postgresql://", "postgresql+psycopg://"))
        with pytest.raises(SchemaBehind, match="mp-server migrate") as caught:
            asyncio.run(open_resources(settings))
        assert "none (empty database)" in caught.value.message


def test_the_embedded_default_migrates_itself(tmp_path):
    settings = Settings(data_dir=tmp_path / "data", database_url=default_database_url(tmp_path / "data"))

    async def scenario() -> str | None:
        resources = await open_resources(settings)
        await resources.close()
        engine = create_engine(settings.database_url)
        try:
            return await current_revision(engine)
        finally:
            await engine.dispose()

    assert asyncio.run(scenario()) == head_revision()


def test_another_sqlite_file_is_not_migrated_silently(tmp_path):
    data = tmp_path / "data"
    settings = Settings(data_dir=data, database_url=default_database_url(tmp_path / "elsewhere"))
    with pytest.raises(SchemaBehind):
        asyncio.run(open_resources(replace(settings)))


def test_the_embedded_database_is_readable_by_its_owner_only(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "marketplace.db").touch(mode=0o644)  # left by an older version
    settings = Settings(data_dir=data, database_url=default_database_url(data))

    async def scenario() -> None:
        resources = await open_resources(settings)
        await resources.close()

    asyncio.run(scenario())
    for name in ("marketplace.db", "marketplace.db-wal", "marketplace.db-shm"):
        path = data / name
        if path.exists():
            assert path.stat().st_mode & 0o777 == 0o600, name


def test_a_fresh_embedded_database_is_created_private(tmp_path):
    settings = Settings(data_dir=tmp_path / "fresh", database_url=default_database_url(tmp_path / "fresh"))

    async def scenario() -> None:
        resources = await open_resources(settings)
        await resources.close()

    asyncio.run(scenario())
    assert (tmp_path / "fresh" / "marketplace.db").stat().st_mode & 0o777 == 0o600


def test_keyset_revision_ranks_the_vendors_already_listed(database_url):
    """0007 fills the catalog's activity and score ranks from the rows already stored."""

    async def scenario() -> list[tuple]:
        engine = create_engine(database_url)
        try:
            async with engine.begin() as conn:
                await conn.run_sync(lambda sync: command.upgrade(_alembic_config(sync), "0006"))
                for statement in [
                    "INSERT INTO marketplace_vendors (id, slug, display_name, created_at) VALUES "
                    "('a', 'a', 'A', '2026-01-01 00:00:00'), ('b', 'b', 'B', '2026-01-01 00:00:00'), "
                    "('c', 'c', 'C', '2026-01-01 00:00:00')",
                    "INSERT INTO deployments (id, vendor_id, name, provider, state, links, external_id, message, "
                    "created_at, updated_at, last_signal_at, deleted_at) VALUES "
                    "('d1', 'a', 'm', 'local', 'live', '{}', '', '', '2026-01-01', '2026-01-01', "
                    "'1970-01-01 00:00:01', NULL), "
                    "('d2', 'a', 'm', 'local', 'live', '{}', '', '', '2026-01-01', '2026-01-01', NULL, NULL), "
                    "('d3', 'b', 'm', 'local', 'live', '{}', '', '', '2026-01-01', '2026-01-01', NULL, "
                    "'2026-01-02')",
                    "INSERT INTO deployment_scores (deployment_id, round_number, score, symbols, computed_at) VALUES "
                    "('d1', 1, 0.2, 2, '2026-01-01'), ('d1', 2, 0.4, 2, '2026-01-01'), "
                    "('d2', 1, 0.5, 2, '2026-01-01'), ('d3', 1, 0.9, 2, '2026-01-01')",
                ]:
                    await conn.execute(text(statement))
            await migrate(engine)
            async with engine.connect() as conn:
                found = await conn.execute(
                    text("SELECT id, activity_rank, score_rank FROM marketplace_vendors ORDER BY id")
                )
                return [tuple(row) for row in found]
        finally:
            await engine.dispose()

    # a: latest signal 1 s after 1970, best live model 0.5 (d2; d1's mean is 0.3); b: its only model is deleted
    assert asyncio.run(scenario()) == [("a", -1_000_000, -0.5), ("b", 0, 2.0), ("c", 0, 2.0)]


def test_a_revision_is_placed_against_this_versions_head():
    head = head_revision()
    number = int(head[:4])
    assert schema_state(head) == "current"
    assert schema_state(None) == "behind"
    assert schema_state("0001") == "behind"
    assert schema_state("0009_keyset_indexes") == "behind"
    assert schema_state(f"{number + 1:04d}_from_the_next_version") == "ahead"
    assert schema_state(f"{number + 7:04d}_several_versions_on") == "ahead"
    # Not ours, and not numbered after our head: nothing says this database has our revisions.
    assert schema_state(f"{number:04d}_a_sibling_of_our_head") == "unknown"
    assert schema_state("0002_from_a_branch") == "unknown"
    assert schema_state("0001_initial_schema") == "unknown"  # our first revision is "0001"
    assert schema_state(f"{number + 1:04d}") == "ahead"
    assert schema_state("3f9a1c2b7d4e") == "unknown"
    assert schema_state("head") == "unknown"
