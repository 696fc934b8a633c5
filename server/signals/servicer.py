"""SignalService: ingest from deployments (streamed or posted), listing and live subscription."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
from google.protobuf.duration_pb2 import Duration
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mlmp_marketplace.v1 import signals_pb2, signals_pb2_grpc
from mlmp_server.core.buckets import rate_limited
from mlmp_server.core.errors import InvalidArgument
from mlmp_server.core.pagination import read_page
from mlmp_server.core.principal import Principal, require_principal
from mlmp_server.signals import live, rules, store
from mlmp_server.signals.hub import SignalHub
from mlmp_server.signals.ingest import Attribution, SignalIngest, stored_signal_proto
from mlmp_server.signals.rules import Writer


def _writer(principal: Principal) -> tuple[Writer, Attribution]:
    return (
        Writer(principal.deployment_id, principal.vendor_id, principal.run_id),
        Attribution(principal.vendor_slug, principal.vendor_display_name),
    )


def _duration(seconds: float) -> Duration:
    duration = Duration()
    duration.FromNanoseconds(round(seconds * 1e9))
    return duration


class SignalServicer(signals_pb2_grpc.SignalServiceServicer):
    def __init__(self, sessions: async_sessionmaker[AsyncSession], ingest: SignalIngest, hub: SignalHub) -> None:
        self._sessions = sessions
        self._ingest = ingest
        self._hub = hub

    async def StoreSignals(self, request, context: grpc.aio.ServicerContext):
        principal = require_principal()
        writer, attribution = _writer(principal)
        wait = await self._ingest.budget.wait_for(writer.deployment_id, len(request.signals))
        if wait > 0:
            raise rate_limited("signal", wait)
        stored = await self._ingest.store(writer, attribution, request.sequence, request.signals, request.publisher_id)
        if not stored.duplicate:
            await self._ingest.budget.take(writer.deployment_id, stored.accepted)
        return signals_pb2.StoreSignalsResponse(
            accepted=stored.accepted, rejections=stored.rejections, duplicate=stored.duplicate
        )

    async def StreamSignals(
        self, request_iterator: AsyncIterator[signals_pb2.SignalBatch], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[signals_pb2.SignalAck]:
        principal = require_principal()
        writer, attribution = _writer(principal)
        committed = 0
        async for batch in request_iterator:
            if batch.sequence <= 0:
                raise InvalidArgument("each streamed batch needs a sequence number above 0, increasing per publisher")
            stored = await self._ingest.store(writer, attribution, batch.sequence, batch.signals, batch.publisher_id)
            committed = max(committed, batch.sequence)
            wait = 0.0 if stored.duplicate else await self._ingest.budget.take(writer.deployment_id, stored.accepted)
            yield signals_pb2.SignalAck(
                sequence=batch.sequence, committed_sequence=committed, accepted=stored.accepted,
                rejections=stored.rejections, duplicate=stored.duplicate,
                slow_down=_duration(wait) if wait > 0 else None,
            )  # fmt: skip
            if wait > 0:
                # The batch is stored; not reading the next one until the debt clears holds a writer
                # that ignores slow_down to its limit through flow control, without dropping anything.
                await asyncio.sleep(wait)

    async def ListSignals(self, request, context: grpc.aio.ServicerContext):
        principal = require_principal()
        # Paged by id, newest first: signals arriving meanwhile never shift a page being read.
        page = read_page(request.page_size, request.page_token, request.symbol, request.vendor,
                         request.deployment_id, request.round_number, key=store.SIGNAL_KEY)  # fmt: skip
        async with self._sessions() as session:
            vendor_id = await rules.vendor_filter(session, principal, request.vendor)
            rows = await store.list_signals(
                session, symbol=request.symbol, vendor_id=vendor_id, deployment_id=request.deployment_id,
                round_number=request.round_number, after=page.after, limit=page.size + 1,
            )  # fmt: skip
        return signals_pb2.ListSignalsResponse(
            signals=[stored_signal_proto(signal, vendor) for signal, vendor in rows[: page.size]],
            next_page_token=page.next_token(rows, store.signal_key),
        )

    async def SubscribeSignals(self, request, context: grpc.aio.ServicerContext):
        principal = require_principal()

        async def opened() -> None:
            await context.send_initial_metadata(())  # a gateway client gets its 200 now, not at a first signal

        async for response in live.follow(
            self._sessions, self._hub, principal, symbol=request.symbol, vendor=request.vendor,
            after_id=request.after_id, opened=opened,
        ):  # fmt: skip
            yield response
