"""Notifications between replicas: a replica that changed something tells the others, which act on it
(forget a cached answer, end a stream). The replica that sent a notification never handles it: it has
already acted locally. Payloads are short texts (ids, never rows): PostgreSQL's NOTIFY takes under 8000 bytes.

Implementations: server/db/notifications.py (PostgreSQL LISTEN/NOTIFY, and the single-process one).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, Protocol

log = logging.getLogger("mp.notifications")

# The channels, one per kind of news (PostgreSQL channel names: lower case, no quoting needed).
# "<event> <id>": a token, vendor, deployment or run stopped being valid (the catalog's answers go too)
REVOCATIONS = "mp_revocations"
ROUNDS = "mp_rounds"  # a round was published, closed or resolved: round snapshots are stale

RETRY_DELAYS = (0.1, 0.3)  # seconds before the second and third try of a background send
MAX_PAYLOAD_BYTES = 7000  # NOTIFY's limit is 8000 bytes, the sender's replica id included


class Notifications(Protocol):
    connected: bool  # False while a listener is reconnecting (notifications may be missed meanwhile)

    def on(self, channel: str, handler: Callable[[str], None], on_gap: Callable[[], None] | None = None) -> None:
        """handler(payload) for each notification *another* replica sent on channel; on_gap() after the
        listener reconnects, since notifications may have been missed meanwhile. Handlers run on the event
        loop and must not block."""

    async def send(self, channel: str, payload: str) -> None:
        """To the other replicas, at once (in a transaction of its own)."""

    async def send_in(self, session: Any, channel: str, payload: str) -> None:
        """Inside the caller's transaction (an AsyncSession): delivered when it commits, never if it rolls back."""

    def send_soon(self, channel: str, payload: str) -> None:
        """From code that cannot await (revocation, after its caller's commit): sent in the background, tried
        again if it fails, and waited for by close()."""

    async def start(self) -> None:
        """Listens from now on: returns once the first LISTEN is in place (or the first attempt failed)."""

    async def close(self) -> None:
        """Waits (briefly) for background sends, then stops listening."""


def check_payload(payload: str) -> bytes:
    encoded = payload.encode()
    if len(encoded) > MAX_PAYLOAD_BYTES:
        raise ValueError(
            f"a notification payload is {len(encoded)} bytes, over {MAX_PAYLOAD_BYTES}: send ids, not rows"
        )
    return encoded


class Background:
    """send_soon's sends, for the implementations: kept so they are not garbage-collected mid-way, tried
    again, logged when they fail, drained at close."""

    def __init__(self, bus: Notifications) -> None:
        self._bus = bus
        self._tasks: set[asyncio.Task[None]] = set()

    def send(self, channel: str, payload: str) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop (a synchronous unit test): there is no other replica to tell
            return
        task = loop.create_task(self._send(channel, payload))
        self._tasks.add(task)
        task.add_done_callback(self._landed)

    async def _send(self, channel: str, payload: str) -> None:
        # A second and third try for a connection lost under it; acting twice on a notification is harmless.
        for delay in RETRY_DELAYS:
            try:
                await self._bus.send(channel, payload)
                return
            except ValueError:
                raise
            except Exception:
                log.info("sending a notification failed; trying again in %.1fs", delay)
            await asyncio.sleep(delay)
        await self._bus.send(channel, payload)

    def _landed(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning(
                "a notification to the other replicas was not sent (%s); they catch up at their cache's expiry",
                type(task.exception()).__name__,
            )

    async def drain(self, timeout: float = 2.0) -> None:
        """Waits for sends still in flight (at shutdown)."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)
