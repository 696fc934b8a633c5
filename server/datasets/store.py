"""Dataset round and file rows."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.models import DatasetFile, DatasetRound


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


async def list_rounds(session: AsyncSession, offset: int, limit: int) -> list[DatasetRound]:
    rows = await session.scalars(select(DatasetRound).order_by(DatasetRound.number.desc()).offset(offset).limit(limit))
    return list(rows)


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
