"""Training run rows, their events and their run tokens."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from mlmp_server.db.keyset import equal_if, seek
from mlmp_server.db.models import RunEvent, RunToken, TrainingRun

RUN_KEY = (datetime, str)  # the sort key of run listings: (created_at, id), newest first


def run_key(run: TrainingRun) -> tuple[datetime, str]:
    return run.created_at, run.id


async def add_run(session: AsyncSession, run: TrainingRun) -> None:
    session.add(run)
    await session.flush()


async def add_events(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """One multi-row INSERT per batch, not one ORM object per event."""
    await session.execute(insert(RunEvent), rows)


def add_run_token(session: AsyncSession, token: RunToken) -> None:
    session.add(token)


async def get_run(session: AsyncSession, run_id: str, *, for_update: bool = False) -> TrainingRun | None:
    query = select(TrainingRun).where(TrainingRun.id == run_id)
    if for_update:
        query = query.with_for_update()  # PostgreSQL: one writer per run; SQLite serialises writes anyway
    return await session.scalar(query)


async def list_runs(
    session: AsyncSession,
    vendor_id: str | None,
    state: str | None,
    round_number: int,
    after: Sequence[object] | None,
    limit: int,
) -> list[TrainingRun]:
    """Newest first, past the run whose `run_key` is `after`."""
    query = select(TrainingRun)
    if state:
        query = query.where(TrainingRun.state == state)
    if round_number:
        query = query.where(TrainingRun.round_number == round_number)
    key = [TrainingRun.created_at, TrainingRun.id]
    rows = await session.scalars(
        seek(query, key, after, descending=True, equal=equal_if(TrainingRun.vendor_id, vendor_id)).limit(limit)
    )
    return list(rows)


async def events_after(session: AsyncSession, run_id: str, after: int, limit: int = 500) -> list[RunEvent]:
    rows = await session.scalars(
        select(RunEvent)
        .where(RunEvent.run_id == run_id, RunEvent.sequence > after)
        .order_by(RunEvent.sequence)
        .limit(limit)
    )
    return list(rows)


async def runs_with_expired_leases(session: AsyncSession, now: datetime) -> list[TrainingRun]:
    rows = await session.scalars(
        select(TrainingRun)
        .where(TrainingRun.state == "running", TrainingRun.lease_expires_at < now)
        .with_for_update(skip_locked=True)
    )
    return list(rows)


def reserve_sequences(run: TrainingRun, count: int) -> int:
    """Reserves `count` sequence numbers for the run's next events; returns the first. The caller
    holds the run's row lock (get_run(for_update=True)), so two writers never take the same ones."""
    first = run.event_count + 1
    run.event_count += count
    return first
