"""Revision 0008_session_parent: sessions made before it get their parent from their `session.create`
audit event; other tokens get none. SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlalchemy import select

from mlmp_server.db.engine import create_engine, migrate
from mlmp_server.db.models import ApiToken, AuditEvent

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _token(token_id: str, created_by: str | None) -> dict:
    return {"id": token_id, "digest": f"digest-{token_id}", "hint": "mpat_…abcd", "display_name": "",
            "scopes": "catalog:read", "created_at": NOW, "created_by": created_by}  # fmt: skip


def _event(action: str, actor: str, target: str) -> dict:
    return {"occurred_at": NOW, "actor": actor, "action": action, "target": target, "details": {}}


def test_existing_sessions_get_their_parent_from_the_audit_log(database_url, tmp_path):
    (tmp_path / "data").mkdir(exist_ok=True)

    async def scenario() -> dict[str, str | None]:
        engine = create_engine(database_url)
        try:
            await migrate(engine, "0006")
            tokens = ApiToken.__table__
            async with engine.begin() as conn:
                rows = [_token("tok_maker", "tok_admin"), _token("tok_session", "tok_maker"),
                        _token("tok_nested", "tok_session"), _token("tok_plain", "tok_maker")]  # fmt: skip
                await conn.execute(tokens.insert(), rows)  # names no parent_token_id, which 0006 lacks
                await conn.execute(AuditEvent.__table__.insert(), [
                    _event("token.create", "tok_admin", "tok_maker"),
                    _event("token.create", "tok_maker", "tok_session"),
                    _event("session.create", "tok_maker", "tok_session"),
                    _event("session.create", "tok_session", "tok_nested"),
                    _event("token.create", "tok_maker", "tok_plain"),
                ])  # fmt: skip
            await migrate(engine)
            async with engine.connect() as conn:
                found = await conn.execute(select(tokens.c.id, tokens.c.parent_token_id))
                return {token_id: parent for token_id, parent in found}
        finally:
            await engine.dispose()

    parents = asyncio.run(scenario())
    assert parents == {"tok_maker": None, "tok_session": "tok_maker", "tok_nested": "tok_session", "tok_plain": None}
