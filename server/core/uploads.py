"""Client-streamed uploads: one header message first, then chunks of bytes.

Both uploads of the contract (a round's files, a run's artifact) follow this order; the checks on
it live here once, so both refuse a broken stream with the same words.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from mlmp_server.core.errors import InvalidArgument


async def chunks_after_header(
    parts: AsyncIterator[Any], accept_header: Callable[[Any], Awaitable[None]]
) -> AsyncIterator[Any]:
    """Hands the header to `accept_header` (which may refuse it), then yields each chunk."""
    seen_header = False
    async for part in parts:
        if part.HasField("header"):
            if seen_header:
                raise InvalidArgument("the header must come once, first")
            seen_header = True
            await accept_header(part.header)
            continue
        if not seen_header:
            raise InvalidArgument("the first message must be the header")
        yield part.chunk
    if not seen_header:
        raise InvalidArgument("nothing was sent: the first message must be the header")
