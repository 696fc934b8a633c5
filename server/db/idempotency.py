"""Creates that happen once per client request id (AIP-155).

The same request id with the same request returns the first response; with a different request,
ALREADY_EXISTS. A response that carries a secret is stored without it, plus the random seed the
secret was derived from, so a retry gets the same secret back without the secret being stored.
Records (and seeds) are dropped after RETENTION.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TypeVar

from google.protobuf.message import Message
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mlmp_server.core.clock import Clock, to_datetime
from mlmp_server.core.errors import AlreadyExists, InvalidArgument
from mlmp_server.db.models import IdempotencyRecord

RETENTION = timedelta(hours=24)
R = TypeVar("R", bound=Message)


def request_hash(request: Message) -> str:
    copy = type(request)()
    copy.CopyFrom(request)
    copy.ClearField("request_id")  # type: ignore[arg-type]
    return hashlib.sha256(copy.SerializeToString(deterministic=True)).hexdigest()


async def create_once(
    sessions: async_sessionmaker[AsyncSession],
    *,
    principal_id: str,
    method: str,
    request: Message,
    response_type: type[R],
    create: Callable[[AsyncSession, bytes], Awaitable[R]],
    clock: Clock,
    secret_field: str | tuple[str, ...] | None = None,
    restore_secret: Callable[[R, bytes], None] | None = None,
) -> R:
    """Runs `create(session, seed)` in one transaction, at most once per request id."""
    request_id: str = getattr(request, "request_id", "")
    if len(request_id) > 128:
        raise InvalidArgument("request_id must be at most 128 characters")
    if not request_id:
        async with sessions.begin() as session:
            return await create(session, secrets.token_bytes(32))
    fingerprint = request_hash(request)
    for attempt in range(2):
        try:
            async with sessions.begin() as session:
                existing = await _find_record(session, principal_id, method, request_id)
                if existing is not None:
                    return _replay(existing, fingerprint, response_type, restore_secret)
                seed = secrets.token_bytes(32)
                response = await create(session, seed)
                stored = response_type()
                stored.CopyFrom(response)
                for field in (secret_field,) if isinstance(secret_field, str) else secret_field or ():
                    stored.ClearField(field)  # type: ignore[arg-type]
                now = to_datetime(clock())
                await _purge_records(session, now - RETENTION)
                session.add(
                    IdempotencyRecord(
                        principal_id=principal_id,
                        method=method,
                        request_id=request_id,
                        request_hash=fingerprint,
                        response=stored.SerializeToString(),
                        secret_seed=seed if secret_field else None,
                        created_at=now,
                    )
                )
            return response
        except (IntegrityError, AlreadyExists) as conflict:
            # Perhaps a concurrent retry of this very request won the race: it commits its record
            # with what it created, so the second attempt finds the record and replays it.
            if attempt == 1:
                if isinstance(conflict, AlreadyExists):
                    raise
                raise AlreadyExists(f"request_id {request_id!r} is being used by a concurrent request") from None
    raise AssertionError("unreachable")


async def replayed(
    sessions: async_sessionmaker[AsyncSession],
    *,
    principal_id: str,
    method: str,
    request: Message,
    response_type: type[R],
) -> R | None:
    """The answer already given to this request id, before any costly work for it (ALREADY_EXISTS when the id
    was used for another request); None when it is new. create_once still decides, in its transaction."""
    request_id: str = getattr(request, "request_id", "")
    if not request_id:
        return None
    async with sessions() as session:
        existing = await _find_record(session, principal_id, method, request_id)
    return None if existing is None else _replay(existing, request_hash(request), response_type, None)


async def _find_record(
    session: AsyncSession, principal_id: str, method: str, request_id: str
) -> IdempotencyRecord | None:
    return await session.get(IdempotencyRecord, (principal_id, method, request_id))


async def _purge_records(session: AsyncSession, created_before: datetime) -> None:
    await session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.created_at < created_before))


def _replay(
    record: IdempotencyRecord,
    fingerprint: str,
    response_type: type[R],
    restore_secret: Callable[[R, bytes], None] | None,
) -> R:
    if record.request_hash != fingerprint:
        raise AlreadyExists(
            f"request_id {record.request_id!r} was already used for a different request; use a new request_id"
        )
    response = response_type.FromString(record.response)
    if restore_secret is not None and record.secret_seed is not None:
        restore_secret(response, record.secret_seed)
    return response
