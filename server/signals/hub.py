"""Fan-out of newly stored signals to the subscribers of this process, in batches.

Ingest (and, across replicas, the reader of other replicas' notifications) publishes each committed batch
once. The hub gathers what is published within FLUSH_SECONDS and hands it out in one go: for each distinct
filter (symbol, vendor) it selects the matching signals once and builds one response, shared by every
subscriber with that filter. A subscriber's queue holds responses; its stream sends what has piled up as
one message, so a subscriber that falls behind gets bigger messages, not more of them.

A subscriber that falls QUEUE_LIMIT signals behind is dropped at once: its queue is emptied and the error
is the next thing it reads, not something it learns after draining a backlog. It can subscribe again with
the id of the last signal it got (SubscribeSignalsRequest.after_id) and lose nothing.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from mlmp_marketplace.v1 import signals_pb2
from mlmp_server.core import metrics

QUEUE_LIMIT = 10_000  # signals waiting for one subscriber before it is dropped
FLUSH_SECONDS = 0.02  # what is published within this is handed out together
MAX_MESSAGE_SIGNALS = 1_000  # signals in one message to a subscriber
Build = Callable[[], list[signals_pb2.Signal]]
Filter = tuple[str, str]  # (symbol, vendor slug or id); "" matches all


@dataclass(frozen=True)
class Delivery:
    """Signals for a subscriber, shared by all with its filter, and when the oldest was committed."""

    response: signals_pb2.SubscribeSignalsResponse
    count: int
    first_id: int  # the lowest id among them
    last_id: int  # the highest
    committed_at: float  # time.time()


@dataclass(eq=False)
class Subscription:
    symbol: str
    vendor: str  # slug or id
    pending: deque[Delivery] = field(default_factory=deque)
    waiting: int = 0  # signals in `pending`
    dropped: bool = False
    _ready: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def filter(self) -> Filter:
        return (self.symbol, self.vendor)

    def wants(self, signal: signals_pb2.Signal) -> bool:
        if self.symbol and signal.symbol != self.symbol:
            return False
        attribution = signal.attribution
        return not self.vendor or self.vendor in (attribution.vendor_slug, attribution.vendor_id)

    def _offer(self, delivery: Delivery) -> bool:
        """Queues a delivery; False (and the queue emptied) when it would pass QUEUE_LIMIT."""
        if self.waiting + delivery.count > QUEUE_LIMIT:
            self.pending.clear()
            self.waiting = 0
            self.dropped = True
            self._ready.set()
            return False
        self.pending.append(delivery)
        self.waiting += delivery.count
        self._ready.set()
        return True

    async def next(self) -> list[Delivery]:
        """Waits for deliveries and takes them, at most about MAX_MESSAGE_SIGNALS signals' worth (at least
        one delivery); [] once the subscriber was dropped."""
        while not self.pending and not self.dropped:
            self._ready.clear()
            await self._ready.wait()
        if self.dropped:
            return []
        taken: list[Delivery] = []
        count = 0
        while self.pending and (not taken or count + self.pending[0].count <= MAX_MESSAGE_SIGNALS):
            delivery = self.pending.popleft()
            taken.append(delivery)
            count += delivery.count
        self.waiting -= count
        return taken


def merged(deliveries: list[Delivery]) -> signals_pb2.SubscribeSignalsResponse:
    """One message of several deliveries; a single one is sent as it is (shared, never copied)."""
    if len(deliveries) == 1:
        return deliveries[0].response
    response = signals_pb2.SubscribeSignalsResponse()
    for delivery in deliveries:
        response.signals.MergeFrom(delivery.response.signals)
    return response


def _select(signals: list[signals_pb2.Signal], wanted: Filter) -> list[signals_pb2.Signal]:
    symbol, vendor = wanted
    return [
        signal
        for signal in signals
        if (not symbol or signal.symbol == symbol)
        and (not vendor or vendor in (signal.attribution.vendor_slug, signal.attribution.vendor_id))
    ]


class SignalHub:
    def __init__(self, *, flush_seconds: float = FLUSH_SECONDS) -> None:
        self._groups: dict[Filter, set[Subscription]] = {}
        self._flush_seconds = flush_seconds
        self._outbox: list[signals_pb2.Signal] = []
        self._oldest = 0.0  # commit time of the oldest batch in the outbox
        self._flush: asyncio.TimerHandle | None = None

    @property
    def has_subscribers(self) -> bool:
        return bool(self._groups)

    def subscribe(self, symbol: str = "", vendor: str = "") -> Subscription:
        subscription = Subscription(symbol, vendor)
        self._groups.setdefault(subscription.filter, set()).add(subscription)
        metrics.subscribers.inc()
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        group = self._groups.get(subscription.filter)
        if group is None or subscription not in group:
            return
        group.discard(subscription)
        if not group:
            del self._groups[subscription.filter]
        metrics.subscribers.dec()

    def publish(self, build: Build, committed_at: float | None = None) -> None:
        """Takes a committed batch for the next hand-out; `build` makes its protos only when someone listens."""
        if not self._groups:
            return
        self.publish_signals(build(), committed_at)

    def publish_signals(
        self, signals: Iterable[signals_pb2.Signal], committed_at: float | None = None, *, now: bool = False
    ) -> None:
        """Takes signals for the next hand-out; `now`: hands them out at once (a batch already)."""
        if not self._groups:
            return
        if not self._outbox:
            self._oldest = time.time() if committed_at is None else committed_at
        self._outbox.extend(signals)
        if now:
            self.flush()
        elif self._outbox and self._flush is None:
            self._flush = asyncio.get_running_loop().call_later(self._flush_seconds, self.flush)

    def flush(self) -> None:
        """Hands out what was published since the last hand-out: selected once per filter."""
        if self._flush is not None:
            self._flush.cancel()
        self._flush = None
        signals, self._outbox = self._outbox, []
        if not signals:
            return
        for wanted, group in list(self._groups.items()):
            selected = signals if wanted == ("", "") else _select(signals, wanted)
            if not selected:
                continue
            for start in range(0, len(selected), MAX_MESSAGE_SIGNALS):
                part = selected[start : start + MAX_MESSAGE_SIGNALS]
                ids = [int(signal.id) for signal in part]
                response = signals_pb2.SubscribeSignalsResponse(signals=part)
                delivery = Delivery(response, len(part), min(ids), max(ids), self._oldest)
                for subscription in list(group):
                    if not subscription._offer(delivery):
                        metrics.subscribers_dropped.inc()
                        self.unsubscribe(subscription)
