"""Training runs: the lifecycle, leases and the event log.

queued → running → succeeded | failed | cancelled, and lost for a running run whose lease ran out
(its executor crashed or was killed). queued may also end failed or cancelled. Ended runs stay
ended. Every change, metric point and log line is an event with a sequence number per run, which is
what WatchTrainingRun replays and follows.
"""

from __future__ import annotations

import json
import math
import re
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from mlmp_server.core.errors import FailedPrecondition, InvalidArgument, NotFound
from mlmp_server.core.ids import new_id
from mlmp_server.core.tokens import TokenDigester, hint
from mlmp_server.db import audit
from mlmp_server.db.models import RunToken, TrainingRun
from mlmp_server.training import store

LEASE = timedelta(seconds=60)  # the default; mp-server passes MP_RUN_LEASE
TERMINAL = frozenset({"succeeded", "failed", "cancelled", "lost"})
TRANSITIONS = {
    "queued": frozenset({"running", "failed", "cancelled"}),
    "running": frozenset({"succeeded", "failed", "cancelled", "lost"}),
}
PROVIDERS = ("local", "runpod")  # where a vendor's code runs: its training runs and its deployments
RUN_TOKEN_TTL = timedelta(days=7)  # a ceiling: the token dies with its run anyway
LOST_MESSAGE = "no heartbeat before the lease ran out; the executor is gone"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MAX_LOG_LINE = 8192
# Limits on what a run stores, so that no run can make a page of ListTrainingRuns too big to return.
MAX_HYPERPARAMETERS = 256
MAX_HYPERPARAMETER_BYTES = 64 * 1024  # serialized as compact JSON
MAX_PROJECT = 200
MAX_GPU_TYPE = 64
MAX_METRIC_NAMES = 256  # latest_metrics keeps one value per name


async def record(
    session: AsyncSession, run: TrainingRun, events: list[tuple[str, dict[str, Any]]], now: datetime
) -> None:
    """Appends events to the run's log: one multi-row INSERT per batch, not one ORM object per event."""
    if events:
        first = store.reserve_sequences(run, len(events))
        rows = [
            {"run_id": run.id, "sequence": first + offset, "occurred_at": now, "kind": kind, "data": data}
            for offset, (kind, data) in enumerate(events)
        ]
        await store.add_events(session, rows)


async def create_run(
    session: AsyncSession,
    *,
    vendor_id: str,
    task: str,
    round_number: int,
    provider: str,
    hyperparameters: dict[str, Any],
    gpu_type: str,
    project: str,
    actor: str,
    now: datetime,
    lease: timedelta = LEASE,
) -> TrainingRun:
    if not _NAME.match(task):
        raise InvalidArgument(f"task {task!r} is not valid: letters, digits, '.', '_' or '-' (e.g. signal)")
    if provider not in PROVIDERS:
        raise InvalidArgument(f"provider {provider!r} is not one of {', '.join(PROVIDERS)}")
    _check_hyperparameters(hyperparameters)
    for name, text, limit in (("project", project, MAX_PROJECT), ("gpu_type", gpu_type, MAX_GPU_TYPE)):
        if len(text) > limit:
            raise InvalidArgument(f"{name} is longer than {limit} characters ({len(text)})")
        if not text.isprintable():
            raise InvalidArgument(f"{name} has characters that are not printable")
    run = TrainingRun(
        id=new_id("run"), vendor_id=vendor_id, task=task, round_number=round_number, provider=provider,
        state="queued", project=project, hyperparameters=hyperparameters, latest_metrics={},
        gpu_type=gpu_type, external_id="", message="", created_at=now, lease_expires_at=now + lease,
        event_count=0,
    )  # fmt: skip
    await store.add_run(session, run)
    await record(session, run, [("state", {"from": "", "to": "queued", "message": ""})], now)
    audit.record(session, actor=actor, action="run.create", target=run.id, at=now, round=round_number)
    return run


def _check_hyperparameters(hyperparameters: dict[str, Any]) -> None:
    if len(hyperparameters) > MAX_HYPERPARAMETERS:
        raise InvalidArgument(f"a run takes at most {MAX_HYPERPARAMETERS} hyperparameters, not {len(hyperparameters)}")
    bad = [key for key in hyperparameters if not _NAME.match(key)]
    if bad:
        raise InvalidArgument(
            f"hyperparameter name {bad[0][:64]!r} is not valid: up to 64 letters, digits, '.', '_', '-'"
        )
    size = len(json.dumps(hyperparameters, separators=(",", ":")).encode())
    if size > MAX_HYPERPARAMETER_BYTES:
        raise InvalidArgument(
            f"hyperparameters take at most 64 KiB as JSON, these take {size // 1024} KiB; "
            "keep large inputs (weights, data) in files of the run"
        )


async def require_run(session: AsyncSession, run_id: str, *, for_update: bool = False) -> TrainingRun:
    """The run (whether the caller may reach it, the ownership interceptor checked before)."""
    run = await store.get_run(session, run_id, for_update=for_update)
    if run is None:
        raise NotFound(f"no training run {run_id!r}; `mp train list` shows yours")
    return run


def lease_ran_out(run: TrainingRun, now: datetime) -> bool:
    """A running run whose executor stopped sending heartbeats: it is lost, whoever looks first."""
    return run.state == "running" and run.lease_expires_at is not None and run.lease_expires_at < now


async def declare_lost(session: AsyncSession, run: TrainingRun, now: datetime) -> TrainingRun:
    return await transition(session, run, "lost", now, message=LOST_MESSAGE)


async def transition(
    session: AsyncSession, run: TrainingRun, to: str, now: datetime, *, message: str = "", exit_code: int | None = None,
    external_id: str = "", lease: timedelta = LEASE,
) -> TrainingRun:  # fmt: skip
    if to not in TRANSITIONS.get(run.state, frozenset()):
        if run.state in TERMINAL:
            raise FailedPrecondition(f"run {run.id} already ended ({run.state}); it cannot become {to}")
        raise FailedPrecondition(f"run {run.id} is {run.state}; it cannot become {to}")
    previous, run.state = run.state, to
    message = _storable(message, 2000)
    run.message = message or run.message
    if exit_code is not None:
        run.exit_code = exit_code
    if external_id:
        run.external_id = _storable(external_id, 128)
    if to == "running":
        run.started_at, run.lease_expires_at = now, now + lease
    if to in TERMINAL:
        run.ended_at, run.lease_expires_at = now, None
    await record(session, run, [("state", {"from": previous, "to": to, "message": message})], now)
    return run


def _storable(text: str, limit: int) -> str:
    # PostgreSQL text holds no NUL character, and a crashed script's last lines may have some.
    return text[:limit].replace("\x00", "\ufffd")


async def heartbeat(session: AsyncSession, run: TrainingRun, now: datetime, lease: timedelta = LEASE) -> TrainingRun:
    if run.state in TERMINAL:
        return run  # the executor learns from the state that it should stop
    run.lease_expires_at = now + lease
    return run


async def expire_leases(session: AsyncSession, now: datetime) -> int:
    """Running runs whose lease ran out become lost; returns how many."""
    expired = await store.runs_with_expired_leases(session, now)
    for run in expired:
        await declare_lost(session, run, now)
    return len(expired)


def issue_run_token(
    session: AsyncSession, digester: TokenDigester, run: TrainingRun, secret: str, *, actor: str, now: datetime
) -> RunToken:
    """A token for a remote trainer to report on `run` with; it stops working when the run ends."""
    if run.state in TERMINAL:
        raise FailedPrecondition(f"run {run.id} already ended ({run.state}); it needs no token")
    token = RunToken(id=new_id("rtk"), digest=digester.digest(secret), hint=hint(secret), run_id=run.id,
                     created_at=now, expires_at=now + RUN_TOKEN_TTL)  # fmt: skip
    store.add_run_token(session, token)
    audit.record(session, actor=actor, action="run.token", target=run.id, at=now)
    return token


def attach_artifact(run: TrainingRun, key: str, size_bytes: int, sha256: str) -> TrainingRun:
    run.artifact_key, run.artifact_size, run.artifact_sha256 = key, size_bytes, sha256
    return run


async def report_metrics(
    session: AsyncSession, run: TrainingRun, metrics: list[tuple[str, float, int, datetime]], now: datetime
) -> int:
    if run.state in TERMINAL:
        raise FailedPrecondition(f"run {run.id} already ended ({run.state}); metrics are no longer taken")
    latest = dict(run.latest_metrics or {})
    events = []
    for key, value, step, when in metrics:
        if not _NAME.match(key):
            raise InvalidArgument(f"metric name {key[:64]!r} is not valid")
        if not math.isfinite(value):
            raise InvalidArgument(f"metric {key} is {value}; report finite values (a diverged run can fail instead)")
        latest[key] = value
        events.append(("metric", {"key": key, "value": value, "step": step, "time": when.isoformat()}))
    if len(latest) > MAX_METRIC_NAMES:
        raise InvalidArgument(
            f"a run keeps at most {MAX_METRIC_NAMES} metric names; run {run.id} would have {len(latest)}"
        )
    run.latest_metrics = latest
    await record(session, run, events, now)
    return len(events)


async def append_logs(
    session: AsyncSession, run: TrainingRun, lines: list[tuple[str, str, datetime]], now: datetime
) -> int:
    if run.state in TERMINAL:
        raise FailedPrecondition(f"run {run.id} already ended ({run.state}); logs are no longer taken")
    events = [
        ("log", {"stream": stream if stream in ("stdout", "stderr") else "stdout", "text": text[:MAX_LOG_LINE],
                 "time": when.isoformat()})
        for stream, text, when in lines
    ]  # fmt: skip
    await record(session, run, events, now)
    return len(events)
