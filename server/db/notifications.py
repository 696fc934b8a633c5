"""Notifications between replicas over PostgreSQL LISTEN/NOTIFY (server/core/notifications.py says what
they are for), and the single-process stand-in for SQLite, where there is no other replica to tell.

One dedicated psycopg connection in autocommit listens on every channel a handler asked for. Sends go
through the ordinary sessions (`pg_notify` in a transaction: delivered at its commit). Every payload is
prefixed with the sending replica's id, so a replica skips its own. When the listening connection is lost,
it reconnects with backoff and calls every on_gap handler: what was sent meanwhile is gone for good.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import defaultdict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mlmp_server.core import metrics
from mlmp_server.core.notifications import Background, check_payload

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger("mp.notifications")

POLL = 0.25  # seconds between looks for channels added after start, while nothing arrives
HEALTH_CHECK = 5.0  # seconds of quiet after which the listening connection is probed
BACKOFF_FIRST, BACKOFF_MAX = 0.1, 5.0
# A listening connection whose peer vanished without a word (a cut network) is noticed within ~20 s.
KEEPALIVES = {"keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 3, "keepalives_count": 3}
APPLICATION_NAME = "mp-notifications"  # how an operator finds the listening connections in pg_stat_activity
_NOTIFY = text("SELECT pg_notify(:channel, :payload)")


def libpq_url(database_url: str) -> str:
    """SQLAlchemy's `postgresql+psycopg://…` as the `postgresql://…` libpq reads."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


class PostgresNotifications:
    def __init__(
        self,
        database_url: str,
        sessions: async_sessionmaker[AsyncSession],
        *,
        replica_id: str | None = None,
        connect_timeout: int = 5,
    ) -> None:
        # psycopg only here: on SQLite (the embedded default) it would cost the server ~10 MB for nothing.
        from psycopg.conninfo import make_conninfo

        self._conninfo = make_conninfo(
            libpq_url(database_url), connect_timeout=connect_timeout, application_name=APPLICATION_NAME, **KEEPALIVES
        )
        self._sessions = sessions
        self.replica_id = replica_id or uuid.uuid4().hex[:12]
        self._handlers: dict[str, list[Callable[[str], None]]] = defaultdict(list)
        self._gap_handlers: list[Callable[[], None]] = []
        self._listening: set[str] = set()  # channels LISTENed on the current connection
        self._task: asyncio.Task[None] | None = None
        self._first_attempt = asyncio.Event()
        self.connected = False
        self.reconnects = 0  # (tests read it)
        self._soon = Background(self)

    def on(self, channel: str, handler: Callable[[str], None], on_gap: Callable[[], None] | None = None) -> None:
        self._handlers[channel].append(handler)
        if on_gap is not None:
            self._gap_handlers.append(on_gap)

    def _tagged(self, payload: str) -> str:
        check_payload(payload)
        return f"{self.replica_id} {payload}"

    async def send(self, channel: str, payload: str) -> None:
        async with self._sessions.begin() as session:
            await self.send_in(session, channel, payload)

    async def send_in(self, session: Any, channel: str, payload: str) -> None:
        await session.execute(_NOTIFY, {"channel": channel, "payload": self._tagged(payload)})

    def send_soon(self, channel: str, payload: str) -> None:
        check_payload(payload)  # refused here, to its caller, rather than logged later
        self._soon.send(channel, payload)

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._listen(), name="mp-notifications")
        await self._first_attempt.wait()

    async def close(self) -> None:
        await self._soon.drain()  # a revocation made just before shutdown still reaches the others
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        self._set_connected(False)

    def _set_connected(self, connected: bool) -> None:
        self.connected = connected
        metrics.notification_listener_connected.set(1 if connected else 0)

    async def _listen(self) -> None:
        backoff = BACKOFF_FIRST
        first_attempt = True
        while True:
            try:
                import psycopg

                conn = await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True)
            except Exception as error:  # psycopg's errors, and any other: the listener must outlive them
                first_attempt = False
                self._first_attempt.set()
                log.warning("cannot listen for other replicas' notifications (%s); retrying in %.1fs",
                            type(error).__name__, backoff)  # fmt: skip
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX)
                continue
            try:
                self._listening = set()
                await self._listen_to_new(conn)
                self._set_connected(True)
                self._first_attempt.set()
                backoff = BACKOFF_FIRST
                if not first_attempt:  # anything may have been sent while this replica was not listening
                    self.reconnects += 1
                    log.info("listening again for other replicas' notifications; caches dropped for what was missed")
                    self._gap()
                first_attempt = False
                await self._receive(conn)
            except Exception as error:
                log.warning("lost the connection listening for other replicas' notifications (%s); reconnecting",
                            type(error).__name__)  # fmt: skip
            finally:
                self._first_attempt.set()
                first_attempt = False
                self._set_connected(False)
                with contextlib.suppress(Exception):  # already broken, most likely
                    await conn.close()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX)

    async def _listen_to_new(self, conn: psycopg.AsyncConnection[Any]) -> None:
        from psycopg import sql

        for channel in list(self._handlers):
            if channel not in self._listening:
                await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
                self._listening.add(channel)

    async def _receive(self, conn: psycopg.AsyncConnection[Any]) -> None:
        quiet = 0.0
        while True:
            received = 0
            async for notify in conn.notifies(timeout=POLL):
                received += 1
                self._dispatch(notify.channel, notify.payload)
            await self._listen_to_new(conn)
            quiet = 0.0 if received else quiet + POLL
            if quiet >= HEALTH_CHECK:  # a dead peer shows itself only when spoken to
                await conn.execute("SELECT 1")
                quiet = 0.0

    def _dispatch(self, channel: str, tagged: str) -> None:
        sender, _, payload = tagged.partition(" ")
        if sender == self.replica_id:
            return  # this replica acted when it sent it
        metrics.notifications_received.labels(channel).inc()
        for handler in list(self._handlers.get(channel, ())):
            try:
                handler(payload)
            except Exception:
                log.exception("a handler of notifications on %s failed", channel)

    def _gap(self) -> None:
        for on_gap in list(self._gap_handlers):
            try:
                on_gap()
            except Exception:
                log.exception("a handler of a notification gap failed")


class LocalNotifications:
    """One process on its own database (SQLite): every change is acted on where it happens, nobody else to tell."""

    connected = True

    def on(self, channel: str, handler: Callable[[str], None], on_gap: Callable[[], None] | None = None) -> None:
        pass

    async def send(self, channel: str, payload: str) -> None:
        check_payload(payload)

    async def send_in(self, session: Any, channel: str, payload: str) -> None:
        check_payload(payload)

    def send_soon(self, channel: str, payload: str) -> None:
        check_payload(payload)

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass


def open_notifications(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> PostgresNotifications | LocalNotifications:
    """The PostgreSQL bus for a PostgreSQL database (replicas may share it), else the local stand-in."""
    if database_url.startswith("postgresql"):
        return PostgresNotifications(database_url, sessions)
    return LocalNotifications()
