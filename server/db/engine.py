"""Database engine, sessions and schema version: SQLite (embedded default) or PostgreSQL (psycopg 3)."""

from __future__ import annotations

import functools
import logging
import os
import re
from pathlib import Path
from typing import Any, Literal

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, event
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from mlmp_server.core.errors import FailedPrecondition
from mlmp_server.db.locks import one_replica_at_a_time

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# A revision id's number: `00NN_<topic>` (the first ones are bare `00NN`), in order along the one chain of revisions.
_NUMBERED = re.compile(r"^(\d{4})(?:_|$)")
log = logging.getLogger("mp.server")

SchemaState = Literal["current", "ahead", "behind", "unknown"]


class SchemaNotUsable(FailedPrecondition):
    """The database's schema is not one this server's code can run on."""


class SchemaBehind(SchemaNotUsable):
    """The database's schema is older than this server's code."""


class SchemaUnknown(SchemaNotUsable):
    """The database is at a revision that is neither this version's nor one numbered after its head."""


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


@functools.cache
def _scripts() -> tuple[str, frozenset[str]]:
    """This version's head revision and every revision it knows."""
    scripts = ScriptDirectory.from_config(_alembic_config())
    head = scripts.get_current_head()
    assert head is not None
    return head, frozenset(script.revision for script in scripts.walk_revisions())


def head_revision() -> str:
    return _scripts()[0]


def schema_state(revision: str | None) -> SchemaState:
    """Where the database's revision stands against this version's.

    `ahead`: a revision this version does not know whose number is higher than its head's, left by a newer
    version's `mp-server migrate` (a rolling upgrade runs it before the old replicas stop). Revisions form one
    chain numbered in order, and a database reaches a revision only through all before it, so that database
    has every revision of this one; the newer ones are additive (README, "Deployment: replicas"), so this
    version runs on it. The database keeps only its newest revision, so the number is what tells: an unknown
    revision numbered at or below the head, or not numbered at all, is `unknown` (another application's
    database, or a revision from a build that never shipped)."""
    head, known = _scripts()
    if revision == head:
        return "current"
    if revision is None or revision in known:
        return "behind"
    ours, theirs = _NUMBERED.match(head), _NUMBERED.match(revision)
    if ours and theirs and int(theirs.group(1)) > int(ours.group(1)):
        return "ahead"
    return "unknown"


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
        if target == "head" and before is not None and schema_state(before) == "ahead":
            # A newer version migrated first (a rolling upgrade); this one runs on its schema and has nothing to add.
            log.warning("the database schema is at revision %s, ahead of this version's %s: left as it is",
                        before, head_revision())  # fmt: skip
            return before, before
        await conn.run_sync(lambda sync: command.upgrade(_alembic_config(sync), target))
    return before, head_revision() if target == "head" else target


async def ensure_schema_current(engine: AsyncEngine, database_url: str) -> None:
    """Returns when this version can run on the database's schema: its own head, or a newer version's (with a
    warning). Raises SchemaBehind for an older schema, SchemaUnknown for one this version cannot place."""
    current, head = await current_revision(engine), head_revision()
    state = schema_state(current)
    if state == "ahead":
        log.warning(
            "the database schema is at revision %s, ahead of this version's %s: a newer version migrated it "
            "(a rolling upgrade); starting on it. Replace this replica with the newer version.",
            current,
            head,
        )
    elif state == "behind":
        raise SchemaBehind(
            f"the database schema is at revision {current or 'none (empty database)'}, this server needs "
            f"{head}. Back up the database, then run `mp-server migrate` (MP_DATABASE_URL={_redact(database_url)})."
        )
    elif state == "unknown":
        raise SchemaUnknown(
            f"the database schema is at revision {current}, which is neither one of this server's revisions nor "
            f"one numbered after its head {head}: is MP_DATABASE_URL={_redact(database_url)} this marketplace's "
            "database?"
        )


def _redact(database_url: str) -> str:
    """The URL without its password."""
    scheme, sep, rest = database_url.partition("://")
    if "@" not in rest:
        return database_url
    credentials, _, host = rest.rpartition("@")
    user = credentials.split(":", 1)[0]
    return f"{scheme}{sep}{user}:***@{host}" if ":" in credentials else database_url
