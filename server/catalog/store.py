"""The catalog's reads: vendors with their deployments and the rounds they entered (live scores come
from server/signals/scoring.py)."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import exists, select, true, union
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.models import DatasetRound, Deployment, Signal, TrainingRun, Vendor


async def list_vendors(session: AsyncSession, slug: str, live_only: bool, offset: int, limit: int) -> list[Vendor]:
    query = select(Vendor)
    if slug:
        query = query.where(Vendor.slug == slug)
    if live_only:
        query = query.where(
            exists().where(
                Deployment.vendor_id == Vendor.id, Deployment.state == "live", Deployment.deleted_at.is_(None)
            )
        )
    rows = await session.scalars(query.order_by(Vendor.created_at, Vendor.id).offset(offset).limit(limit))
    return list(rows)


async def deployments_of(session: AsyncSession, vendor_ids: list[str]) -> list[Deployment]:
    """All of them, deleted ones too: their signals still count for the vendor."""
    rows = await session.scalars(
        select(Deployment).where(Deployment.vendor_id.in_(vendor_ids)).order_by(Deployment.created_at, Deployment.id)
    )
    return list(rows)


async def rounds_entered(session: AsyncSession, vendor_ids: list[str]) -> dict[str, list[int]]:
    """Rounds a vendor trained on or sent signals for. Signals are probed per (deployment, round)
    through their index, never scanned: rounds are few, signals are many."""
    signalled = exists().where(Signal.deployment_id == Deployment.id, Signal.round_number == DatasetRound.number)
    entered = union(
        select(Deployment.vendor_id, DatasetRound.number)
        .select_from(Deployment)
        .join(DatasetRound, true())  # every (deployment, round) pair is a candidate
        .where(Deployment.vendor_id.in_(vendor_ids), signalled),
        select(TrainingRun.vendor_id, TrainingRun.round_number).where(TrainingRun.vendor_id.in_(vendor_ids)),
    )
    grouped: dict[str, list[int]] = defaultdict(list)
    for vendor_id, number in await session.execute(entered):
        grouped[vendor_id].append(number)
    return {vendor_id: sorted(numbers) for vendor_id, numbers in grouped.items()}
