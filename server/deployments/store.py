"""Deployment rows, their tokens, and their signal destinations (linking, the durable delivery position
per destination, leases, and the signals a delivery carries).

A deployment's signal ids grow in commit order: ingest locks the deployment's row (its counters) before
its rows get ids, so a signal committed later never has a smaller id. A position "delivered through
signal id N" therefore never skips a signal that commits afterwards.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from mlmp_server.core.ids import new_id
from mlmp_server.db.keyset import equal_if, seek
from mlmp_server.db.models import Deployment, DeploymentToken, Signal, SignalDestination, Vendor

DEPLOYMENT_KEY = (datetime, str)  # the sort key of deployment listings: (created_at, id), newest first


def deployment_key(deployment: Deployment) -> tuple[datetime, str]:
    return deployment.created_at, deployment.id


async def add_deployment(session: AsyncSession, deployment: Deployment) -> None:
    session.add(deployment)
    await session.flush()


def add_token(session: AsyncSession, token: DeploymentToken) -> None:
    session.add(token)


async def get_deployment(session: AsyncSession, deployment_id: str, *, for_update: bool = False) -> Deployment | None:
    """None for a deleted one too."""
    query = select(Deployment).where(Deployment.id == deployment_id, Deployment.deleted_at.is_(None))
    if for_update:
        query = query.with_for_update()
    return await session.scalar(query)


async def list_deployments(
    session: AsyncSession,
    vendor_id: str | None,
    state: str | None,
    healthy_since: datetime,
    after: Sequence[object] | None,
    limit: int,
) -> list[Deployment]:
    """Newest first, past the deployment whose `deployment_key` is `after`. `state` may be the derived ones
    too: `live` with a heartbeat since `healthy_since`, else `unhealthy`."""
    query = select(Deployment).where(Deployment.deleted_at.is_(None))
    if state == "unhealthy":
        query = query.where(Deployment.state == "live", Deployment.last_heartbeat_at < healthy_since)
    elif state == "live":
        query = query.where(Deployment.state == "live", Deployment.last_heartbeat_at >= healthy_since)
    elif state:
        query = query.where(Deployment.state == state)
    key = [Deployment.created_at, Deployment.id]
    rows = await session.scalars(
        seek(query, key, after, descending=True, equal=equal_if(Deployment.vendor_id, vendor_id)).limit(limit)
    )
    return list(rows)


async def active_token_ids(session: AsyncSession, deployment_id: str) -> list[str]:
    rows = await session.scalars(
        select(DeploymentToken.id).where(
            DeploymentToken.deployment_id == deployment_id, DeploymentToken.revoked_at.is_(None)
        )
    )
    return list(rows)


async def revoke_tokens(session: AsyncSession, deployment_id: str, now: datetime) -> None:
    await session.execute(
        update(DeploymentToken)
        .where(DeploymentToken.deployment_id == deployment_id, DeploymentToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )


async def token_hint(session: AsyncSession, deployment_id: str) -> str:
    found = await session.scalar(
        select(DeploymentToken.hint)
        .where(DeploymentToken.deployment_id == deployment_id, DeploymentToken.revoked_at.is_(None))
        .order_by(DeploymentToken.created_at.desc())
        .limit(1)
    )
    return found or ""


async def link_destination(
    session: AsyncSession, deployment_id: str, url: str, seed: bytes, now: datetime
) -> SignalDestination:
    """Links `url`; linking it again gives it a new secret seed and keeps its position. A new
    destination receives the signals stored from now on."""
    found = await session.scalar(
        select(SignalDestination).where(SignalDestination.deployment_id == deployment_id, SignalDestination.url == url)
    )
    if found is not None:
        found.secret_seed = seed
        return found
    latest = await session.scalar(select(func.max(Signal.id)).where(Signal.deployment_id == deployment_id))
    destination = SignalDestination(
        id=new_id("dst"), deployment_id=deployment_id, url=url, secret_seed=seed, created_at=now,
        delivered_through=latest or 0, attempts=0, last_error="",
    )  # fmt: skip
    session.add(destination)
    await session.flush()
    return destination


async def unlink_destination(session: AsyncSession, deployment_id: str, url: str) -> bool:
    result = await session.execute(
        delete(SignalDestination)
        .where(SignalDestination.deployment_id == deployment_id, SignalDestination.url == url)
        .returning(SignalDestination.id)
    )
    return result.first() is not None


async def destinations_of(session: AsyncSession, deployment_ids: list[str]) -> dict[str, list[SignalDestination]]:
    found: dict[str, list[SignalDestination]] = {deployment_id: [] for deployment_id in deployment_ids}
    if deployment_ids:
        rows = await session.scalars(
            select(SignalDestination)
            .where(SignalDestination.deployment_id.in_(deployment_ids))
            .order_by(SignalDestination.created_at, SignalDestination.id)
        )
        for row in rows:
            found[row.deployment_id].append(row)
    return found


async def due_destinations(session: AsyncSession, now: datetime, limit: int) -> list[str]:
    """Destinations with something to deliver, not waiting for a retry, not leased by a live worker."""
    undelivered = exists(
        select(Signal.id).where(
            Signal.deployment_id == SignalDestination.deployment_id, Signal.id > SignalDestination.delivered_through
        )
    )
    rows = await session.scalars(
        select(SignalDestination.id)
        .join(Deployment, Deployment.id == SignalDestination.deployment_id)
        .where(
            Deployment.deleted_at.is_(None),
            or_(SignalDestination.next_attempt_at.is_(None), SignalDestination.next_attempt_at <= now),
            or_(SignalDestination.lease_until.is_(None), SignalDestination.lease_until < now),
            or_(SignalDestination.pending_through.is_not(None), undelivered),
        )
        .order_by(SignalDestination.id)
        .limit(limit)
    )
    return list(rows)


async def take_lease(
    session: AsyncSession, destination_id: str, owner: str, now: datetime, until: datetime
) -> SignalDestination | None:
    """The destination, leased to `owner` until `until`; None when another worker holds it."""
    result = await session.execute(
        update(SignalDestination)
        .where(
            SignalDestination.id == destination_id,
            or_(
                SignalDestination.lease_until.is_(None),
                SignalDestination.lease_until < now,
                SignalDestination.lease_owner == owner,
            ),
        )
        .values(lease_owner=owner, lease_until=until)
        .returning(SignalDestination.id)
    )
    if result.first() is None:
        return None
    return await session.get(SignalDestination, destination_id, populate_existing=True)


async def claim_range(session: AsyncSession, destination: SignalDestination, limit: int) -> int | None:
    """The last signal id of the delivery to attempt: the pending one, else the next `limit` signals
    (fixed now, so retries carry the same signals); None when nothing is left to deliver."""
    if destination.pending_through is None:
        ids = select(Signal.id).where(
            Signal.deployment_id == destination.deployment_id, Signal.id > destination.delivered_through
        )
        through = await session.scalar(select(func.max(ids.order_by(Signal.id).limit(limit).subquery().c.id)))
        if through is None:
            return None
        destination.pending_through = through
    return destination.pending_through


async def signals_between(
    session: AsyncSession, deployment_id: str, after: int, through: int
) -> list[tuple[Signal, Vendor]]:
    rows = await session.execute(
        select(Signal, Vendor)
        .join(Vendor, Signal.vendor_id == Vendor.id)
        .where(Signal.deployment_id == deployment_id, Signal.id > after, Signal.id <= through)
        .order_by(Signal.id)
    )
    return [(signal, vendor) for signal, vendor in rows]


async def record_attempt(
    session: AsyncSession,
    destination_id: str,
    owner: str,
    *,
    through: int,
    error: str,
    now: datetime,
    retry_at: datetime | None,
) -> bool:
    """Moves the position past `through` when `error` is empty, else counts a failed attempt; False when
    the lease was lost (or the destination unlinked) meanwhile, and nothing changed."""
    values: dict = {"last_attempt_at": now, "last_error": error, "next_attempt_at": retry_at}
    if error:
        values["attempts"] = SignalDestination.attempts + 1
    else:
        values |= {"delivered_through": through, "pending_through": None, "attempts": 0}
    result = await session.execute(
        update(SignalDestination)
        .where(
            SignalDestination.id == destination_id,
            SignalDestination.lease_owner == owner,
            SignalDestination.pending_through == through,
        )
        .values(**values)
        .returning(SignalDestination.id)
    )
    return result.first() is not None


async def release_leases(session: AsyncSession, owner: str, destination_ids: list[str] | None = None) -> None:
    query = update(SignalDestination).where(SignalDestination.lease_owner == owner)
    if destination_ids is not None:
        query = query.where(SignalDestination.id.in_(destination_ids))
    await session.execute(query.values(lease_owner=None, lease_until=None))
