"""Storing a published round: its rows and its files, together or not at all."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from server.blobs.local import BlobStore, StagedWrite
from server.datasets import rules as rounds
from server.db.models import DatasetRound


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
        description=facts.description, actor=actor, now=now,
    )  # fmt: skip
    for planned_file, key in keyed:
        await asyncio.to_thread(blobs.commit, staged[planned_file.name], key)
        committed.append(key)
    return row
