"""CatalogService: who is live on the marketplace and how their models do."""

from __future__ import annotations

from datetime import datetime, timedelta

import grpc
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from marketplace.v1 import catalog_pb2, catalog_pb2_grpc
from server import deployments
from server.clock import Clock, to_datetime
from server.convert import timestamp, vendor_proto
from server.errors import NotFound
from server.models import Deployment, Vendor
from server.pagination import read_page
from server.services.deployments import state_value
from server.store import catalog as store
from server.store import vendors as vendor_store


class CatalogServicer(catalog_pb2_grpc.CatalogServiceServicer):
    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Clock, heartbeat_timeout: float) -> None:
        self._sessions = sessions
        self._clock = clock
        self._timeout = timedelta(seconds=heartbeat_timeout)

    async def ListCatalog(self, request, context: grpc.aio.ServicerContext) -> catalog_pb2.ListCatalogResponse:
        page = read_page(request.page_size, request.page_token, request.vendor, request.live_only)
        async with self._sessions() as session:
            vendors = await store.list_vendors(session, request.vendor, request.live_only, page.offset, page.size + 1)
            entries = await self._entries(session, vendors[: page.size])
        return catalog_pb2.ListCatalogResponse(entries=entries, next_page_token=page.next_token(len(vendors)))

    async def GetCatalogEntry(self, request, context: grpc.aio.ServicerContext) -> catalog_pb2.CatalogEntry:
        async with self._sessions() as session:
            vendor = await vendor_store.find_vendor(session, request.vendor)
            if vendor is None:
                raise NotFound(f"no vendor {request.vendor!r} in the catalog")
            return (await self._entries(session, [vendor]))[0]

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
