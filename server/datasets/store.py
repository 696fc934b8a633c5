"""Dataset round and file rows."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, and_, false, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from mlmp_server.db.keyset import seek
from mlmp_server.db.models import DatasetFile, DatasetRound

ROUND_KEY = (int,)  # the sort key of round listings: (number,), newest first


def round_key(row: DatasetRound) -> tuple[int]:
    return (row.number,)


async def add_round(session: AsyncSession, row: DatasetRound, files: list[DatasetFile]) -> None:
    session.add(row)
    await session.flush()
    session.add_all(files)
    await session.flush()


async def count_rounds(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(DatasetRound)) or 0)


async def get_round(session: AsyncSession, number: int, *, for_update: bool = False) -> DatasetRound | None:
    return await session.get(DatasetRound, number, with_for_update=for_update)


async def latest_number(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.coalesce(func.max(DatasetRound.number), 0))) or 0)


async def list_rounds(
    session: AsyncSession,
    limit: int,
    *,
    state: str = "",
    now: datetime | None = None,
    after: Sequence[object] | None = None,
) -> list[DatasetRound]:
    """Newest first, in `state` ("open", "closed", …; "" for all) as of `now`, past the round whose
    `round_key` is `after`. The state is filtered here, before the limit, so every page is full."""
    query = select(DatasetRound)
    if state:
        assert now is not None, "a round's state depends on the time"
        query = query.where(state_is(state, now))
    rows = await session.scalars(seek(query, [DatasetRound.number], after, descending=True).limit(limit))
    return list(rows)


def state_is(state: str, now: datetime) -> ColumnElement[bool]:
    """SQL for server/datasets/rules.py's `state_of(row, now) == state` (tests check both agree)."""
    resolved = DatasetRound.resolved_at.is_not(None)
    closed = or_(DatasetRound.state == "closed", DatasetRound.closes_at <= now)
    opened = DatasetRound.opens_at <= now
    if state == "resolved":
        return resolved
    if state == "closed":
        return and_(~resolved, closed)
    if state == "open":
        return and_(~resolved, ~closed, opened)
    if state == "upcoming":
        return and_(~resolved, ~closed, ~opened)
    return false()


async def files_of(session: AsyncSession, numbers: list[int]) -> dict[int, list[DatasetFile]]:
    if not numbers:
        return {}
    rows = await session.scalars(
        select(DatasetFile).where(DatasetFile.round_number.in_(numbers)).order_by(DatasetFile.id)
    )
    grouped: dict[int, list[DatasetFile]] = {number: [] for number in numbers}
    for row in rows:
        grouped[row.round_number].append(row)
    return grouped
