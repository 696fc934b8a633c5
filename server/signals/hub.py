"""Fan-out of newly stored signals to the subscribers of this process.

Ingest publishes each committed batch once; every subscriber has a bounded queue and its filters.
A subscriber that falls a whole queue behind is ended with a clear error instead of being fed a
stream with silent gaps. Several replicas would fan out through PostgreSQL LISTEN/NOTIFY (DESIGN.md);
one process needs no more than this.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from mlmp_marketplace.v1 import signals_pb2

QUEUE_LIMIT = 10_000
Build = Callable[[], list[signals_pb2.Signal]]


@dataclass(eq=False)
class Subscription:
    symbol: str
    vendor: str  # slug or id
    # None, last in the queue, marks a subscriber ended for falling behind.
    queue: asyncio.Queue[signals_pb2.Signal | None] = field(default_factory=asyncio.Queue)

    def wants(self, signal: signals_pb2.Signal) -> bool:
        if self.symbol and signal.symbol != self.symbol:
            return False
        attribution = signal.attribution
        return not self.vendor or self.vendor in (attribution.vendor_slug, attribution.vendor_id)


class SignalHub:
    def __init__(self) -> None:
        self._subscriptions: set[Subscription] = set()

    @property
    def has_subscribers(self) -> bool:
        return bool(self._subscriptions)

    def subscribe(self, symbol: str = "", vendor: str = "") -> Subscription:
        subscription = Subscription(symbol, vendor)
        self._subscriptions.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscriptions.discard(subscription)

    def publish(self, build: Build) -> None:
        """Hands a committed batch to the subscribers; `build` makes its protos only when someone listens."""
        if not self._subscriptions:
            return
        signals = build()
        for subscription in list(self._subscriptions):
            for signal in signals:
                if not subscription.wants(signal):
                    continue
                if subscription.queue.qsize() >= QUEUE_LIMIT:
                    self._subscriptions.discard(subscription)
                    subscription.queue.put_nowait(None)
                    break
                subscription.queue.put_nowait(signal)
