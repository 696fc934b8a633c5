"""Rows for the list tests: a migrated store to page through, vendors and signals made in bulk, and a walk
that follows page tokens' sort keys to the end."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mlmp_server.db.engine import create_engine, migrate, session_factory
from mlmp_server.db.models import Signal, Vendor

T = TypeVar("T")
T0 = datetime(2026, 1, 1, tzinfo=UTC)


@asynccontextmanager
async def opened(url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(url)
    try:
        await migrate(engine)
        yield session_factory(engine)
    finally:
        await engine.dispose()


def vendors(count: int, *, prefix: str = "v", distinct_times: int = 3, start: int = 0) -> list[Vendor]:
    """`count` vendors whose creation times take only `distinct_times` values, so sort keys tie."""
    return [
        Vendor(id=f"{prefix}{n:05d}", slug=f"{prefix}{n:05d}", display_name=f"desk {n % 4}",
               created_at=T0 + timedelta(seconds=(n % distinct_times)), activity_rank=-(n % 5), score_rank=(n % 3) / 2)
        for n in range(start, start + count)
    ]  # fmt: skip


def signals(count: int, vendor_ids: Sequence[str], *, first_id: int = 1) -> list[Signal]:
    return [
        Signal(id=first_id + n, deployment_id=f"dep_{vendor_ids[n % len(vendor_ids)]}_{n % 2}",
               vendor_id=vendor_ids[n % len(vendor_ids)], run_id=None, symbol="AAA" if n % 3 else "BBB", action=1,
               score=0.5, confidence=1.0, horizon_seconds=60.0, generated_at=T0, round_number=1 + n % 2,
               model_version="v1", batch_sequence=n, stored_at=T0)
        for n in range(count)
    ]  # fmt: skip


async def walk(
    fetch: Callable[[Any, int], Awaitable[list[T]]],
    key: Callable[[T], tuple[Any, ...]],
    size: int,
    between_pages: Callable[[int], Awaitable[None]] | None = None,
) -> list[T]:
    """Every row, page after page of `size` (fetched with `size + 1`, as the servicers do), each page
    continuing after the last row's `key` until a page shows there are no more."""
    found: list[T] = []
    after = None
    for number in range(10_000):
        rows = await fetch(after, size + 1)
        found.extend(rows[:size])
        if len(rows) <= size:
            return found
        after = key(rows[size - 1])
        if between_pages is not None:
            await between_pages(number)
    raise AssertionError("the walk never ended")
