"""The catalog's reads: vendors with their deployments and the rounds they entered (live scores come
from server/signals/scoring.py)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, exists, func, or_, select, true, union
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.models import DatasetRound, Deployment, DeploymentScore, Signal, TrainingRun, Vendor
from server.signals import scoring


async def list_vendors(
    session: AsyncSession,
    slug: str,
    live_only: bool,
    offset: int,
    limit: int,
    *,
    words: Sequence[str] = (),
    state: StateFilter | None = None,
    order: str = "",
) -> list[Vendor]:
    """A page of vendors: of one slug, with a live model, matching every word, with a model in a state;
    in the given order ("score", "activity", "name"; else the order they were listed in). A suspended
    vendor is not listed, its models with it."""
    query = select(Vendor).where(Vendor.suspended_at.is_(None))
    if slug:
        query = query.where(Vendor.slug == slug)
    if live_only:
        query = query.where(
            exists().where(
                Deployment.vendor_id == Vendor.id, Deployment.state == "live", Deployment.deleted_at.is_(None)
            )
        )
    for word in words:
        pattern = "%" + word.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        named = exists().where(
            Deployment.vendor_id == Vendor.id,
            Deployment.deleted_at.is_(None),
            func.lower(Deployment.name).like(pattern, escape="\\"),
        )
        query = query.where(
            or_(
                func.lower(Vendor.slug).like(pattern, escape="\\"),
                func.lower(Vendor.display_name).like(pattern, escape="\\"),
                named,
            )
        )
    if state is not None:
        query = query.where(exists().where(Deployment.vendor_id == Vendor.id, *state.conditions()))
    rows = await session.scalars(
        query.order_by(*_ordering(order), Vendor.created_at, Vendor.id).offset(offset).limit(limit)
    )
    return list(rows)


@dataclass(frozen=True)
class StateFilter:
    """Models in one state as the catalog shows it: "live" and "unhealthy" split by the last heartbeat."""

    state: str
    stale_before: datetime

    def conditions(self) -> list[ColumnElement[bool]]:
        alive = [Deployment.deleted_at.is_(None)]
        if self.state not in ("live", "unhealthy"):
            return [*alive, Deployment.state == self.state]
        last = func.coalesce(Deployment.last_heartbeat_at, Deployment.updated_at)
        fresh = last >= self.stale_before if self.state == "live" else last < self.stale_before
        return [*alive, Deployment.state == "live", fresh]


def _ordering(order: str) -> list[Any]:
    if order == "name":
        return [func.lower(Vendor.display_name)]
    if order == "activity":
        latest = select(func.max(Deployment.last_signal_at)).where(Deployment.vendor_id == Vendor.id).scalar_subquery()
        return [latest.desc().nulls_last()]
    if order == "score":
        per_model = (
            select(DeploymentScore.deployment_id, scoring.live_score_of_rounds().label("mean"))
            .group_by(DeploymentScore.deployment_id)
            .subquery()
        )
        best = (
            select(func.max(per_model.c.mean))
            .select_from(per_model.join(Deployment, Deployment.id == per_model.c.deployment_id))
            .where(Deployment.vendor_id == Vendor.id, Deployment.deleted_at.is_(None))
            .scalar_subquery()
        )
        return [best.desc().nulls_last()]
    return []


async def deployments_of(session: AsyncSession, vendor_ids: list[str]) -> list[Deployment]:
    """All of them, deleted ones too: their signals still count for the vendor."""
    rows = await session.scalars(
        select(Deployment).where(Deployment.vendor_id.in_(vendor_ids)).order_by(Deployment.created_at, Deployment.id)
    )
    return list(rows)


async def round_scores_of(session: AsyncSession, deployment_ids: list[str]) -> dict[str, list[DeploymentScore]]:
    """Deployment → its score per resolved round, oldest round first."""
    rows = await session.scalars(
        select(DeploymentScore)
        .where(DeploymentScore.deployment_id.in_(deployment_ids))
        .order_by(DeploymentScore.deployment_id, DeploymentScore.round_number)
    )
    grouped: dict[str, list[DeploymentScore]] = defaultdict(list)
    for row in rows:
        grouped[row.deployment_id].append(row)
    return grouped


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
