"""Vendors and API tokens: the rules for creating, issuing and revoking them."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from functools import cache

from sqlalchemy.ext.asyncio import AsyncSession

from mlmp_marketplace.v1.options_pb2 import PrincipalKind
from mlmp_server.auth import store
from mlmp_server.core.contract import MethodRules, contract_services
from mlmp_server.core.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from mlmp_server.core.ids import new_id
from mlmp_server.core.tokens import TokenDigester, TokenType, hint, token_type_of
from mlmp_server.db import audit
from mlmp_server.db.locks import one_replica_at_a_time
from mlmp_server.db.models import ApiToken, Invitation, Vendor

# The kinds of caller an API token is (deployment and run tokens are issued by their own RPCs).
API_TOKEN_KINDS = frozenset(
    {PrincipalKind.PRINCIPAL_KIND_ADMIN, PrincipalKind.PRINCIPAL_KIND_VENDOR, PrincipalKind.PRINCIPAL_KIND_SERVICE}
)
MAX_TOKEN_TTL = timedelta(days=3650)
_SLUG = re.compile(r"^[a-z][a-z0-9-]{1,39}$")


def _required_scopes(kinds: frozenset[PrincipalKind.ValueType]) -> frozenset[str]:
    """Every scope the contract's (access) rules require of a method one of `kinds` may call."""
    rules = MethodRules.from_services(contract_services())
    return frozenset(scope for rule in rules if rule.callers & kinds for scope in rule.scopes)


@cache
def api_scopes() -> frozenset[str]:
    """Scopes an API token may carry. `x:write` implies `x:read`; `admin` implies everything."""
    return _required_scopes(API_TOKEN_KINDS)


@cache
def scopes_of_kind(kind: PrincipalKind.ValueType) -> frozenset[str]:
    """The scopes a deployment or run token carries: what the methods open to its kind require, without
    an `x:read` its `x:write` implies."""
    needed = _required_scopes(frozenset({kind}))
    return frozenset(
        scope for scope in needed if not (scope.endswith(":read") and scope.removesuffix(":read") + ":write" in needed)
    )


async def create_vendor(session: AsyncSession, *, slug: str, display_name: str, actor: str, now: datetime) -> Vendor:
    slug, display_name = slug.strip(), display_name.strip()
    if not _SLUG.match(slug):
        raise InvalidArgument(
            f"vendor slug {slug!r} is not valid: use 2–40 lowercase letters, digits or '-', starting with a letter"
        )
    if not display_name or len(display_name) > 200:
        raise InvalidArgument("display_name must be 1–200 characters (it is shown next to every signal)")
    existing = await store.find_vendor(session, slug)
    if existing is not None:
        raise AlreadyExists(f"vendor {slug!r} already exists (id {existing.id})")
    vendor = Vendor(id=new_id("vnd"), slug=slug, display_name=display_name, created_at=now)
    store.add_vendor(session, vendor)
    audit.record(session, actor=actor, action="vendor.create", target=vendor.id, at=now, slug=slug)
    return vendor


async def require_vendor(session: AsyncSession, ref: str) -> Vendor:
    vendor = await store.find_vendor(session, ref)
    if vendor is None:
        raise NotFound(f"no vendor {ref!r}; `mp admin vendors list` shows the vendors")
    return vendor


def check_scopes(scopes: list[str], has_vendor: bool) -> list[str]:
    known = api_scopes()
    cleaned = sorted({scope.strip() for scope in scopes if scope.strip()})
    if not cleaned:
        raise InvalidArgument(f"a token needs at least one scope; known scopes: {', '.join(sorted(known))}")
    unknown = [scope for scope in cleaned if scope not in known]
    if "signals:write" in unknown:
        raise InvalidArgument("signals:write belongs to deployment tokens, which `mp deploy` issues")
    if unknown:
        raise InvalidArgument(f"unknown scope {', '.join(unknown)}; known scopes: {', '.join(sorted(known))}")
    if has_vendor and "admin" in cleaned:
        raise InvalidArgument("the admin scope is for operator tokens, which belong to no vendor")
    return cleaned


async def issue_api_token(
    session: AsyncSession,
    digester: TokenDigester,
    *,
    secret: str,
    vendor_ref: str,
    scopes: list[str],
    display_name: str,
    ttl: timedelta | None,
    actor: str,
    now: datetime,
) -> tuple[ApiToken, Vendor | None]:
    vendor = await require_vendor(session, vendor_ref) if vendor_ref else None
    checked = check_scopes(scopes, has_vendor=vendor is not None)
    if ttl is not None and not timedelta(0) < ttl <= MAX_TOKEN_TTL:
        raise InvalidArgument("ttl must be positive and at most 10 years")
    token = ApiToken(
        id=new_id("tok"),
        digest=digester.digest(secret),
        hint=hint(secret),
        display_name=display_name.strip()[:200],
        vendor_id=vendor.id if vendor else None,
        scopes=" ".join(checked),
        created_at=now,
        expires_at=now + ttl if ttl else None,
        created_by=actor,
    )
    store.add_token(session, token)
    audit.record(session, actor=actor, action="token.create", target=token.id, at=now, scopes=checked)
    return token, vendor


async def revoke_api_token(
    session: AsyncSession, token_id: str, *, actor: str, now: datetime
) -> tuple[ApiToken, Vendor | None, list[str]]:
    """Revokes the token and every browser session signed in with it (or with those sessions);
    returns the token, its vendor and the ids of the sessions ended with it."""
    token = await store.get_token(session, token_id)
    if token is None:
        raise NotFound(f"no API token {token_id!r}; `mp admin tokens list` shows the tokens")
    if token.revoked_at is not None:
        raise FailedPrecondition(f"token {token_id} was already revoked at {token.revoked_at:%Y-%m-%d %H:%M:%S} UTC")
    if token_id == actor:
        raise FailedPrecondition("a token cannot revoke itself; use another admin token")
    token.revoked_at = now
    audit.record(session, actor=actor, action="token.revoke", target=token.id, at=now)
    ended: list[str] = []
    makers = [token.id]
    while makers:  # a session may have signed in another
        sessions = await store.live_sessions_made_by(session, makers)
        for made in sessions:
            made.revoked_at = now
            audit.record(session, actor=actor, action="session.end", target=made.id, at=now, parent=token.id)
        makers = [made.id for made in sessions]
        ended += makers
    vendor = await store.get_vendor(session, token.vendor_id) if token.vendor_id else None
    return token, vendor, ended


async def issue_operator_token(
    session: AsyncSession, digester: TokenDigester, secret: str, *, display_name: str, only_if_none: bool, now: datetime
) -> bool:
    """An operator token (scope `admin`); with only_if_none, only on a database with no tokens yet.
    Returns whether it was issued. Replicas starting together on a fresh database take turns here, so
    only one issues (and prints) the first token."""
    if only_if_none:
        await one_replica_at_a_time(session, "mp:first-admin-token")
    if only_if_none and await store.any_token(session):
        return False
    await issue_api_token(
        session, digester, secret=secret, vendor_ref="", scopes=["admin"], display_name=display_name, ttl=None,
        actor="mp-server", now=now,
    )  # fmt: skip
    return True


# Registration by invitation.

INVITATION_TTL = timedelta(days=7)
MAX_INVITATION_TTL = timedelta(days=30)
# The scopes of the first token a vendor gets when it registers: what `mp` needs to train, deploy and
# follow its signals (the operator page proposes the same set for a vendor token).
FIRST_TOKEN_SCOPES = ("catalog:read", "data:read", "deploy:write", "signals:read", "training:write")
_NOT_VALID = "this invitation link is not valid"


def invitation_key(digester: TokenDigester, code: str) -> str:
    """Who a retried AcceptInvitation is, for its request_id: the invitation (by its code's digest)."""
    return "inv:" + digester.digest(code)[:28]


async def create_invitation(
    session: AsyncSession,
    digester: TokenDigester,
    *,
    code: str,
    ttl: timedelta | None,
    note: str,
    actor: str,
    now: datetime,
) -> Invitation:
    lifetime = ttl or INVITATION_TTL
    if not timedelta(minutes=1) <= lifetime <= MAX_INVITATION_TTL:
        raise InvalidArgument("an invitation lives between 1 minute and 30 days (ttl)")
    invitation = Invitation(
        id=new_id("inv"),
        digest=digester.digest(code),
        hint=hint(code),
        note=note.strip()[:200],
        created_at=now,
        expires_at=now + lifetime,
        created_by=actor,
    )
    store.add_invitation(session, invitation)
    audit.record(session, actor=actor, action="invitation.create", target=invitation.id, at=now)
    return invitation


def why_closed(invitation: Invitation, now: datetime) -> str:
    """Why the invitation can no longer be used, or "" while it is open."""
    if invitation.accepted_at is not None:
        return f"{_NOT_VALID}: it was already used; ask the operator for a new one"
    if invitation.revoked_at is not None:
        return f"{_NOT_VALID}: the operator withdrew it; ask them for a new one"
    if invitation.expires_at <= now:
        return f"{_NOT_VALID}: it expired at {invitation.expires_at:%Y-%m-%d %H:%M} UTC; ask the operator for a new one"
    return ""


async def revoke_invitation(session: AsyncSession, invitation_id: str, *, actor: str, now: datetime) -> Invitation:
    invitation = await store.get_invitation(session, invitation_id)
    if invitation is None:
        raise NotFound(f"no invitation {invitation_id!r}; `mp admin vendors invitations` lists them")
    closed = why_closed(invitation, now)
    if closed:
        raise FailedPrecondition(f"invitation {invitation_id} is closed already ({closed.split(': ', 1)[1]})")
    invitation.revoked_at = now
    audit.record(session, actor=actor, action="invitation.revoke", target=invitation.id, at=now)
    return invitation


async def accept_invitation(
    session: AsyncSession,
    digester: TokenDigester,
    *,
    code: str,
    slug: str,
    display_name: str,
    secret: str,
    now: datetime,
) -> tuple[Invitation, Vendor, ApiToken]:
    """Registers the vendor and issues its first token, once per invitation. The code is checked before
    the slug, so only a holder of a valid code learns whether a slug is taken."""
    if token_type_of(code.strip()) is not TokenType.INVITATION:  # shape and checksum: no database look-up
        raise NotFound(f"{_NOT_VALID}: check that the whole link was copied")
    invitation = await store.find_invitation(session, digester.digest(code.strip()))
    if invitation is None:
        raise NotFound(f"{_NOT_VALID}: check that the whole link was copied")
    closed = why_closed(invitation, now)
    if closed:
        raise FailedPrecondition(closed)
    # The claim is this transaction's first write: a concurrent accept of the same invitation waits for
    # it and then finds the invitation used. A refused slug below rolls the claim back.
    if not await store.claim_invitation(session, invitation.id, now):
        raise FailedPrecondition(f"{_NOT_VALID}: it was already used; ask the operator for a new one")
    vendor = await create_vendor(session, slug=slug, display_name=display_name, actor=invitation.id, now=now)
    token, _ = await issue_api_token(
        session, digester, secret=secret, vendor_ref=vendor.id, scopes=list(FIRST_TOKEN_SCOPES),
        display_name="first token (registration)", ttl=None, actor=invitation.id, now=now,
    )  # fmt: skip
    invitation.accepted_at = now
    invitation.vendor_id = vendor.id
    audit.record(session, actor=invitation.id, action="invitation.accept", target=invitation.id, at=now,
                 vendor=vendor.id)  # fmt: skip
    return invitation, vendor, token


# Suspension: every token of the vendor is refused (introspection), nothing is deleted.


async def suspend_vendor(session: AsyncSession, ref: str, *, actor: str, now: datetime) -> tuple[Vendor, bool]:
    """Returns the vendor and whether this call suspended it (a retry finds it suspended already)."""
    vendor = await require_vendor(session, ref)
    if vendor.suspended_at is not None:
        return vendor, False
    vendor.suspended_at = now
    audit.record(session, actor=actor, action="vendor.suspend", target=vendor.id, at=now)
    return vendor, True


async def resume_vendor(session: AsyncSession, ref: str, *, actor: str, now: datetime) -> Vendor:
    vendor = await require_vendor(session, ref)
    if vendor.suspended_at is not None:
        vendor.suspended_at = None
        audit.record(session, actor=actor, action="vendor.resume", target=vendor.id, at=now)
    return vendor
