"""Work that must not stop half-way when the call that started it is cancelled.

A client that cancels a call makes gRPC cancel the handler's task. Delivered inside a database
await, that cancellation leaves the connection mid-command: PostgreSQL then refuses the pool's
rollback ("another command is already in progress") and SQLite keeps its write lock, so every
later write waits for its busy timeout. Units of work therefore run in a task of their own that
the caller's cancellation does not reach: the caller stops waiting at once, the unit commits or
rolls back, and shutdown waits for the ones still running.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import TypeVar

log = logging.getLogger("mp.server")
T = TypeVar("T")

_unfinished: set[asyncio.Future] = set()


async def finish_even_if_cancelled(work: Awaitable[T]) -> T:
    """Awaits `work`; when the caller is cancelled meanwhile, `work` still runs to its end."""
    task = asyncio.ensure_future(work)
    if task.done():
        return task.result()
    _unfinished.add(task)
    task.add_done_callback(_forget)
    return await asyncio.shield(task)


def _forget(task: asyncio.Future) -> None:
    _unfinished.discard(task)
    if not task.cancelled():
        task.exception()  # retrieved: a unit whose caller left may fail without "never retrieved" noise


async def drain_unfinished(timeout: float) -> int:
    """Waits up to `timeout` seconds for units whose callers left; returns how many were still running."""
    pending = set(_unfinished)
    if not pending:
        return 0
    _done, still_running = await asyncio.wait(pending, timeout=timeout)
    for task in still_running:
        task.cancel()
    if still_running:
        log.warning("%d unit(s) of work still running at shutdown were cancelled", len(still_running))
    return len(still_running)
