"""The notification bus between replicas: two listeners on one real PostgreSQL database, as two replicas."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Iterator

import psycopg
import pytest

from mlmp_server.core.notifications import MAX_PAYLOAD_BYTES
from mlmp_server.db.engine import create_engine, session_factory
from mlmp_server.db.notifications import APPLICATION_NAME, LocalNotifications, PostgresNotifications, libpq_url
from mlmp_server.settings import normalise_database_url
from tests.helpers.postgres import fresh_database

pytestmark = pytest.mark.postgres


@pytest.fixture
def database(postgres_admin_url: str) -> Iterator[str]:
    with fresh_database(postgres_admin_url) as url:
        yield normalise_database_url(url)


class Replica:
    """One bus and what its handlers received."""

    def __init__(self, url: str, channel: str = "mp_test") -> None:
        self.engine = create_engine(url)
        self.bus = PostgresNotifications(url, session_factory(self.engine))
        self.received: list[str] = []
        self.gaps = 0
        self.bus.on(channel, self.received.append, on_gap=self._gap)

    def _gap(self) -> None:
        self.gaps += 1

    async def close(self) -> None:
        await self.bus.close()
        await self.engine.dispose()


async def eventually(check: Callable[[], bool], within: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("not within the time allowed")
        await asyncio.sleep(0.02)


def two_replicas(url: str, scenario: Callable[[Replica, Replica], Awaitable[None]]) -> None:
    async def run() -> None:
        a, b = Replica(url), Replica(url)
        try:
            await a.bus.start()
            await b.bus.start()
            assert a.bus.connected
            assert b.bus.connected
            await scenario(a, b)
        finally:
            await a.close()
            await b.close()

    asyncio.run(run())


def test_a_notification_reaches_the_other_replica_and_not_its_sender(database: str) -> None:
    async def scenario(a: Replica, b: Replica) -> None:
        await a.bus.send("mp_test", "token_revoked tok_1")
        await b.bus.send("mp_test", "from b")
        await eventually(lambda: b.received == ["token_revoked tok_1"] and a.received == ["from b"])
        await asyncio.sleep(0.3)  # a's own notification would have arrived by now
        assert a.received == ["from b"]
        assert b.received == ["token_revoked tok_1"]

    two_replicas(database, scenario)


def test_send_in_is_delivered_at_commit_and_never_after_a_rollback(database: str) -> None:
    async def scenario(a: Replica, b: Replica) -> None:
        sessions = session_factory(a.engine)
        async with sessions() as session:
            await session.begin()
            await a.bus.send_in(session, "mp_test", "rolled back")
            await session.rollback()
        async with sessions.begin() as session:
            await a.bus.send_in(session, "mp_test", "committed")
            await asyncio.sleep(0.3)
            assert b.received == []  # not before the commit
        await eventually(lambda: b.received == ["committed"])
        await asyncio.sleep(0.3)
        assert b.received == ["committed"]

    two_replicas(database, scenario)


def test_a_channel_asked_for_after_start_is_listened_to(database: str) -> None:
    async def scenario(a: Replica, b: Replica) -> None:
        later: list[str] = []
        b.bus.on("mp_later", later.append)
        await asyncio.sleep(0.6)  # the listener LISTENs between waits
        await a.bus.send("mp_later", "42")
        await eventually(lambda: later == ["42"])

    two_replicas(database, scenario)


def test_a_killed_listening_connection_reconnects_and_reports_the_gap(database: str) -> None:
    async def scenario(a: Replica, b: Replica) -> None:
        async with await psycopg.AsyncConnection.connect(database.replace("+psycopg", ""), autocommit=True) as admin:
            cursor = await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND application_name = %s",
                [APPLICATION_NAME],
            )
            killed = [row[0] for row in await cursor.fetchall()]
        assert killed, "no listening connection found"
        await eventually(lambda: a.gaps == 1 and b.gaps == 1 and a.bus.connected and b.bus.connected)
        await a.bus.send("mp_test", "after the gap")
        await eventually(lambda: b.received == ["after the gap"])

    two_replicas(database, scenario)


def test_payloads_are_ids_not_rows(database: str) -> None:
    async def scenario(a: Replica, b: Replica) -> None:
        with pytest.raises(ValueError, match="send ids, not rows"):
            await a.bus.send("mp_test", "x" * (MAX_PAYLOAD_BYTES + 1))

    two_replicas(database, scenario)


def test_the_single_process_bus_tells_nobody() -> None:
    async def run() -> None:
        bus = LocalNotifications()
        called: list[str] = []
        bus.on("mp_test", called.append)
        await bus.start()
        await bus.send("mp_test", "x")
        await bus.close()
        assert called == []

    asyncio.run(run())


def test_a_replica_that_could_not_listen_at_start_listens_once_it_can_and_reports_the_gap(postgres_admin_url):
    name = f"mp_test_late_{uuid.uuid4().hex[:8]}"
    url = normalise_database_url(postgres_admin_url.rpartition("/")[0] + "/" + name)

    async def run() -> None:
        replica = Replica(url)
        try:
            await replica.bus.start()  # returns after the first attempt, which fails: no such database yet
            assert not replica.bus.connected
            async with await psycopg.AsyncConnection.connect(postgres_admin_url, autocommit=True) as admin:
                await admin.execute(f'CREATE DATABASE "{name}"')
            await eventually(lambda: replica.bus.connected and replica.gaps == 1)
        finally:
            await replica.close()
            async with await psycopg.AsyncConnection.connect(postgres_admin_url, autocommit=True) as admin:
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    asyncio.run(run())


def test_a_background_send_made_just_before_shutdown_is_delivered(database: str) -> None:
    with psycopg.connect(libpq_url(database), autocommit=True) as listener:
        listener.execute("LISTEN mp_test")

        async def replica_shutting_down() -> None:
            replica = Replica(database)
            await replica.bus.start()
            replica.bus.send_soon("mp_test", "token_revoked tok_1")
            await replica.close()  # then the loop ends, as mp-server's does: nothing left running

        asyncio.run(replica_shutting_down())
        received = [notify.payload for notify in listener.notifies(timeout=2, stop_after=1)]
    assert [payload.partition(" ")[2] for payload in received] == ["token_revoked tok_1"]
