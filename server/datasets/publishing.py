"""Storing a published round: its rows and its files, together or not at all."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from google.protobuf.message import Message
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mlmp_server.blobs.local import BlobStore, StagedWrite
from mlmp_server.core.clock import Clock, to_datetime
from mlmp_server.datasets import rules as rounds
from mlmp_server.datasets.building import BuiltFiles
from mlmp_server.db.idempotency import create_once
from mlmp_server.db.models import DatasetRound

R = TypeVar("R", bound=Message)


@dataclass(frozen=True)
class RoundFacts:
    number: int
    opens_at: datetime | None
    closes_at: datetime | None
    symbols: list[str]
    data_start: datetime | None
    data_end: datetime | None
    synthetic: bool
    description: str
    bar_seconds: int = 0  # 0: daily, what rounds assumed before bar lengths were recorded
    horizon_bars: int = 0  # 0: the builder's 5


async def store_round(
    session: AsyncSession,
    blobs: BlobStore,
    *,
    facts: RoundFacts,
    planned: list[rounds.PlannedFile],
    staged: Mapping[str, StagedWrite],
    committed: list[str],
    actor: str,
    now: datetime,
) -> DatasetRound:
    """Adds the rows, then moves each staged file into place, listing its key in `committed` so the
    caller can take it back out if the transaction does not commit."""
    attempt = uuid.uuid4().hex[:12]  # one folder per attempt: a losing race overwrites nothing
    row, keyed = await rounds.publish(
        session, number=facts.number, opens_at=facts.opens_at, closes_at=facts.closes_at, files=planned,
        key_for=lambda number, p: f"rounds/{number}/{attempt}/{p.name}.{p.format}", symbols=facts.symbols,
        data_start=facts.data_start, data_end=facts.data_end, synthetic=facts.synthetic,
        description=facts.description, actor=actor, now=now, bar_seconds=facts.bar_seconds,
        horizon_bars=facts.horizon_bars,
    )  # fmt: skip
    for planned_file, key in keyed:
        await asyncio.to_thread(blobs.commit, staged[planned_file.name], key)
        committed.append(key)
    return row


async def stage_built(blobs: BlobStore, built: BuiltFiles, staged: dict[str, StagedWrite]) -> list[rounds.PlannedFile]:
    """Stages each built file (into `staged`, which the caller abandons at the end) and plans its row."""
    planned = []
    for name, data in built.files.items():
        write = staged[name] = blobs.stage()
        await asyncio.to_thread(write.write, data)
        stored = await asyncio.to_thread(write.finish)
        planned.append(
            rounds.PlannedFile(name, built.file_format, stored.size_bytes, stored.sha256, built.columns,
                               built.row_counts[name])
        )  # fmt: skip
    return planned


def facts_of(built: BuiltFiles, **window: Any) -> RoundFacts:
    """The facts of a round of built files: what they cover, plus its number, window and description."""
    return RoundFacts(
        symbols=built.symbols, data_start=built.data_start, data_end=built.data_end, bar_seconds=built.bar_seconds,
        horizon_bars=built.horizon_bars, **window,
    )  # fmt: skip


async def publish_once(
    sessions: async_sessionmaker[AsyncSession],
    blobs: BlobStore,
    *,
    method: str,
    fingerprint: Message,
    facts: RoundFacts,
    planned: list[rounds.PlannedFile],
    staged: Mapping[str, StagedWrite],
    actor: str,
    clock: Clock,
    response_type: type[R],
    respond: Callable[[AsyncSession, DatasetRound], Awaitable[R]],
) -> R:
    """Publishes the staged files as one round, once per `fingerprint`'s request id (a retry gets the first
    answer); a transaction that does not commit takes its files back out."""
    committed: list[str] = []

    async def create(session: AsyncSession, _seed: bytes) -> R:
        for key in committed:  # left by an attempt whose transaction rolled back
            await asyncio.to_thread(blobs.delete, key)
        committed.clear()
        row = await store_round(
            session, blobs, facts=facts, planned=planned, staged=staged, committed=committed, actor=actor,
            now=to_datetime(clock()),
        )  # fmt: skip
        return await respond(session, row)

    try:
        return await create_once(
            sessions, principal_id=actor, method=method, request=fingerprint,
            response_type=response_type, create=create, clock=clock,
        )  # fmt: skip
    except BaseException:
        for key in committed:
            blobs.delete(key)
        raise
