"""DatasetService: rounds, their files and signed download URLs; publishing is all or nothing."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import grpc
from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import Message
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mlmp_marketplace.v1 import common_pb2, datasets_pb2, datasets_pb2_grpc
from mlmp_server.blobs.local import BlobStore, StagedWrite, check_arrived
from mlmp_server.blobs.signing import DEFAULT_TTL, MAX_TTL, UrlSigner, download_url
from mlmp_server.core.clock import Clock, to_datetime
from mlmp_server.core.convert import timestamp
from mlmp_server.core.errors import InvalidArgument, NotFound
from mlmp_server.core.pagination import read_page
from mlmp_server.core.principal import require_principal
from mlmp_server.core.uploads import chunks_after_header
from mlmp_server.datasets import rules as rounds
from mlmp_server.datasets import store
from mlmp_server.datasets.building import ChildBuilder, build_from_csv
from mlmp_server.datasets.publishing import RoundFacts, facts_of, publish_once, stage_built
from mlmp_server.datasets.round_cache import RoundCache, Snapshot
from mlmp_server.db.idempotency import replayed
from mlmp_server.db.models import DatasetFile, DatasetRound


def _built(snapshot: Snapshot, row: DatasetRound, now: datetime) -> datasets_pb2.Round:
    """A snapshot round's response, built once per snapshot and state and then shared (callers never
    change it)."""
    key = ("round", row.number, rounds.state_of(row, now))
    found = snapshot.built.get(key)
    if not isinstance(found, datasets_pb2.Round):
        found = snapshot.built[key] = round_proto(row, snapshot.files[row.number], now)
    return found


def round_proto(row: DatasetRound, files: list[DatasetFile], now: datetime) -> datasets_pb2.Round:
    # A row made in memory (not read back) has no column defaults yet.
    bar_seconds = row.bar_seconds or rounds.DEFAULT_BAR_SECONDS
    horizon_bars = row.horizon_bars or rounds.DEFAULT_HORIZON_BARS
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
        bar_seconds=bar_seconds,
        horizon_bars=horizon_bars,
        horizon=Duration(seconds=bar_seconds * horizon_bars),
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
        self._builder = ChildBuilder()

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
        return _built(snapshot, rounds.current_round(snapshot.rounds, now), now)

    async def GetRound(self, request, context: grpc.aio.ServicerContext) -> datasets_pb2.Round:
        snapshot, now = await self._cache.snapshot(), self._now()
        if request.number == 0:
            return _built(snapshot, rounds.current_round(snapshot.rounds, now), now)
        row = next((row for row in snapshot.rounds if row.number == request.number), None)
        if row is not None:  # a recent round: built once per snapshot and state, as the current one
            return _built(snapshot, row, now)
        return round_proto(*await self._round(request.number), now)

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
                bar_seconds=header.bar_seconds, horizon_bars=header.horizon_bars,
            )  # fmt: skip
            return await self._publish("PublishRound", header, facts, planned, staged, principal.token_id)
        finally:
            for write in staged.values():
                write.abandon()  # no-op for files already moved into place

    async def PublishRoundFromCsv(self, request_iterator: AsyncIterator, context: grpc.aio.ServicerContext):
        principal = require_principal()
        header, csvs = await self._receive_csvs(request_iterator)
        fingerprint = await asyncio.to_thread(_csv_fingerprint, header, csvs)
        done = await replayed(self._sessions, principal_id=principal.token_id, method="PublishRoundFromCsv",
                              request=fingerprint, response_type=datasets_pb2.Round)  # fmt: skip
        if done is not None:  # a retry of a publish that went through: answered without building again
            return done
        built = await self._builder.run(build_from_csv, list(csvs.items()), rounds.built_format(header.format))
        if isinstance(built, str):  # the builder's words: file, line and column of the first bad cell
            raise InvalidArgument(f"{built}. Nothing was published.")
        facts = facts_of(
            built, number=header.number, opens_at=_time(header, "open_time"),
            closes_at=_time(header, "close_time"), synthetic=False, description=header.description,
        )  # fmt: skip
        staged: dict[str, StagedWrite] = {}
        try:
            planned = await stage_built(self._blobs, built, staged)
            return await self._publish("PublishRoundFromCsv", fingerprint, facts, planned, staged, principal.token_id)
        finally:
            for write in staged.values():
                write.abandon()

    async def _publish(
        self, method: str, fingerprint: Message, facts: RoundFacts, planned: list[rounds.PlannedFile],
        staged: dict[str, StagedWrite], actor: str,
    ) -> datasets_pb2.Round:  # fmt: skip
        published = await publish_once(
            self._sessions, self._blobs, method=method, fingerprint=fingerprint, facts=facts, planned=planned,
            staged=staged, actor=actor, clock=self._clock, response_type=datasets_pb2.Round,
            respond=self._round_with_files,
        )  # fmt: skip
        self._cache.invalidate()
        return published

    async def _receive_csvs(
        self, request_iterator: AsyncIterator
    ) -> tuple[datasets_pb2.PublishRoundFromCsvRequest.Header, dict[str, bytes]]:
        header: datasets_pb2.PublishRoundFromCsvRequest.Header | None = None
        received: dict[str, bytearray] = {}
        total = 0

        async def accept(given: datasets_pb2.PublishRoundFromCsvRequest.Header) -> None:
            nonlocal header
            rounds.check_csv_names([f.name for f in given.files])
            rounds.built_format(given.format)
            header = given
            received.update((f.name, bytearray()) for f in given.files)

        async for chunk in chunks_after_header(request_iterator, accept):
            if chunk.file not in received:
                raise InvalidArgument(f"bytes for {chunk.file!r}, which the header does not declare")
            total += len(chunk.data)
            rounds.check_csv_size(total)
            received[chunk.file] += chunk.data
        assert header is not None  # chunks_after_header refuses a stream without one
        empty = [name for name, data in received.items() if not data]
        if empty:
            raise InvalidArgument(f"file {empty[0]!r} was declared but no bytes arrived. Nothing was published.")
        return header, {name: bytes(data) for name, data in received.items()}

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


def _csv_fingerprint(header: datasets_pb2.PublishRoundFromCsvRequest.Header, csvs: dict[str, bytes]) -> Message:
    """The header with each file's digest as it arrived: a retry with the same request id must carry the same
    files. A declared sha256 that does not match refuses the upload."""
    fingerprint = datasets_pb2.PublishRoundFromCsvRequest.Header()
    fingerprint.CopyFrom(header)
    for declared in fingerprint.files:
        data = csvs[declared.name]
        digest = hashlib.sha256(data).hexdigest()
        if declared.digest.sha256 and (declared.digest.sha256, declared.digest.size_bytes) != (digest, len(data)):
            raise InvalidArgument(
                f"file {declared.name!r} arrived damaged: {len(data)} bytes, sha256 {digest}; expected "
                f"{declared.digest.size_bytes} bytes, sha256 {declared.digest.sha256}. Nothing was published."
            )
        declared.digest.CopyFrom(common_pb2.FileDigest(size_bytes=len(data), sha256=digest))
    return fingerprint


def _time(message, field: str) -> datetime | None:
    return getattr(message, field).ToDatetime(tzinfo=UTC) if message.HasField(field) else None
