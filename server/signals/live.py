"""A subscription's stream: the stored signals after the id it resumes from, then the live ones, none twice.

The hub's subscription opens first, so everything committed from then on is on its way; then the replay
reads what is stored after `after_id` from the database (so from any replica). A signal both replayed
and delivered live (committed while the replay read) is sent once: live deliveries whose ids could
overlap the replay are filtered against the replayed ids.

Ids are handed out before commit, so concurrent batches can commit out of id order; a subscriber that
resumes after id N gets everything stored after N that the replay or the hub sees, which misses only a
batch numbered below N that committed after the subscriber received N, while it was away.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mlmp_marketplace.v1 import signals_pb2
from mlmp_server.core import metrics
from mlmp_server.core.errors import FailedPrecondition, ResourceExhausted
from mlmp_server.core.principal import Principal
from mlmp_server.signals import rules, store
from mlmp_server.signals.hub import QUEUE_LIMIT, SignalHub, Subscription, merged
from mlmp_server.signals.ingest import stored_signal_proto

REPLAY_LIMIT = 100_000
REPLAY_PAGE = 1_000


def _dropped(last_id: int) -> ResourceExhausted:
    resume = f"subscribe again with after_id={last_id}" if last_id else "subscribe again"
    return ResourceExhausted(
        f"this subscriber fell {QUEUE_LIMIT:,} signals behind the signal stream and was dropped; {resume} "
        "to get the rest without gap"
    )


async def follow(
    sessions: async_sessionmaker[AsyncSession],
    hub: SignalHub,
    principal: Principal,
    *,
    symbol: str,
    vendor: str,
    after_id: str,
    opened: Callable[[], Awaitable[None]],
) -> AsyncIterator[signals_pb2.SubscribeSignalsResponse]:
    """The subscription's messages, until the caller stops reading or the subscriber falls behind.
    `opened` runs once it is subscribed (what is committed from then on will arrive)."""
    vendor = rules.own_vendor(principal, vendor) if principal.vendor_id else vendor
    subscription = hub.subscribe(symbol, vendor)
    try:
        await opened()
        last_id = int(after_id or 0)
        replayed: set[int] = set()
        if after_id:
            async for response in _replay(sessions, principal, subscription, last_id):
                replayed.update(int(signal.id) for signal in response.signals)
                last_id = max(last_id, int(response.signals[-1].id))
                yield response
        highest_replayed = max(replayed, default=0)
        while True:
            deliveries = await subscription.next()
            if not deliveries:
                raise _dropped(last_id)
            response = merged(deliveries)
            if replayed and min(d.first_id for d in deliveries) <= highest_replayed:
                response = _without(response, replayed)
            now = time.time()
            for delivery in deliveries:
                metrics.subscriber_lag_seconds.observe(max(0.0, now - delivery.committed_at))
            last_id = max(last_id, *(delivery.last_id for delivery in deliveries))
            if response.signals:
                yield response
    finally:
        hub.unsubscribe(subscription)


async def _replay(
    sessions: async_sessionmaker[AsyncSession], principal: Principal, subscription: Subscription, after: int
) -> AsyncIterator[signals_pb2.SubscribeSignalsResponse]:
    replayed = 0
    while True:
        async with sessions() as session:
            vendor_id = await rules.vendor_filter(session, principal, subscription.vendor)
            rows = await store.signals_after(
                session, after_id=after, symbol=subscription.symbol, vendor_id=vendor_id, limit=REPLAY_PAGE
            )
        if subscription.dropped:
            raise _dropped(after)
        if not rows:
            return
        replayed += len(rows)
        if replayed > REPLAY_LIMIT:
            raise FailedPrecondition(
                f"more than {REPLAY_LIMIT:,} signals were stored after the id to resume from; read them with "
                "ListSignals, then subscribe again with the newest id"
            )
        yield signals_pb2.SubscribeSignalsResponse(signals=[stored_signal_proto(s, v) for s, v in rows])
        after = rows[-1][0].id
        if len(rows) < REPLAY_PAGE:
            return


def _without(
    response: signals_pb2.SubscribeSignalsResponse, replayed: set[int]
) -> signals_pb2.SubscribeSignalsResponse:
    kept = [signal for signal in response.signals if int(signal.id) not in replayed]
    if len(kept) == len(response.signals):
        return response
    return signals_pb2.SubscribeSignalsResponse(signals=kept)

