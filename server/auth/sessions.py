"""Browser sessions: short-lived API tokens made from the token a person signs in with.

A session token carries its maker's vendor and scopes and lives at most SESSION_TTL, never past the
token it was made from. Its `parent_token_id` is that token: it lets EndSession tell a session (which
may end itself) from any other token (which may not), and revoking the parent ends the session.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from mlmp_server.auth import rules as accounts
from mlmp_server.auth import store as api_tokens
from mlmp_server.core.errors import FailedPrecondition, NotFound
from mlmp_server.core.principal import Principal
from mlmp_server.core.tokens import TokenDigester
from mlmp_server.db import audit
from mlmp_server.db.models import ApiToken, Vendor

SESSION_TTL = timedelta(hours=8)
SESSION_NAME = "web session"


def session_lifetime(principal: Principal, asked: timedelta | None, now: datetime) -> timedelta:
    lifetime = min(asked or SESSION_TTL, SESSION_TTL)
    if principal.expires_at is not None:
        left = datetime.fromtimestamp(principal.expires_at, UTC) - now
        if left <= timedelta(0):
            raise FailedPrecondition("this token has expired; sign in with a valid one")
        lifetime = min(lifetime, left)
    return lifetime


async def create_session(
    session: AsyncSession,
    digester: TokenDigester,
    principal: Principal,
    *,
    secret: str,
    asked: timedelta | None,
    now: datetime,
) -> tuple[ApiToken, Vendor | None]:
    token, vendor = await accounts.issue_api_token(
        session,
        digester,
        secret=secret,
        vendor_ref=principal.vendor_id,
        scopes=sorted(principal.scopes),
        display_name=SESSION_NAME,
        ttl=session_lifetime(principal, asked, now),
        actor=principal.token_id,
        now=now,
    )
    token.parent_token_id = principal.token_id
    audit.record(session, actor=principal.token_id, action="session.create", target=token.id, at=now)
    return token, vendor


async def end_session(session: AsyncSession, principal: Principal, now: datetime) -> tuple[ApiToken, Vendor | None]:
    token = await api_tokens.get_token(session, principal.token_id)
    if token is None:
        raise NotFound("the token presented is not an API token")
    if not await api_tokens.is_session_token(session, token.id):
        raise FailedPrecondition(
            "only a session token ends this way; revoke other tokens with `mp admin tokens revoke`"
        )
    if token.revoked_at is None:
        token.revoked_at = now
        audit.record(session, actor=token.id, action="session.end", target=token.id, at=now)
    vendor = await api_tokens.get_vendor(session, token.vendor_id) if token.vendor_id else None
    return token, vendor
