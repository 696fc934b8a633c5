"""CatalogService: who is live on the marketplace and how their models do."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

import grpc
from google.protobuf.message import Message
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mlmp_marketplace.v1 import catalog_pb2, catalog_pb2_grpc
from mlmp_server.auth.servicer import vendor_proto
from mlmp_server.catalog import rules as catalog
from mlmp_server.core.clock import Clock, to_datetime
from mlmp_server.core.convert import timestamp
from mlmp_server.core.pagination import read_page
from mlmp_server.core.single_flight import SingleFlightCache
from mlmp_server.db.models import Deployment
from mlmp_server.deployments import rules as deployments
from mlmp_server.deployments.servicer import state_text, state_value
from mlmp_server.signals.scoring import LiveScore, RoundSummary

# The catalog is the same for every caller and read far more often than it changes: answers are
# kept this long, so the frontend's polling costs one set of queries per second, not one per call
# (concurrent misses await one build). For a second past that, the old answer is still given while
# the one rebuild runs, so no caller waits for it (they all did, a stall every second: the REST p99);
# no answer given was built more than FRESHNESS + STALE_FOR before.
FRESHNESS = 1.0
STALE_FOR = 1.0
ORDERS = {
    catalog_pb2.CATALOG_ORDER_SCORE: "score",
    catalog_pb2.CATALOG_ORDER_ACTIVITY: "activity",
    catalog_pb2.CATALOG_ORDER_NAME: "name",
}


class CatalogServicer(catalog_pb2_grpc.CatalogServiceServicer):
    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Clock, heartbeat_timeout: float) -> None:
        self._sessions = sessions
        self._clock = clock
        self._timeout = timedelta(seconds=heartbeat_timeout)
        self._answers: SingleFlightCache[bytes, Message] = SingleFlightCache(FRESHNESS, clock, stale_for=STALE_FOR)

    def invalidate(self) -> None:
        """A vendor or deployment changed (here or on another replica): answers built before it go."""
        self._answers.invalidate()

    async def _answer(self, request: Message, build: Callable[[], Awaitable[Message]]) -> Message:
        key = type(request).__name__.encode() + request.SerializeToString(deterministic=True)
        return await self._answers.get(key, build)

    async def ListCatalog(self, request, context: grpc.aio.ServicerContext) -> catalog_pb2.ListCatalogResponse:
        states = None
        if request.state:
            stale_before = to_datetime(self._clock()) - self._timeout
            states = catalog.StateFilter(state_text(request.state), stale_before)
        query = catalog.Query(
            request.vendor, request.live_only, tuple(request.query.split()), states, ORDERS.get(request.order_by, "")
        )
        page = read_page(request.page_size, request.page_token, request.vendor, request.live_only, request.query,
                         request.state, request.order_by, key=catalog.sort_key_types(query))  # fmt: skip

        async def build() -> catalog_pb2.ListCatalogResponse:
            async with self._sessions() as session:
                found, keys = await catalog.list_entries(session, query, page.after, page.size)
            return catalog_pb2.ListCatalogResponse(
                entries=self._entries(found), next_page_token=page.next_token(keys, lambda key: key)
            )

        return await self._answer(request, build)  # type: ignore[return-value]

    async def GetCatalogEntry(self, request, context: grpc.aio.ServicerContext) -> catalog_pb2.CatalogEntry:
        async def build() -> catalog_pb2.CatalogEntry:
            async with self._sessions() as session:
                found = await catalog.entry_of(session, request.vendor)
            return self._entries([found])[0]

        return await self._answer(request, build)  # type: ignore[return-value]

    def _entries(self, found: list[catalog.Entry]) -> list[catalog_pb2.CatalogEntry]:
        now = to_datetime(self._clock())
        return [
            catalog_pb2.CatalogEntry(
                vendor=vendor_proto(entry.vendor),
                models=[self._model(d, entry, now) for d in entry.models],
                rounds_entered=entry.rounds_entered,
                signal_count=entry.signal_count,
                last_signal_time=timestamp(entry.last_signal_at),
            )
            for entry in found
        ]

    def _model(self, deployment: Deployment, entry: catalog.Entry, now: datetime) -> catalog_pb2.CatalogModel:
        rounds: RoundSummary | None = entry.round_summaries.get(deployment.id)
        return catalog_pb2.CatalogModel(
            deployment_id=deployment.id, run_id=deployment.run_id or "", name=deployment.name,
            state=state_value(deployments.health_state(deployment, now, self._timeout)),
            signal_count=deployment.signal_count, last_signal_time=timestamp(deployment.last_signal_at),
            live_score=rounds.score if rounds else None, scored_rounds=rounds.rounds if rounds else 0,
            round_scores=[
                catalog_pb2.RoundScore(round_number=row.round_number, score=row.score, symbols=row.symbols)
                for row in entry.round_scores.get(deployment.id, [])
            ],
            score=live_score_proto(entry.live_scores.get(deployment.id)),
        )  # fmt: skip


def live_score_proto(score: LiveScore | None) -> catalog_pb2.LiveScore | None:
    if score is None:
        return None
    return catalog_pb2.LiveScore(
        rank_correlation=score.rank_correlation, hit_rate=score.hit_rate, scored_signals=score.scored_signals,
        window=score.window, update_time=timestamp(score.updated_at),
        latest_signal_time=timestamp(score.latest_signal_time),
    )  # fmt: skip
