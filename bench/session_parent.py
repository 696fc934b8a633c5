"""Finding the live sessions a revoked token made, on SQLite: by the indexed `parent_token_id` column
(revision 0007_session_parent) against the query it replaces, which found sessions through their
`session.create` audit events. `python -m bench.session_parent` prints both and the ratio; asserts nothing."""

from __future__ import annotations

import asyncio
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from bench.quick import sized
from mlmp_server.auth import store
from mlmp_server.db.engine import create_engine, migrate, session_factory
from mlmp_server.db.models import ApiToken, AuditEvent
from mlmp_server.settings import default_database_url

NOW = datetime(2026, 12, 6, tzinfo=UTC)


async def audit_join(session, token_ids: list[str]) -> list[ApiToken]:
    """The query before 0007: a session is a token whose creation is audited as `session.create`."""
    made_by_session = (
        select(AuditEvent.id).where(AuditEvent.action == "session.create", AuditEvent.target == ApiToken.id).exists()
    )
    rows = await session.scalars(
        select(ApiToken).where(ApiToken.created_by.in_(token_ids), ApiToken.revoked_at.is_(None), made_by_session)
    )
    return list(rows)


async def fill(engine, makers: int, sessions_each: int, events_each: int) -> list[str]:
    tokens, events, maker_ids = [], [], []
    for number in range(makers):
        maker = f"tok_m{number:07d}"
        maker_ids.append(maker)
        tokens.append({"id": maker, "digest": f"d{maker}", "hint": "h", "scopes": "catalog:read", "created_at": NOW,
                       "created_by": None, "parent_token_id": None})  # fmt: skip
        events += [{"occurred_at": NOW, "actor": maker, "action": "catalog.read", "target": maker, "details": {}}] * (
            events_each
        )
        for made in range(sessions_each):
            session_id = f"tok_s{number:07d}{made:02d}"
            tokens.append({"id": session_id, "digest": f"d{session_id}", "hint": "h", "scopes": "catalog:read",
                           "created_at": NOW, "created_by": maker, "parent_token_id": maker})  # fmt: skip
            events.append({"occurred_at": NOW, "actor": maker, "action": "session.create", "target": session_id,
                           "details": {}})  # fmt: skip
    async with engine.begin() as conn:
        await conn.execute(ApiToken.__table__.insert(), tokens)
        await conn.execute(AuditEvent.__table__.insert(), events)
    return maker_ids


async def timed(sessions, query, makers: list[str]) -> tuple[float, int]:
    found = 0
    async with sessions() as session:
        await query(session, makers[:1])  # warm: the statement compiled and cached
        started = time.perf_counter()
        for maker in makers:
            found += len(await query(session, [maker]))
    return (time.perf_counter() - started) / len(makers), found


async def main() -> None:
    makers, lookups = sized((20_000, 200), (500, 50))
    data = Path(tempfile.mkdtemp()) / "data"
    data.mkdir(parents=True)
    engine = create_engine(default_database_url(data))
    try:
        await migrate(engine)
        maker_ids = await fill(engine, makers, sessions_each=2, events_each=5)
        sessions = session_factory(engine)
        sample = maker_ids[:: max(1, len(maker_ids) // lookups)][:lookups]
        column, found_column = await timed(sessions, store.live_sessions_made_by, sample)
        baseline, found_audit = await timed(sessions, audit_join, sample)
    finally:
        await engine.dispose()
    print(f"live sessions of one revoked token, {makers * 3:,} API tokens and {makers * 7:,} audit events (SQLite):")
    print(f"  by the parent_token_id column: {column * 1e3:8.3f} ms per revocation ({found_column} sessions found)")
    print(f"  baseline, through the audit log (before 0007): {baseline * 1e3:8.3f} ms ({found_audit} found)")
    print(f"  ratio audit log / column: {baseline / column:.1f}")


if __name__ == "__main__":
    asyncio.run(main())
