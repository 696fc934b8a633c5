"""TrainingService: runs, their lifecycle, metrics, logs, artifact and the live event stream."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import grpc
from google.protobuf import json_format
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mlmp_marketplace.v1 import common_pb2, training_pb2, training_pb2_grpc
from mlmp_server.blobs.local import BlobStore, StagedWrite, check_arrived, check_key
from mlmp_server.blobs.signing import UrlSigner, download_url
from mlmp_server.core.clock import Clock, to_datetime
from mlmp_server.core.completion import finish_even_if_cancelled
from mlmp_server.core.convert import timestamp
from mlmp_server.core.errors import FailedPrecondition, InvalidArgument
from mlmp_server.core.pagination import read_page, within_page_bytes
from mlmp_server.core.principal import require_principal
from mlmp_server.core.tokens import TokenDigester, TokenType, new_token
from mlmp_server.core.uploads import chunks_after_header
from mlmp_server.datasets import rules as rounds
from mlmp_server.db.idempotency import create_once
from mlmp_server.db.models import RunEvent, TrainingRun
from mlmp_server.training import rules as training
from mlmp_server.training import store

T = TypeVar("T")
Change = Callable[[AsyncSession, TrainingRun], Awaitable[T]]
WATCH_POLL = 0.25
ARTIFACT_URL_TTL = 15 * 60
State = training_pb2.RunState


def state_value(name: str) -> State.ValueType:
    return State.Value(f"RUN_STATE_{name.upper()}")


def state_text(value: State.ValueType) -> str:
    return State.Name(value).removeprefix("RUN_STATE_").lower()


def run_proto(run: TrainingRun) -> training_pb2.TrainingRun:
    proto = training_pb2.TrainingRun(
        id=run.id, vendor_id=run.vendor_id, task=run.task, round_number=run.round_number, provider=run.provider,
        state=state_value(run.state), latest_metrics=run.latest_metrics or {}, artifact_uri=run.artifact_key or "",
        create_time=timestamp(run.created_at), start_time=timestamp(run.started_at), end_time=timestamp(run.ended_at),
        lease_expire_time=timestamp(run.lease_expires_at), message=run.message, exit_code=run.exit_code or 0,
        gpu_type=run.gpu_type, external_id=run.external_id, project=run.project,
    )  # fmt: skip
    for key, value in (run.hyperparameters or {}).items():
        json_format.ParseDict(value, proto.hyperparameters[key])
    if run.artifact_sha256:
        proto.artifact.CopyFrom(common_pb2.FileDigest(size_bytes=run.artifact_size or 0, sha256=run.artifact_sha256))
    return proto


def event_proto(event: RunEvent) -> training_pb2.RunEvent:
    proto = training_pb2.RunEvent(sequence=event.sequence, time=timestamp(event.occurred_at))
    data = event.data
    if event.kind == "state":
        proto.state_change.CopyFrom(
            training_pb2.RunStateChange(
                from_state=state_value(data["from"]) if data["from"] else State.RUN_STATE_UNSPECIFIED,
                to_state=state_value(data["to"]), message=data.get("message", ""),
            )
        )  # fmt: skip
    elif event.kind == "metric":
        proto.metric.CopyFrom(
            training_pb2.Metric(key=data["key"], value=data["value"], step=data["step"],
                                time=timestamp(datetime.fromisoformat(data["time"])))
        )  # fmt: skip
    else:
        proto.log.CopyFrom(
            training_pb2.LogLine(
                stream=data["stream"], text=data["text"], time=timestamp(datetime.fromisoformat(data["time"]))
            )
        )
    return proto


def _when(stamp, fallback: datetime) -> datetime:
    return stamp.ToDatetime(tzinfo=UTC) if stamp.seconds or stamp.nanos else fallback


def _hyperparameters(values) -> dict[str, Any]:
    converted: dict[str, Any] = {}
    for key, value in values.items():
        try:
            converted[key] = json_format.MessageToDict(value)
        except ValueError:  # NaN or an infinity: JSON cannot hold them
            raise InvalidArgument(f"hyperparameter {key[:64]!r} is not a finite number") from None
    return converted


class TrainingServicer(training_pb2_grpc.TrainingServiceServicer):
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        blobs: BlobStore,
        clock: Clock,
        digester: TokenDigester,
        lease_seconds: float = 60.0,
        on_run_ended: Callable[[str], object] = lambda _run_id: None,
        *,
        signer: UrlSigner,
        public_url: str,
    ) -> None:
        self._signer = signer
        self._public_url = public_url.rstrip("/")
        self._digester = digester
        self._on_run_ended = on_run_ended
        self._sessions = sessions
        self._blobs = blobs
        self._clock = clock
        self._lease = timedelta(seconds=lease_seconds)

    def _now(self) -> datetime:
        return to_datetime(self._clock())

    async def _settle(self, run: TrainingRun) -> TrainingRun:
        """A running run whose lease has run out is lost, whoever looks first."""
        now = self._now()
        if training.lease_ran_out(run, now):
            async with self._sessions.begin() as session:
                locked = await training.require_run(session, run.id, for_update=True)
                if training.lease_ran_out(locked, now):
                    await training.expire_leases(session, now)
                run = locked
            if run.state in training.TERMINAL:
                self._on_run_ended(run.id)
        return run

    async def CreateTrainingRun(self, request, context: grpc.aio.ServicerContext) -> training_pb2.TrainingRun:
        principal = require_principal()
        if not principal.vendor_id:
            raise FailedPrecondition("training runs belong to vendors: use a vendor's token")
        hyperparameters = _hyperparameters(request.hyperparameters)

        async def create(session: AsyncSession, _seed: bytes) -> training_pb2.TrainingRun:
            round_row = await rounds.round_for(session, request.round_number, self._now())
            run = await training.create_run(
                session, vendor_id=principal.vendor_id, task=request.task or "signal", round_number=round_row.number,
                provider=request.provider or "local", hyperparameters=hyperparameters, gpu_type=request.gpu_type,
                project=request.project, actor=principal.token_id, now=self._now(), lease=self._lease,
            )  # fmt: skip
            return run_proto(run)

        return await create_once(
            self._sessions, principal_id=principal.token_id, method="CreateTrainingRun", request=request,
            response_type=training_pb2.TrainingRun, create=create, clock=self._clock,
        )  # fmt: skip

    async def ListTrainingRuns(self, request, context: grpc.aio.ServicerContext):
        principal = require_principal()
        state = state_text(request.state) if request.state else None
        page = read_page(request.page_size, request.page_token, state, request.round_number, key=store.RUN_KEY)
        async with self._sessions() as session:
            rows = await store.list_runs(
                session, principal.vendor_id or None, state, request.round_number, page.after, page.size + 1
            )
        runs = within_page_bytes([run_proto(await self._settle(row)) for row in rows[: page.size]])
        token = page.next_token(rows, store.run_key, len(runs))
        return training_pb2.ListTrainingRunsResponse(runs=runs, next_page_token=token)

    async def GetTrainingRun(self, request, context: grpc.aio.ServicerContext) -> training_pb2.TrainingRun:
        async with self._sessions() as session:
            run = await training.require_run(session, request.run_id)
        return run_proto(await self._settle(run))

    async def _mutate(self, run_id: str, change: Change[T]) -> tuple[TrainingRun, T | None]:
        """Runs `change` on the row-locked run; the result is None when the run turned out lost
        (its lease had run out), in which case the lost verdict is what gets committed."""
        result: T | None = None
        async with self._sessions.begin() as session:
            run = await training.require_run(session, run_id, for_update=True)
            if training.lease_ran_out(run, self._now()):
                await training.declare_lost(session, run, self._now())
            else:
                result = await change(session, run)
        if run.state in training.TERMINAL:
            self._on_run_ended(run.id)  # its run tokens stop working here at once
        return run, result

    async def _apply(self, run_id: str, change: Change[T], what: str) -> tuple[TrainingRun, T]:
        """_mutate for writes that must happen: a run found lost is FAILED_PRECONDITION."""
        run, result = await self._mutate(run_id, change)
        if result is None:
            raise FailedPrecondition(f"run {run.id} is lost ({training.LOST_MESSAGE}); {what} no longer taken")
        return run, result

    async def CancelTrainingRun(self, request, context: grpc.aio.ServicerContext) -> training_pb2.TrainingRun:
        reason = request.reason or "cancelled by the vendor"

        async def change(session: AsyncSession, run: TrainingRun) -> TrainingRun:
            return await training.transition(session, run, "cancelled", self._now(), message=reason)

        return run_proto((await self._apply(request.run_id, change, "a cancel is"))[0])

    async def TransitionTrainingRun(self, request, context: grpc.aio.ServicerContext) -> training_pb2.TrainingRun:
        if request.state == State.RUN_STATE_UNSPECIFIED:
            raise InvalidArgument("state is required")
        to = state_text(request.state)
        if to == "lost":
            raise InvalidArgument("lost is the server's verdict on a silent run; report failed instead")
        exit_code = request.exit_code if to in ("succeeded", "failed") else None

        async def change(session: AsyncSession, run: TrainingRun) -> TrainingRun:
            return await training.transition(
                session, run, to, self._now(), message=request.message, exit_code=exit_code,
                external_id=request.external_id, lease=self._lease,
            )  # fmt: skip

        return run_proto((await self._apply(request.run_id, change, "state changes are"))[0])

    async def HeartbeatTrainingRun(self, request, context: grpc.aio.ServicerContext):
        run, _ = await self._mutate(
            request.run_id, lambda session, run: training.heartbeat(session, run, self._now(), self._lease)
        )
        return training_pb2.HeartbeatTrainingRunResponse(
            lease_expire_time=timestamp(run.lease_expires_at), cancel_requested=run.state in training.TERMINAL
        )

    async def ReportMetrics(self, request, context: grpc.aio.ServicerContext):
        now = self._now()
        points = [(m.key, m.value, m.step, _when(m.time, now)) for m in request.metrics]

        async def change(session: AsyncSession, run: TrainingRun) -> int:
            return await training.report_metrics(session, run, points, now)

        _run, accepted = await self._apply(request.run_id, change, "metrics are")
        return training_pb2.ReportMetricsResponse(accepted=accepted)

    async def AppendRunLogs(self, request, context: grpc.aio.ServicerContext):
        now = self._now()
        lines = [(line.stream, line.text, _when(line.time, now)) for line in request.lines]

        async def change(session: AsyncSession, run: TrainingRun) -> int:
            return await training.append_logs(session, run, lines, now)

        _run, accepted = await self._apply(request.run_id, change, "logs are")
        return training_pb2.AppendRunLogsResponse(accepted=accepted)

    async def UploadRunArtifact(self, request_iterator: AsyncIterator, context: grpc.aio.ServicerContext):
        header: training_pb2.UploadRunArtifactRequest.Header | None = None
        staged: StagedWrite | None = None

        async def accept(received: training_pb2.UploadRunArtifactRequest.Header) -> None:
            nonlocal header, staged
            name = received.file_name or "model.bin"
            check_key(name)
            if "/" in name:
                raise InvalidArgument("file_name is a plain file name, without folders")
            async with self._sessions() as session:
                await training.require_run(session, received.run_id)
            header, staged = received, self._blobs.stage()

        try:
            async for chunk in chunks_after_header(request_iterator, accept):
                assert staged is not None
                await asyncio.to_thread(staged.write, chunk)
            assert header is not None  # chunks_after_header refuses a stream without one
            assert staged is not None
            stored = await asyncio.to_thread(staged.finish)
            check_arrived(stored, header.expected.size_bytes, header.expected.sha256, "the artifact")
            key = f"runs/{header.run_id}/{uuid.uuid4().hex[:12]}/{header.file_name or 'model.bin'}"
            await asyncio.to_thread(self._blobs.commit, staged, key)
            try:
                async with self._sessions.begin() as session:
                    run = await training.require_run(session, header.run_id, for_update=True)
                    return run_proto(training.attach_artifact(run, key, stored.size_bytes, stored.sha256))
            except BaseException:
                await asyncio.to_thread(self._blobs.delete, key)
                raise
        finally:
            if staged is not None:
                staged.abandon()

    async def IssueRunToken(self, request, context: grpc.aio.ServicerContext) -> training_pb2.IssueRunTokenResponse:
        principal = require_principal()
        now = self._now()
        secret = new_token(TokenType.RUN)
        async with self._sessions.begin() as session:
            run = await training.require_run(session, request.run_id)
            token = training.issue_run_token(session, self._digester, run, secret, actor=principal.token_id, now=now)
        return training_pb2.IssueRunTokenResponse(token=secret, expire_time=timestamp(token.expires_at))

    async def CreateArtifactUrl(self, request, context: grpc.aio.ServicerContext) -> training_pb2.ArtifactUrl:
        async with self._sessions() as session:
            run = await training.require_run(session, request.run_id)
        if not run.artifact_key:
            raise FailedPrecondition(
                f"run {run.id} has no model artifact ({run.state}); it uploads one when it succeeds"
            )
        url, expires = download_url(self._blobs, self._signer, self._public_url, run.artifact_key, ARTIFACT_URL_TTL)
        return training_pb2.ArtifactUrl(
            url=url, file_name=run.artifact_key.rsplit("/", 1)[-1], expire_time=timestamp(to_datetime(expires)),
            digest=common_pb2.FileDigest(size_bytes=run.artifact_size or 0, sha256=run.artifact_sha256 or ""),
        )  # fmt: skip

    async def _events_after(self, run_id: str, after: int):
        async with self._sessions() as session:
            run = await training.require_run(session, run_id)
            return run, await store.events_after(session, run.id, after)

    async def WatchTrainingRun(
        self, request, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[training_pb2.RunEvent]:
        after = request.after_sequence
        while True:
            run, events = await finish_even_if_cancelled(self._events_after(request.run_id, after))
            for event in events:
                yield event_proto(event)
                after = event.sequence
            if events:
                continue  # more may be waiting; the state is looked at once the log is drained
            run = await finish_even_if_cancelled(self._settle(run))
            if run.state in training.TERMINAL and run.event_count <= after:
                return
            await asyncio.sleep(WATCH_POLL)
