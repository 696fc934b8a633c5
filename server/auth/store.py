"""Vendor rows, API token rows (keyed digests only), and the token look-ups introspection makes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from mlmp_server.db.keyset import equal_if, seek
from mlmp_server.db.models import (
    ApiToken,
    Deployment,
    DeploymentToken,
    Invitation,
    RunToken,
    TrainingRun,
    Vendor,
)


async def find_vendor(session: AsyncSession, ref: str) -> Vendor | None:
    """By id (`vnd_…`) or slug."""
    return await session.scalar(select(Vendor).where(or_(Vendor.id == ref, Vendor.slug == ref)))


async def get_vendor(session: AsyncSession, vendor_id: str) -> Vendor | None:
    return await session.get(Vendor, vendor_id)


VENDOR_KEY = (datetime, str)  # the sort key of vendor listings: (created_at, id)


def vendor_key(vendor: Vendor) -> tuple[datetime, str]:
    return vendor.created_at, vendor.id


async def list_vendors(session: AsyncSession, after: Sequence[object] | None, limit: int) -> list[Vendor]:
    """In the order they were listed in, past the vendor whose `vendor_key` is `after`."""
    rows = await session.scalars(seek(select(Vendor), [Vendor.created_at, Vendor.id], after).limit(limit))
    return list(rows)


def add_vendor(session: AsyncSession, vendor: Vendor) -> None:
    session.add(vendor)


async def is_session_token(session: AsyncSession, token_id: str) -> bool:
    """Whether the token is a browser session (CreateSession gives it a parent)."""
    parent = select(ApiToken.parent_token_id).where(ApiToken.id == token_id)
    return await session.scalar(parent) is not None


async def live_sessions_made_by(session: AsyncSession, token_ids: list[str]) -> list[ApiToken]:
    """Unrevoked session tokens whose parent is one of `token_ids` (an indexed column)."""
    rows = await session.scalars(
        select(ApiToken).where(ApiToken.parent_token_id.in_(token_ids), ApiToken.revoked_at.is_(None))
    )
    return list(rows)


async def any_token(session: AsyncSession) -> bool:
    return await session.scalar(select(ApiToken.id).limit(1)) is not None


def add_token(session: AsyncSession, token: ApiToken) -> None:
    session.add(token)


async def find_by_digest(session: AsyncSession, digest: str) -> tuple[ApiToken, Vendor | None] | None:
    return await _first(
        session,
        select(ApiToken, Vendor).outerjoin(Vendor, ApiToken.vendor_id == Vendor.id).where(ApiToken.digest == digest),
    )


async def find_deployment_token(
    session: AsyncSession, digest: str
) -> tuple[DeploymentToken, Deployment, Vendor] | None:
    return await _first(
        session,
        select(DeploymentToken, Deployment, Vendor)
        .join(Deployment, DeploymentToken.deployment_id == Deployment.id)
        .join(Vendor, Deployment.vendor_id == Vendor.id)
        .where(DeploymentToken.digest == digest),
    )


async def get_token(session: AsyncSession, token_id: str) -> ApiToken | None:
    return await session.get(ApiToken, token_id)


TOKEN_KEY = (datetime, str)  # the sort key of token listings: (created_at, id)


def token_key(row: tuple[ApiToken, Vendor | None]) -> tuple[datetime, str]:
    return row[0].created_at, row[0].id


async def list_tokens(
    session: AsyncSession, vendor_id: str | None, include_revoked: bool, after: Sequence[object] | None, limit: int
) -> list[tuple[ApiToken, Vendor | None]]:
    """Oldest first, past the token whose `token_key` is `after`."""
    query = select(ApiToken, Vendor).outerjoin(Vendor, ApiToken.vendor_id == Vendor.id)
    if not include_revoked:
        query = query.where(ApiToken.revoked_at.is_(None))
    rows = await session.execute(
        seek(query, [ApiToken.created_at, ApiToken.id], after, equal=equal_if(ApiToken.vendor_id, vendor_id)).limit(
            limit
        )
    )
    return [(token, vendor) for token, vendor in rows]


async def find_run_token(session: AsyncSession, digest: str) -> tuple[RunToken, TrainingRun, Vendor] | None:
    return await _first(
        session,
        select(RunToken, TrainingRun, Vendor)
        .join(TrainingRun, RunToken.run_id == TrainingRun.id)
        .join(Vendor, TrainingRun.vendor_id == Vendor.id)
        .where(RunToken.digest == digest),
    )


async def tokens_by_id(
    session: AsyncSession, api: Sequence[str], deployment: Sequence[str], run: Sequence[str]
) -> tuple[list[Any], list[Any], list[Any]]:
    """The rows introspection reads, by token id rather than digest: (ApiToken, Vendor | None),
    (DeploymentToken, Deployment, Vendor) and (RunToken, TrainingRun, Vendor) tuples, for the ids
    given (re-checking open streams after notifications may have been missed)."""
    found_api = (
        await session.execute(
            select(ApiToken, Vendor).outerjoin(Vendor, ApiToken.vendor_id == Vendor.id).where(ApiToken.id.in_(api))
        )
        if api
        else None
    )
    found_deployment = (
        await session.execute(
            select(DeploymentToken, Deployment, Vendor)
            .join(Deployment, DeploymentToken.deployment_id == Deployment.id)
            .join(Vendor, Deployment.vendor_id == Vendor.id)
            .where(DeploymentToken.id.in_(deployment))
        )
        if deployment
        else None
    )
    found_run = (
        await session.execute(
            select(RunToken, TrainingRun, Vendor)
            .join(TrainingRun, RunToken.run_id == TrainingRun.id)
            .join(Vendor, TrainingRun.vendor_id == Vendor.id)
            .where(RunToken.id.in_(run))
        )
        if run
        else None
    )
    return tuple(  # type: ignore[return-value]
        [tuple(row) for row in found] if found is not None else []
        for found in (found_api, found_deployment, found_run)
    )


async def _first(session: AsyncSession, query: Select[*tuple[Any, ...]]) -> Any:
    """The first row of the query as a tuple; None when it finds none."""
    row = (await session.execute(query)).first()
    return tuple(row) if row else None


# Invitations (the code's keyed digest only).


def add_invitation(session: AsyncSession, invitation: Invitation) -> None:
    session.add(invitation)


async def get_invitation(session: AsyncSession, invitation_id: str) -> Invitation | None:
    return await session.get(Invitation, invitation_id)


async def find_invitation(session: AsyncSession, digest: str) -> Invitation | None:
    return await session.scalar(select(Invitation).where(Invitation.digest == digest))


async def claim_invitation(session: AsyncSession, invitation_id: str, now: datetime) -> bool:
    """Marks the invitation used if it is still open; False when another transaction got there first.
    One conditional UPDATE: PostgreSQL makes a concurrent claim wait and then re-check the condition,
    SQLite lets one writer at a time, so exactly one claim succeeds."""
    claimed = await session.execute(
        update(Invitation)
        .where(
            Invitation.id == invitation_id,
            Invitation.accepted_at.is_(None),
            Invitation.revoked_at.is_(None),
            Invitation.expires_at > now,
        )
        .values(accepted_at=now)
        .execution_options(synchronize_session=False)
    )
    return claimed.rowcount == 1  # type: ignore[attr-defined]


INVITATION_KEY = (datetime, str)  # the sort key of invitation listings: (created_at, id), newest first


def invitation_key(row: tuple[Invitation, Vendor | None]) -> tuple[datetime, str]:
    return row[0].created_at, row[0].id


async def list_invitations(
    session: AsyncSession, open_at: datetime | None, after: Sequence[object] | None, limit: int
) -> list[tuple[Invitation, Vendor | None]]:
    """Newest first, past the invitation whose `invitation_key` is `after`; with open_at, only those neither
    used, revoked nor expired at that moment."""
    query = select(Invitation, Vendor).outerjoin(Vendor, Invitation.vendor_id == Vendor.id)
    if open_at is not None:
        query = query.where(
            Invitation.accepted_at.is_(None), Invitation.revoked_at.is_(None), Invitation.expires_at > open_at
        )
    rows = await session.execute(
        seek(query, [Invitation.created_at, Invitation.id], after, descending=True).limit(limit)
    )
    return [(invitation, vendor) for invitation, vendor in rows]
