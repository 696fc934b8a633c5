"""A vendor's self-service on its own API tokens: listing, issuing and revoking them without an operator.

The rules that keep it from being an escalation: a vendor token reaches only its own vendor's tokens
(another's is NOT_FOUND, as for an unknown id); a new token carries only scopes the calling token has
(never `admin`), lives at most VENDOR_MAX_TTL and never past the calling token, so a browser session
(8 hours at most) cannot turn itself into a long-lived token.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from mlmp_marketplace.v1.options_pb2 import PrincipalKind
from mlmp_server.auth import rules as accounts
from mlmp_server.auth import store
from mlmp_server.core.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from mlmp_server.core.principal import Principal
from mlmp_server.core.tokens import TokenDigester
from mlmp_server.db.models import ApiToken, Vendor

VENDOR_DEFAULT_TTL = timedelta(days=90)
VENDOR_MAX_TTL = timedelta(days=365)


def _vendor_of(principal: Principal) -> str:
    # The contract lets only vendor tokens call these; this keeps the rule true without the interceptor.
    if principal.kind != PrincipalKind.PRINCIPAL_KIND_VENDOR or not principal.vendor_id:
        raise PermissionDenied("only a vendor's API token manages its vendor's tokens")
    return principal.vendor_id


def granted_scopes(principal: Principal, asked: list[str]) -> list[str]:
    """The asked scopes, checked as any token's are, and each one the calling token has itself."""
    scopes = accounts.check_scopes(asked, has_vendor=True)
    lacking = [scope for scope in scopes if not principal.has_scope(scope)]
    if lacking:
        held = ", ".join(sorted(principal.scopes))
        raise PermissionDenied(
            f"this token cannot give the scope {', '.join(lacking)}, which it does not have (it has: {held})"
        )
    return scopes


def vendor_token_lifetime(principal: Principal, asked: timedelta | None, now: datetime) -> timedelta:
    """Asked (or VENDOR_DEFAULT_TTL), at most VENDOR_MAX_TTL and never past the calling token. An unset
    ttl shrinks to what the caller has left; an asked one that outlives the caller is refused."""
    if asked is not None and not timedelta(minutes=1) <= asked <= VENDOR_MAX_TTL:
        raise InvalidArgument("ttl must be between 1 minute and 365 days")
    lifetime = asked or VENDOR_DEFAULT_TTL
    if principal.expires_at is None:
        return lifetime
    expires = datetime.fromtimestamp(principal.expires_at, UTC)
    left = expires - now
    if left <= timedelta(0):
        raise FailedPrecondition("this token has expired; sign in with a valid one")
    if asked is not None and asked > left:
        raise InvalidArgument(
            f"a token made with this one cannot outlive it: it expires at {expires:%Y-%m-%d %H:%M:%S} UTC "
            f"(ttl at most {int(left.total_seconds())} s); for a longer-lived token use one that lives longer"
        )
    return min(lifetime, left)


async def issue_own_token(
    session: AsyncSession,
    digester: TokenDigester,
    principal: Principal,
    *,
    secret: str,
    scopes: list[str],
    display_name: str,
    ttl: timedelta | None,
    now: datetime,
) -> tuple[ApiToken, Vendor | None]:
    vendor_id = _vendor_of(principal)
    return await accounts.issue_api_token(
        session,
        digester,
        secret=secret,
        vendor_ref=vendor_id,
        scopes=granted_scopes(principal, scopes),
        display_name=display_name,
        ttl=vendor_token_lifetime(principal, ttl, now),
        actor=principal.token_id,
        now=now,
    )


async def list_own_tokens(
    session: AsyncSession, principal: Principal, include_revoked: bool, after: Sequence[object] | None, limit: int
) -> list[tuple[ApiToken, Vendor | None]]:
    return await store.list_tokens(session, _vendor_of(principal), include_revoked, after, limit)


async def revoke_own_token(
    session: AsyncSession, principal: Principal, token_id: str, now: datetime
) -> tuple[ApiToken, Vendor | None, list[str]]:
    """Revokes one of the vendor's tokens and the sessions signed in with it; see rules.revoke_api_token."""
    vendor_id = _vendor_of(principal)
    token = await store.get_token(session, token_id)
    if token is None or token.vendor_id != vendor_id:
        raise NotFound(f"no API token {token_id!r}; `mp tokens list` shows yours")
    if token.id == principal.token_id:
        raise FailedPrecondition("a token cannot revoke itself; sign out, or revoke it with another of your tokens")
    return await accounts.revoke_api_token(session, token_id, actor=principal.token_id, now=now)
