"""The fan-out hub on its own: batches selected once per filter, a slow subscriber told at once, metrics."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import REGISTRY

from mlmp_marketplace.v1 import options_pb2, signals_pb2
from mlmp_server.core.errors import ResourceExhausted
from mlmp_server.core.principal import Principal
from mlmp_server.signals import hub as hub_module
from mlmp_server.signals import live
from mlmp_server.signals.hub import SignalHub

ADMIN = Principal("tok_admin", options_pb2.PRINCIPAL_KIND_ADMIN, frozenset({"admin"}))


def made(first_id: int, *symbols: str, vendor: str = "acme") -> list[signals_pb2.Signal]:
    by = signals_pb2.Attribution(vendor_id=f"vnd_{vendor}", vendor_slug=vendor)
    return [signals_pb2.Signal(id=str(first_id + n), symbol=s, attribution=by) for n, s in enumerate(symbols)]


def sample(name: str) -> float:
    return REGISTRY.get_sample_value(name) or 0.0


def test_what_is_published_together_reaches_each_filter_as_one_shared_message():
    async def run():
        hub = SignalHub(flush_seconds=0.01)
        everything, bbb, bbb_too, other = (hub.subscribe(), hub.subscribe("BBB"), hub.subscribe("BBB", "acme"),
                                           hub.subscribe(vendor="other"))  # fmt: skip
        hub.publish_signals(made(1, "AAA", "BBB"))
        hub.publish_signals(made(3, "BBB", "CCC"))
        hub.publish_signals(made(5, "BBB", vendor="other"))
        await asyncio.sleep(0.05)
        (all_of_them,) = await everything.next()
        assert [s.id for s in all_of_them.response.signals] == ["1", "2", "3", "4", "5"]
        (mine,) = await bbb.next()
        assert [s.id for s in mine.response.signals] == ["2", "3", "5"]
        assert (mine.first_id, mine.last_id, mine.count) == (2, 5, 3)
        (acme_bbb,) = await bbb_too.next()
        assert [s.id for s in acme_bbb.response.signals] == ["2", "3"]
        (theirs,) = await other.next()
        assert [s.id for s in theirs.response.signals] == ["5"]
        twin = hub.subscribe("BBB")
        hub.publish_signals(made(6, "BBB"))
        await asyncio.sleep(0.05)
        assert (await twin.next())[0].response is (await bbb.next())[0].response  # built once, shared

    asyncio.run(run())


def test_deliveries_that_piled_up_go_out_as_one_message():
    async def run():
        hub = SignalHub(flush_seconds=0.001)
        subscription = hub.subscribe()
        for first in range(1, 30, 3):
            hub.publish_signals(made(first, "AAA", "BBB", "CCC"))
            await asyncio.sleep(0.005)  # a hand-out each time
        deliveries = await subscription.next()
        assert len(deliveries) > 1
        assert [s.id for s in hub_module.merged(deliveries).signals] == [str(n) for n in range(1, 31)]

    asyncio.run(run())


def test_a_subscriber_that_falls_behind_reads_the_error_first(monkeypatch):
    monkeypatch.setattr(hub_module, "QUEUE_LIMIT", 5)
    monkeypatch.setattr(live, "QUEUE_LIMIT", 5)

    async def run():
        hub = SignalHub(flush_seconds=0.001)
        opened = asyncio.Event()

        async def mark_open() -> None:
            opened.set()

        stream = live.follow(None, hub, ADMIN, symbol="", vendor="", after_id="", opened=mark_open)  # type: ignore[arg-type]
        first = asyncio.ensure_future(stream.__anext__())
        await opened.wait()
        hub.publish_signals(made(1, "AAA", "BBB"))
        assert [s.id for s in (await first).signals] == ["1", "2"]
        dropped_before = sample("mp_subscribers_dropped_total")
        # The subscriber reads nothing while three hand-outs (6 signals) come: past its queue of 5.
        for first_id in (3, 5, 7):
            hub.publish_signals(made(first_id, "AAA", "BBB"))
            await asyncio.sleep(0.01)
        with pytest.raises(ResourceExhausted, match="after_id=2 "):
            await stream.__anext__()  # at once: not after the two hand-outs it had queued
        assert sample("mp_subscribers_dropped_total") == dropped_before + 1
        assert not hub.has_subscribers

    asyncio.run(run())


def test_subscribers_and_their_lag_are_measured():
    async def run():
        hub = SignalHub(flush_seconds=0.001)
        before = sample("mp_subscribers")
        lag_count = sample("mp_subscriber_lag_seconds_count")

        async def opened() -> None:
            pass

        stream = live.follow(None, hub, ADMIN, symbol="", vendor="", after_id="", opened=opened)  # type: ignore[arg-type]
        waiting = asyncio.ensure_future(stream.__anext__())
        await asyncio.sleep(0.01)
        assert sample("mp_subscribers") == before + 1
        hub.publish_signals(made(1, "AAA"), committed_at=0.0)
        await waiting
        await stream.aclose()
        assert sample("mp_subscribers") == before
        assert sample("mp_subscriber_lag_seconds_count") == lag_count + 1
        assert sample("mp_subscriber_lag_seconds_sum") > 1e9  # committed at the epoch: decades late

    asyncio.run(run())
