"""Publishing bars: store a batch (server/market/rules.py), tell the other replicas in the same transaction,
and hand the committed bars to this process's feed. PublishBars and the demo replay both publish here.

Across replicas: each committed batch sends one notification per ~150 symbols on MARKET_CHANNEL, each line
`<symbol> <first µs> <last µs>` (the batch's new bars' times, microseconds since 1970). A replica that
hears one reads those bars from the database and publishes them to its own feed (server/market/relay.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mlmp_server.core.clock import Clock, to_datetime
from mlmp_server.core.notifications import MAX_PAYLOAD_BYTES, Notifications
from mlmp_server.market import rules
from mlmp_server.market.feed import BarFeed
from mlmp_server.market.rules import BarValues, Published

MARKET_CHANNEL = "mp_market"  # new bars were stored: "<symbol> <first µs> <last µs>" per line
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def micros(value: datetime) -> int:
    return (value - _EPOCH) // timedelta(microseconds=1)


def from_micros(value: int) -> datetime:
    return _EPOCH + timedelta(microseconds=value)


def notification_payloads(stored: Sequence[BarValues]) -> Iterator[str]:
    """The lines naming each symbol's new bars, cut into payloads under NOTIFY's limit."""
    spans: dict[str, tuple[datetime, datetime]] = {}
    for bar in stored:
        first, _ = spans.get(bar.symbol, (bar.time, bar.time))
        spans[bar.symbol] = (first, bar.time)
    lines: list[str] = []
    size = 0
    for symbol, (first, last) in spans.items():
        line = f"{symbol} {micros(first)} {micros(last)}"
        if lines and size + len(line) + 1 > MAX_PAYLOAD_BYTES - 100:  # room for the sender's replica id
            yield "\n".join(lines)
            lines, size = [], 0
        lines.append(line)
        size += len(line) + 1
    if lines:
        yield "\n".join(lines)


def parse_payload(payload: str) -> list[tuple[str, datetime, datetime]]:
    spans = []
    for line in payload.splitlines():
        symbol, first, last = line.split()
        spans.append((symbol, from_micros(int(first)), from_micros(int(last))))
    return spans


class BarPublisher:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        feed: BarFeed,
        clock: Clock,
        notifications: Notifications | None = None,
    ) -> None:
        self._sessions = sessions
        self.feed = feed  # this process's subscribers of new bars
        self._clock = clock
        self._notifications = notifications
        # One batch at a time in this process, from its transaction to its hand-over to the feed: subscribers then
        # get batches in commit order (the feed leaves out a bar older than one it handed on, so a later commit of
        # a symbol's bars handed on first would hide the earlier one's).
        self._in_order = asyncio.Lock()

    async def publish(self, bars: Sequence[BarValues], *, prefix: str = "") -> Published:
        """Stores a batch all or nothing, then feeds its new bars to this process's subscribers. `prefix` is
        put before `bars[i]` in errors (the message of a stream it came in)."""
        async with self._in_order:
            async with self._sessions.begin() as session:
                published = await rules.publish_bars(session, bars, now=to_datetime(self._clock()), prefix=prefix)
                if self._notifications is not None and published.stored:
                    for payload in notification_payloads(published.stored):
                        await self._notifications.send_in(session, MARKET_CHANNEL, payload)
            self.feed.publish(published.stored)
        return published
