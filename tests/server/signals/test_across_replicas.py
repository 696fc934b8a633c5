"""Signals across replicas: two in-process servers on one PostgreSQL database; what is stored on either
reaches the subscribers of both, once each, and a replica that missed notifications catches up."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import grpc
import pytest
from sqlalchemy import select

from mlmp_marketplace.v1 import signals_pb2
from mlmp_server.db.engine import create_engine, migrate
from mlmp_server.db.models import Signal
from mlmp_server.settings import RateLimit, Settings, normalise_database_url
from mlmp_server.signals import replicas as replicas_module
from mlmp_server.signals.hub import SignalHub
from mlmp_server.signals.replicas import ReplicaFanout, decode, encode
from tests.helpers.auth import bearer, create_vendor_token
from tests.helpers.market import SYMBOLS, Market, batch, signal
from tests.helpers.postgres import fresh_database
from tests.helpers.rounds import publish_request
from tests.helpers.server_thread import ServerThread
from tests.helpers.subscriptions import Reader

pytestmark = pytest.mark.postgres
UNLIMITED = RateLimit(per_second=1e6, burst=1e6)


def migrated(url: str) -> None:
    async def run() -> None:
        engine = create_engine(url)
        try:
            await migrate(engine)
        finally:
            await engine.dispose()

    asyncio.run(run())


@dataclass
class Pair:
    a: Market
    b: Market


@pytest.fixture
def pair(postgres_admin_url: str, tmp_path: Path) -> Iterator[Pair]:
    from mlmp_marketplace.v1 import auth_pb2_grpc, datasets_pb2_grpc

    with fresh_database(postgres_admin_url) as admin_url:
        url = normalise_database_url(admin_url)
        migrated(url)
        limits = dict.fromkeys(("read", "write", "signal_ingest"), UNLIMITED)
        settings = Settings(data_dir=tmp_path / "a", database_url=url, secret_key=b"s" * 32, log_level="INFO",
                            demo_round=False, rate_limits=limits)  # fmt: skip
        servers = [ServerThread(replace(settings, data_dir=tmp_path / name)).start() for name in ("a", "b")]
        channels = [grpc.insecure_channel(server.grpc_target) for server in servers]
        try:
            admin = bearer(servers[0].admin_token)  # one database: one first admin token, good on both
            datasets_pb2_grpc.DatasetServiceStub(channels[0]).PublishRound(
                publish_request({"train": b"x"}, symbols=SYMBOLS), metadata=admin
            )
            auth = auth_pb2_grpc.AuthServiceStub(channels[0])
            acme = bearer(create_vendor_token(auth, admin, scopes=("deploy:write", "signals:read")).secret)
            a, b = (Market.over(s, c, admin, acme) for s, c in zip(servers, channels, strict=True))
            yield Pair(a, b)
        finally:
            for channel in channels:
                channel.close()
            for server in servers:
                server.stop()


def stored_ids(market: Market) -> list[int]:
    async def read():
        async with market.server.listening.resources.sessions() as session:  # type: ignore[union-attr]
            return list(await session.scalars(select(Signal.id).order_by(Signal.id)))

    return market.server.run_in_loop(read)


def subscribe(market: Market) -> Reader:
    call = market.signals.SubscribeSignals(signals_pb2.SubscribeSignalsRequest(), metadata=market.admin, timeout=60)
    call.initial_metadata()
    return Reader(call)


def test_signals_stored_on_either_replica_reach_the_subscribers_of_both_once(pair: Pair):
    token = pair.a.deploy().token
    on_a, on_b = subscribe(pair.a), subscribe(pair.b)
    try:
        for sequence in range(1, 11):
            writer = pair.a if sequence % 2 else pair.b  # the deployment's batches land on either replica
            writer.stream(token, [batch(sequence, signal("AAA"), signal("BBB"), signal("CCC"))])
        expected = stored_ids(pair.a)
        assert len(expected) == 30
        for reader in (on_a, on_b):
            reader.until(30)
        time.sleep(0.3)  # a duplicate would arrive now
    finally:
        on_a.stop()
        on_b.stop()
    assert sorted(on_a.ids) == expected
    assert sorted(on_b.ids) == expected


def test_a_subscriber_on_one_replica_resumes_on_the_other(pair: Pair):
    token = pair.a.deploy().token
    for sequence in range(1, 4):
        pair.a.stream(token, [batch(sequence, signal("AAA"), signal("BBB"))])
    first = stored_ids(pair.a)
    request = signals_pb2.SubscribeSignalsRequest(after_id=str(first[1]))
    call = pair.b.signals.SubscribeSignals(request, metadata=pair.b.admin, timeout=60)
    call.initial_metadata()
    reader = Reader(call)
    try:
        pair.a.stream(token, [batch(4, signal("CCC"))])
        received = reader.until(5)
        time.sleep(0.3)
        received = reader.ids
    finally:
        reader.stop()
    assert received == stored_ids(pair.a)[2:]


class Bus:
    """A notification bus that only records handlers: the test plays the listener."""

    def __init__(self) -> None:
        self.handlers: dict[str, tuple] = {}
        self.sent: list[str] = []

    def on(self, channel, handler, on_gap=None) -> None:
        self.handlers[channel] = (handler, on_gap)

    async def send_in(self, session, channel, payload) -> None:
        self.sent.append(payload)


def test_after_a_gap_the_missed_signals_are_read_from_the_database_once(pair: Pair, monkeypatch):
    token = pair.a.deploy().token
    pair.a.stream(token, [batch(1, signal("AAA"))])
    server = pair.a.server
    sessions = server.listening.resources.sessions  # type: ignore[union-attr]
    bus = Bus()

    async def start():
        hub = SignalHub(flush_seconds=0.001)
        fanout = ReplicaFanout(sessions, hub, bus, shared=True)  # type: ignore[arg-type]
        return hub, fanout, hub.subscribe()

    hub, fanout, subscription = server.run_in_loop(start)
    handler, on_gap = bus.handlers[replicas_module.CHANNEL]
    first = stored_ids(pair.a)
    fanout.highest = first[-1]  # as if it had handed out everything stored so far
    # Stored while this "replica" was not listening: their notifications are lost.
    pair.a.stream(token, [batch(2, signal("BBB"), signal("CCC"))])
    missed = [one for one in stored_ids(pair.a) if one > first[-1]]

    async def handed_out() -> list[int]:
        await asyncio.sleep(0.2)
        got = []
        while subscription.pending:
            got.extend(int(s.id) for d in await subscription.next() for s in d.response.signals)
        return got

    async def gap():
        on_gap()
        return await handed_out()

    async def late_notification():
        for payload in encode(missed):
            handler(payload)  # the same ids announced late: not handed out again
        return await handed_out()

    assert server.run_in_loop(gap) == missed
    assert server.run_in_loop(late_notification) == []


def test_ids_travel_as_ranges_under_the_payload_limit():
    assert encode([5, 1, 2, 3, 9, 10]) == ["1-3,5,9-10"]
    assert decode("1-3,5,9-10") == [(1, 3), (5, 5), (9, 10)]
    scattered = list(range(1, 40_000, 2))
    payloads = encode(scattered)
    assert len(payloads) > 1
    assert all(len(p.encode()) < 7000 for p in payloads)
    assert [first for p in payloads for first, _last in decode(p)] == scattered
