"""Work that one replica at a time may do (first-start chores such as the demo round), serialised with a
PostgreSQL advisory lock held until the end of the caller's transaction. SQLite has a single process (and
serialises writers itself): nothing to do there."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession


async def one_replica_at_a_time(session: AsyncSession, name: str) -> None:
    """Waits until no other transaction holds the lock `name`, then holds it until this transaction ends
    (commit, rollback, or the connection's loss: a replica that dies mid-way releases it)."""
    if session.get_bind().dialect.name != "postgresql":
        return
    await session.execute(select(func.pg_advisory_xact_lock(func.hashtext(name))))
