"""The catalog: what the marketplace shows of each vendor — its models, their live scores, its signals
and the rounds it entered."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from mlmp_server.auth import store as auth_store
from mlmp_server.catalog import store
from mlmp_server.catalog.store import StateFilter
from mlmp_server.core.errors import NotFound
from mlmp_server.core.pagination import SortKey
from mlmp_server.db.models import Deployment, DeploymentScore, Vendor
from mlmp_server.signals import scoring
from mlmp_server.signals.scoring import LiveScore, RoundSummary

__all__ = ["Entry", "Query", "StateFilter", "entries", "entry_of", "list_entries", "sort_key_types"]


@dataclass(frozen=True, slots=True)
class Query:
    """Which vendors a catalog page lists, and in what order ("score", "activity", "name"; else listing order)."""

    slug: str = ""
    live_only: bool = False
    words: tuple[str, ...] = ()  # each must match the vendor's slug, name or one of its models' names
    state: StateFilter | None = None  # a model in this state
    order: str = ""


@dataclass(frozen=True, slots=True)
class Entry:
    vendor: Vendor
    models: list[Deployment]  # its deployments but the deleted ones
    live_scores: dict[str, LiveScore]  # deployment id → its live score, for those with a scored signal
    round_summaries: dict[str, RoundSummary]  # deployment id → the mean of its round scores, for those scored
    rounds_entered: list[int]
    signal_count: int  # deleted deployments' signals count too
    last_signal_at: datetime | None
    round_scores: dict[str, list[DeploymentScore]] = field(default_factory=dict)  # on an entry's own page only


async def entries(session: AsyncSession, vendors: list[Vendor]) -> list[Entry]:
    vendor_ids = [vendor.id for vendor in vendors]
    if not vendor_ids:
        return []
    all_deployments = await store.deployments_of(session, vendor_ids)
    scores = await scoring.live_scores(session, [d.id for d in all_deployments])
    summaries = await scoring.round_summaries(session, [d.id for d in all_deployments])
    rounds = await store.rounds_entered(session, vendor_ids)
    found = []
    for vendor in vendors:
        own = [d for d in all_deployments if d.vendor_id == vendor.id]
        last_signals = [d.last_signal_at for d in own if d.last_signal_at is not None]
        found.append(
            Entry(
                vendor=vendor,
                models=[d for d in own if d.deleted_at is None],
                live_scores=scores,
                round_summaries=summaries,
                rounds_entered=rounds.get(vendor.id, []),
                signal_count=sum(d.signal_count for d in own),
                last_signal_at=max(last_signals) if last_signals else None,
            )
        )
    return found


async def entry_of(session: AsyncSession, vendor_ref: str) -> Entry:
    vendor = await auth_store.find_vendor(session, vendor_ref)
    if vendor is None or vendor.suspended_at is not None:  # suspended: out of the catalog, as if unknown
        raise NotFound(f"no vendor {vendor_ref!r} in the catalog")
    entry = (await entries(session, [vendor]))[0]
    return replace(entry, round_scores=await store.round_scores_of(session, [model.id for model in entry.models]))


def sort_key_types(query: Query) -> tuple[type, ...]:
    """The types of the sort key a page token of this query carries."""
    return store.sort_key_types(query.order)


async def list_entries(
    session: AsyncSession, query: Query, after: SortKey | None, limit: int
) -> tuple[list[Entry], list[SortKey]]:
    """A page of entries: at most `limit` of them, and the sort keys of the vendors that matched, up to
    `limit` + 1 of them (one more than shown when more remain)."""
    found = await store.list_vendors(
        session, query.slug, query.live_only, after, limit + 1, words=query.words, state=query.state, order=query.order
    )
    return await entries(session, [vendor for vendor, _ in found[:limit]]), [key for _, key in found]
