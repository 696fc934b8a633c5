import asyncio
from dataclasses import replace

import pytest

from server.db.engine import SchemaBehind, create_engine, current_revision, head_revision
from server.resources import open_resources
from server.settings import Settings, default_database_url
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
