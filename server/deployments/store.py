"""Deployment rows and their tokens."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.models import Deployment, DeploymentToken


async def list_deployments(
    session: AsyncSession, vendor_id: str | None, state: str | None, healthy_since: datetime, offset: int, limit: int
) -> list[Deployment]:
    """`state` may be the derived ones too: `live` with a heartbeat since `healthy_since`, else `unhealthy`."""
    query = select(Deployment).where(Deployment.deleted_at.is_(None))
    if vendor_id is not None:
        query = query.where(Deployment.vendor_id == vendor_id)
    if state == "unhealthy":
        query = query.where(Deployment.state == "live", Deployment.last_heartbeat_at < healthy_since)
    elif state == "live":
        query = query.where(Deployment.state == "live", Deployment.last_heartbeat_at >= healthy_since)
    elif state:
        query = query.where(Deployment.state == state)
    rows = await session.scalars(
        query.order_by(Deployment.created_at.desc(), Deployment.id).offset(offset).limit(limit)
    )
    return list(rows)


async def active_token_ids(session: AsyncSession, deployment_id: str) -> list[str]:
    rows = await session.scalars(
        select(DeploymentToken.id).where(
            DeploymentToken.deployment_id == deployment_id, DeploymentToken.revoked_at.is_(None)
        )
    )
    return list(rows)


async def of_vendors(session: AsyncSession, vendor_ids: list[str]) -> list[Deployment]:
    if not vendor_ids:
        return []
    rows = await session.scalars(
        select(Deployment)
        .where(Deployment.vendor_id.in_(vendor_ids), Deployment.deleted_at.is_(None))
        .order_by(Deployment.created_at, Deployment.id)
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
