"""Who owns an object a request addresses: the ownership check's one query, and its cache."""

from __future__ import annotations

import cachetools
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mlmp_marketplace.v1.options_pb2 import OwnedKind
from mlmp_server.db.models import ApiToken, Deployment, TrainingRun

_VENDOR_OF = {
    OwnedKind.OWNED_KIND_DEPLOYMENT: (Deployment.id, Deployment.vendor_id),
    OwnedKind.OWNED_KIND_RUN: (TrainingRun.id, TrainingRun.vendor_id),
    OwnedKind.OWNED_KIND_API_TOKEN: (ApiToken.id, ApiToken.vendor_id),
}


async def vendor_of(session: AsyncSession, kind: OwnedKind.ValueType, object_id: str) -> str | None:
    """The vendor id owning the object; None when there is no such object (deleted deployments included:
    the servicer decides what a deleted one means)."""
    id_column, vendor_column = _VENDOR_OF[kind]
    return await session.scalar(select(vendor_column).where(id_column == object_id))


class OwnerLookup:
    """The composition root's OwnerResolver. An object never changes vendor and ids are never reused,
    so a found owner is cached for good; an unknown id is asked again (it may be created meanwhile)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], cache_size: int = 10_000) -> None:
        self._sessions = sessions
        self._cache: cachetools.LRUCache[tuple[int, str], str] = cachetools.LRUCache(cache_size)

    async def owner_of(self, kind: OwnedKind.ValueType, object_id: str) -> str | None:
        cached = self._cache.get((kind, object_id))
        if cached is not None:
            return cached
        async with self._sessions() as session:
            owner = await vendor_of(session, kind, object_id)
        if owner is not None:
            self._cache[(kind, object_id)] = owner
        return owner
