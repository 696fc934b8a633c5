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

from mlmp_server.core.pagination import SortKey
from mlmp_server.db.keyset import seek
from mlmp_server.db.models import DatasetRound, Deployment, DeploymentScore, Signal, TrainingRun, Vendor


async def list_vendors(
    session: AsyncSession,
    slug: str,
    live_only: bool,
    after: Sequence[object] | None,
    limit: int,
    *,
    words: Sequence[str] = (),
    state: StateFilter | None = None,
    order: str = "",
) -> list[tuple[Vendor, SortKey]]:
    """A page of vendors, each with its sort key: of one slug, with a live model, matching every word, with
    a model in a state; in the given order ("score", "activity", "name"; else the order they were listed in),
    past the vendor whose sort key is `after`. Each order is an index on marketplace_vendors; the filters
    are checked on the vendors the index walk meets, so a page costs its rows plus the vendors it skips.
    A suspended vendor is not listed, its models with it."""
    key = sort_key(order)
    query = select(Vendor, *key).where(Vendor.suspended_at.is_(None))
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
    rows = await session.execute(seek(query, key, after).limit(limit))
    return [(vendor, tuple(values)) for vendor, *values in rows]


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


def sort_key(order: str) -> list[Any]:
    """The columns a catalog order sorts by, all ascending, ending in the unique id. Activity and score are
    stored ranks (see Vendor in server/db/models.py), not values computed per page."""
    first: dict[str, Any] = {
        "name": func.lower(Vendor.display_name),
        "activity": Vendor.activity_rank,
        "score": Vendor.score_rank,
    }
    return [first[order], Vendor.created_at, Vendor.id] if order in first else [Vendor.created_at, Vendor.id]


def sort_key_types(order: str) -> tuple[type, ...]:
    first = {"name": (str,), "activity": (int,), "score": (float,)}.get(order, ())
    return (*first, datetime, str)


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
