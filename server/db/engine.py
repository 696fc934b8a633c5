"""Database engine, sessions and schema version: SQLite (embedded default) or PostgreSQL (psycopg 3)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, event
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from mlmp_server.core.errors import FailedPrecondition
from mlmp_server.db.locks import one_replica_at_a_time

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


class SchemaBehind(FailedPrecondition):
    """The database's schema is older than this server's code."""


def create_engine(database_url: str) -> AsyncEngine:
    if database_url.startswith("sqlite"):
        _create_private(Path(database_url.split("///", 1)[1]))
        engine = create_async_engine(database_url, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _configure_sqlite)
        return engine
    return create_async_engine(database_url, pool_size=10, max_overflow=10, pool_pre_ping=True)


def _create_private(path: Path) -> None:
    """The database file, readable by its owner only (it holds token digests and every vendor's
    rows); SQLite gives its -wal and -shm files the same mode."""
    if str(path) in ("", ":memory:"):
        return
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    if path.stat().st_mode & 0o077:  # made by an older version, or by hand
        path.chmod(0o600)


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers never wait for the writer
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")  # WAL keeps this crash-safe for committed transactions
    cursor.close()


def session_factory(engine: AsyncEngine) -> async_sessionmaker:
    return async_sessionmaker(engine, expire_on_commit=False)


def _alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None
    return head


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        return await conn.run_sync(lambda sync: MigrationContext.configure(sync).get_current_revision())


async def migrate(engine: AsyncEngine, target: str = "head") -> tuple[str | None, str]:
    """Upgrades the schema to `target` (the newest revision by default); returns (before, after).

    Replicas migrating at once (each one's init step) take turns: the first upgrades, the others then find
    the schema current. Without the lock, all but one failed on the tables the first was creating."""
    async with engine.begin() as conn:
        await one_replica_at_a_time(conn, "mp:migrate")
        before = await conn.run_sync(lambda sync: MigrationContext.configure(sync).get_current_revision())
        await conn.run_sync(lambda sync: command.upgrade(_alembic_config(sync), target))
    return before, head_revision() if target == "head" else target


async def ensure_schema_current(engine: AsyncEngine, database_url: str) -> None:
    current, head = await current_revision(engine), head_revision()
    if current != head:
        raise SchemaBehind(
            f"the database schema is at revision {current or 'none (empty database)'}, this server needs "
            f"{head}. Back up the database, then run `mp-server migrate` (MP_DATABASE_URL={_redact(database_url)})."
        )


def _redact(database_url: str) -> str:
    """The URL without its password."""
    scheme, sep, rest = database_url.partition("://")
    if "@" not in rest:
        return database_url
    credentials, _, host = rest.rpartition("@")
    user = credentials.split(":", 1)[0]
    return f"{scheme}{sep}{user}:***@{host}" if ":" in credentials else database_url
