"""CatalogService: who is live on the marketplace and how their models do."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

import grpc
from google.protobuf.message import Message
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from marketplace.v1 import catalog_pb2, catalog_pb2_grpc
from server.auth import vendor_store
from server.catalog import store
from server.core.clock import Clock, to_datetime
from server.core.convert import timestamp, vendor_proto
from server.core.errors import NotFound
from server.core.pagination import read_page
from server.core.single_flight import SingleFlightCache
from server.db.models import Deployment, Vendor
from server.deployments import rules as deployments
from server.deployments.servicer import state_value

# The catalog is the same for every caller and read far more often than it changes: answers are
# kept this long, so the frontend's polling costs one set of queries per second, not one per call
# (concurrent misses await one build).
FRESHNESS = 1.0


class CatalogServicer(catalog_pb2_grpc.CatalogServiceServicer):
    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Clock, heartbeat_timeout: float) -> None:
        self._sessions = sessions
        self._clock = clock
        self._timeout = timedelta(seconds=heartbeat_timeout)
        self._answers: SingleFlightCache[bytes, Message] = SingleFlightCache(FRESHNESS, clock)

    async def _answer(self, request: Message, build: Callable[[], Awaitable[Message]]) -> Message:
        key = type(request).__name__.encode() + request.SerializeToString(deterministic=True)
        return await self._answers.get(key, build)

    async def ListCatalog(self, request, context: grpc.aio.ServicerContext) -> catalog_pb2.ListCatalogResponse:
        page = read_page(request.page_size, request.page_token, request.vendor, request.live_only)

        async def build() -> catalog_pb2.ListCatalogResponse:
            async with self._sessions() as session:
                vendors = await store.list_vendors(
                    session, request.vendor, request.live_only, page.offset, page.size + 1
                )
                entries = await self._entries(session, vendors[: page.size])
            return catalog_pb2.ListCatalogResponse(entries=entries, next_page_token=page.next_token(len(vendors)))

        return await self._answer(request, build)  # type: ignore[return-value]

    async def GetCatalogEntry(self, request, context: grpc.aio.ServicerContext) -> catalog_pb2.CatalogEntry:
        async def build() -> catalog_pb2.CatalogEntry:
            async with self._sessions() as session:
                vendor = await vendor_store.find_vendor(session, request.vendor)
                if vendor is None:
                    raise NotFound(f"no vendor {request.vendor!r} in the catalog")
                return (await self._entries(session, [vendor]))[0]

        return await self._answer(request, build)  # type: ignore[return-value]

    async def _entries(self, session: AsyncSession, vendors: list[Vendor]) -> list[catalog_pb2.CatalogEntry]:
        vendor_ids = [vendor.id for vendor in vendors]
        if not vendor_ids:
            return []
        all_deployments = await store.deployments_of(session, vendor_ids)
        scores = await store.scores_of(session, [d.id for d in all_deployments])
        rounds = await store.rounds_entered(session, vendor_ids)
        now = to_datetime(self._clock())
        entries = []
        for vendor in vendors:
            own = [d for d in all_deployments if d.vendor_id == vendor.id]
            last_signals = [d.last_signal_at for d in own if d.last_signal_at is not None]
            entries.append(
                catalog_pb2.CatalogEntry(
                    vendor=vendor_proto(vendor),
                    models=[self._model(d, scores.get(d.id), now) for d in own if d.deleted_at is None],
                    rounds_entered=rounds.get(vendor.id, []),
                    signal_count=sum(d.signal_count for d in own),
                    last_signal_time=timestamp(max(last_signals)) if last_signals else None,
                )
            )
        return entries

    def _model(
        self, deployment: Deployment, score: tuple[float, int] | None, now: datetime
    ) -> catalog_pb2.CatalogModel:
        return catalog_pb2.CatalogModel(
            deployment_id=deployment.id, run_id=deployment.run_id or "", name=deployment.name,
            state=state_value(deployments.health_state(deployment, now, self._timeout)),
            signal_count=deployment.signal_count, last_signal_time=timestamp(deployment.last_signal_at),
            live_score=score[0] if score else None, scored_rounds=score[1] if score else 0,
        )  # fmt: skip
