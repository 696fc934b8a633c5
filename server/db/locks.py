"""Work that one replica at a time may do (migrations, first-start chores such as the demo round), serialised with a
PostgreSQL advisory lock held until the end of the caller's transaction. SQLite has a single process (and
serialises writers itself): nothing to do there."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession


async def one_replica_at_a_time(transaction: AsyncSession | AsyncConnection, name: str) -> None:
    """Waits until no other transaction holds the lock `name`, then holds it until this transaction ends
    (commit, rollback, or the connection's loss: a replica that dies mid-way releases it)."""
    bind = transaction.get_bind() if isinstance(transaction, AsyncSession) else transaction
    if bind.dialect.name != "postgresql":
        return
    await transaction.execute(select(func.pg_advisory_xact_lock(func.hashtext(name))))
