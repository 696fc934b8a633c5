"""Idempotency records: the first response to a create, per (principal, method, request id)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.models import IdempotencyRecord


async def find_record(
    session: AsyncSession, principal_id: str, method: str, request_id: str
) -> IdempotencyRecord | None:
    return await session.get(IdempotencyRecord, (principal_id, method, request_id))


async def purge_records(session: AsyncSession, created_before: datetime) -> None:
    await session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.created_at < created_before))
