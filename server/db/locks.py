"""Work that one replica at a time may do (migrations, first-start chores such as the demo round), serialised
with PostgreSQL advisory locks. SQLite has a single process (and serialises writers itself): nothing to do
there."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker


async def one_replica_at_a_time(transaction: AsyncSession | AsyncConnection, name: str) -> None:
    """Waits until no other transaction holds the lock `name`, then holds it until this transaction ends
    (commit, rollback, or the connection's loss: a replica that dies mid-way releases it)."""
    bind = transaction.get_bind() if isinstance(transaction, AsyncSession) else transaction
    if bind.dialect.name != "postgresql":
        return
    await transaction.execute(select(func.pg_advisory_xact_lock(func.hashtext(name))))


@asynccontextmanager
async def one_replica_at_a_time_for(sessions: async_sessionmaker[AsyncSession], name: str) -> AsyncIterator[None]:
    """The same for work that spans transactions of its own and slow steps between them (a build in a child
    process): the lock is held by a connection of its own in autocommit, so no transaction stays open (an
    idle_in_transaction_session_timeout would end it mid-way), and released at the end, or with the
    connection if the replica dies."""
    async with sessions() as session:
        if session.get_bind().dialect.name != "postgresql":
            yield
            return
        conn = await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        key = func.hashtext(name)
        await conn.execute(select(func.pg_advisory_lock(key)))
        try:
            yield
        finally:
            await conn.execute(select(func.pg_advisory_unlock(key)))
