"""DatasetService: rounds, their files and signed download URLs; publishing is all or nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import grpc
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from marketplace.v1 import common_pb2, datasets_pb2, datasets_pb2_grpc
from server.blobs.local import BlobStore, StagedWrite, check_arrived
from server.blobs.signing import DEFAULT_TTL, MAX_TTL, UrlSigner, download_url
from server.core.clock import Clock, to_datetime
from server.core.convert import timestamp
from server.core.errors import InvalidArgument, NotFound
from server.core.pagination import read_page
from server.core.principal import require_principal
from server.core.uploads import chunks_after_header
from server.datasets import rules as rounds
from server.datasets import store
from server.datasets.publishing import RoundFacts, store_round
from server.datasets.round_cache import RoundCache
from server.db.idempotency import create_once
from server.db.models import DatasetFile, DatasetRound


def round_proto(row: DatasetRound, files: list[DatasetFile], now: datetime) -> datasets_pb2.Round:
    return datasets_pb2.Round(
        number=row.number,
        state=rounds.state_of(row, now),
        open_time=timestamp(row.opens_at),
        close_time=timestamp(row.closes_at),
        resolve_time=timestamp(row.resolved_at),
        files=[
            datasets_pb2.DatasetFile(
                name=f.name,
                format=f.format,
                digest=common_pb2.FileDigest(size_bytes=f.size_bytes, sha256=f.sha256),
                columns=f.columns,
                row_count=f.row_count,
            )
            for f in files
        ],  # fmt: skip
        symbols=row.symbols,
        data_start_time=timestamp(row.data_start),
        data_end_time=timestamp(row.data_end),
        synthetic=row.synthetic,
        description=row.description,
    )


class DatasetServicer(datasets_pb2_grpc.DatasetServiceServicer):
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        blobs: BlobStore,
        signer: UrlSigner,
        public_url: str,
        clock: Clock,
        cache: RoundCache,
    ) -> None:
        self._sessions = sessions
        self._blobs = blobs
        self._signer = signer
        self._public_url = public_url.rstrip("/")
        self._clock = clock
        self._cache = cache

    def _now(self) -> datetime:
        return to_datetime(self._clock())

    async def _round_with_files(self, session: AsyncSession, row: DatasetRound) -> datasets_pb2.Round:
        files = (await store.files_of(session, [row.number]))[row.number]
        return round_proto(row, files, self._now())

    async def _round(self, number: int) -> tuple[DatasetRound, list[DatasetFile]]:
        """Round `number` (0: the current one) with its files, from the snapshot when it is there."""
        latest, files = await self._cache.latest()
        if number == 0:
            row = rounds.current_round(latest, self._now())
            return row, files[row.number]
        if number in files:
            return next(row for row in latest if row.number == number), files[number]
        async with self._sessions() as session:
            row = await rounds.require_round(session, number)
            return row, (await store.files_of(session, [number]))[number]

    async def GetCurrentRound(self, request, context: grpc.aio.ServicerContext) -> datasets_pb2.Round:
        # The frontend polls this: the response is built once per snapshot and state, then shared.
        snapshot = await self._cache.snapshot()
        now = self._now()
        row = rounds.current_round(snapshot.rounds, now)
        key = ("round", row.number, rounds.state_of(row, now))
        found = snapshot.built.get(key)
        if not isinstance(found, datasets_pb2.Round):
            found = snapshot.built[key] = round_proto(row, snapshot.files[row.number], now)
        return found

    async def GetRound(self, request, context: grpc.aio.ServicerContext) -> datasets_pb2.Round:
        return round_proto(*await self._round(request.number), self._now())

    async def ListRounds(self, request, context: grpc.aio.ServicerContext) -> datasets_pb2.ListRoundsResponse:
        page = read_page(request.page_size, request.page_token, request.state, key=store.ROUND_KEY)
        now = self._now()
        state = rounds.state_name(request.state) if request.state else ""
        async with self._sessions() as session:
            rows = await store.list_rounds(session, page.size + 1, state=state, now=now, after=page.after)
            files = await store.files_of(session, [row.number for row in rows[: page.size]])
        listed = [round_proto(row, files[row.number], now) for row in rows[: page.size]]
        return datasets_pb2.ListRoundsResponse(rounds=listed, next_page_token=page.next_token(rows, store.round_key))

    async def CreateSignedUrls(self, request, context: grpc.aio.ServicerContext):
        ttl = request.expires_in.ToTimedelta().total_seconds() if request.HasField("expires_in") else DEFAULT_TTL
        if not 0 < ttl <= MAX_TTL:
            raise InvalidArgument("expires_in must be more than 0 and at most 7 days")
        row, files = await self._round(request.round_number)
        by_name = {f.name: f for f in files}
        wanted = list(dict.fromkeys(request.files)) or list(by_name)
        unknown = [name for name in wanted if name not in by_name]
        if unknown:
            raise NotFound(f"round {row.number} has no file {', '.join(unknown)}; it has {', '.join(by_name)}")
        urls = []
        for name in wanted:
            file = by_name[name]
            url, expires = download_url(self._blobs, self._signer, self._public_url, file.blob_key, ttl)
            urls.append(
                datasets_pb2.SignedUrl(
                    file=name, url=url, expire_time=timestamp(to_datetime(expires)),
                    digest=common_pb2.FileDigest(size_bytes=file.size_bytes, sha256=file.sha256),
                )
            )  # fmt: skip
        return datasets_pb2.CreateSignedUrlsResponse(round_number=row.number, urls=urls)

    async def PublishRound(self, request_iterator: AsyncIterator, context: grpc.aio.ServicerContext):
        principal = require_principal()
        header, staged = await self._receive(request_iterator)
        committed: list[str] = []
        try:
            planned = []
            for declared in header.files:
                write = staged.get(declared.name)
                if write is None:
                    raise InvalidArgument(f"file {declared.name!r} was declared but no bytes arrived")
                stored = await asyncio.to_thread(write.finish)
                check_arrived(stored, declared.digest.size_bytes, declared.digest.sha256, f"file {declared.name!r}")
                planned.append(
                    rounds.PlannedFile(declared.name, declared.format or "parquet", stored.size_bytes, stored.sha256,
                                       list(declared.columns), declared.row_count)
                )  # fmt: skip
            rounds.check_planned_files(planned)
            facts = RoundFacts(
                number=header.number, opens_at=_time(header, "open_time"), closes_at=_time(header, "close_time"),
                symbols=list(header.symbols), data_start=_time(header, "data_start_time"),
                data_end=_time(header, "data_end_time"), synthetic=header.synthetic, description=header.description,
            )  # fmt: skip

            async def create(session: AsyncSession, _seed: bytes) -> datasets_pb2.Round:
                for key in committed:  # left by an attempt whose transaction rolled back
                    await asyncio.to_thread(self._blobs.delete, key)
                committed.clear()
                row = await store_round(
                    session, self._blobs, facts=facts, planned=planned, staged=staged, committed=committed,
                    actor=principal.token_id, now=self._now(),
                )  # fmt: skip
                return await self._round_with_files(session, row)

            published = await create_once(
                self._sessions, principal_id=principal.token_id, method="PublishRound", request=header,
                response_type=datasets_pb2.Round, create=create, clock=self._clock,
            )  # fmt: skip
            self._cache.invalidate()
            return published
        except BaseException:
            for key in committed:  # the transaction did not commit: take the files back out
                self._blobs.delete(key)
            raise
        finally:
            for write in staged.values():
                write.abandon()  # no-op for files already moved into place

    async def _receive(
        self, request_iterator: AsyncIterator
    ) -> tuple[datasets_pb2.PublishRoundRequest.Header, dict[str, StagedWrite]]:
        header: datasets_pb2.PublishRoundRequest.Header | None = None
        declared: set[str] = set()
        staged: dict[str, StagedWrite] = {}

        async def accept(received: datasets_pb2.PublishRoundRequest.Header) -> None:
            nonlocal header
            rounds.check_file_names([f.name for f in received.files])
            header = received
            declared.update(f.name for f in received.files)

        try:
            async for chunk in chunks_after_header(request_iterator, accept):
                name = chunk.file
                if name not in declared:
                    raise InvalidArgument(f"bytes for {name!r}, which the header does not declare")
                if name not in staged:
                    staged[name] = self._blobs.stage()
                await asyncio.to_thread(staged[name].write, chunk.data)
        except BaseException:
            for write in staged.values():
                write.abandon()
            raise
        assert header is not None  # chunks_after_header refuses a stream without one
        return header, staged

    async def CloseRound(self, request, context: grpc.aio.ServicerContext) -> datasets_pb2.Round:
        principal = require_principal()
        async with self._sessions.begin() as session:
            row = await rounds.close(session, request.number, actor=principal.token_id, now=self._now())
            closed = await self._round_with_files(session, row)
        self._cache.invalidate()
        return closed

    async def ResolveRound(self, request, context: grpc.aio.ServicerContext) -> datasets_pb2.Round:
        principal = require_principal()
        returns: dict[str, float] = {}
        for item in request.returns:
            if item.symbol in returns:
                raise InvalidArgument(f"{item.symbol} is listed twice")
            returns[item.symbol] = item.realized_return
        now = self._now()
        async with self._sessions.begin() as session:
            row = await rounds.resolve(session, request.number, returns, actor=principal.token_id, now=now)
            resolved = await self._round_with_files(session, row)
        self._cache.invalidate()
        return resolved


def _time(message, field: str) -> datetime | None:
    return getattr(message, field).ToDatetime(tzinfo=UTC) if message.HasField(field) else None
