"""Deliveries to linked destinations through a real server, on SQLite and PostgreSQL: the marketplace
stores every signal, then POSTs it signed to each linked URL; the deployment's token never leaves."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import grpc
import pytest

from mlmp_cli.publisher import SignalPublisher
from mlmp_marketplace.v1 import auth_pb2_grpc, deployments_pb2
from mlmp_server.core.clock import ManualClock
from mlmp_server.core.redaction import redact
from mlmp_server.db.models import SignalDestination
from tests.helpers.auth import bearer, create_vendor_token
from tests.helpers.market import SYMBOLS, Market, batch, signal, stored_count
from tests.helpers.receiver import Received, Receiver, readme_verify
from tests.helpers.rounds import publish_request
from tests.helpers.server_thread import ServerThread

Delivery = deployments_pb2.LinkDeliveryState


@pytest.fixture
def settings(settings):
    """The receivers listen on 127.0.0.1, which production refuses (see the test of that below)."""
    return replace(settings, deliver_to_private=True)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    yield running
    running.close()


def link(market: Market, deployment_id: str, url: str) -> deployments_pb2.AddSignalDestinationResponse:
    request = deployments_pb2.AddSignalDestinationRequest(deployment_id=deployment_id, url=url)
    return market.deployments.AddSignalDestination(request, metadata=market.acme)


def shown(market: Market, deployment_id: str) -> deployments_pb2.Deployment:
    request = deployments_pb2.GetDeploymentRequest(deployment_id=deployment_id)
    return market.deployments.GetDeployment(request, metadata=market.acme)


def wait_for_delivery(market: Market, deployment_id: str, check: Callable[[Any], bool], timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while True:
        (delivery,) = shown(market, deployment_id).deliveries
        if check(delivery):
            return delivery
        assert time.monotonic() < deadline, f"delivery status stayed {delivery}"
        time.sleep(0.05)


def stored_destination(market: Market, destination_id: str) -> dict[str, Any]:
    async def read() -> dict[str, Any]:
        async with market.server.listening.resources.sessions() as session:  # type: ignore[union-attr]
            row = await session.get(SignalDestination, destination_id)
            assert row is not None
            return {column: getattr(row, column) for column in SignalDestination.__table__.columns.keys()}

    return market.server.run_in_loop(read)


def delivered_signals(received: list[Received]) -> list[tuple[str, str]]:
    return [(s["id"], s["symbol"]) for r in received for s in r.delivery["signals"]]


def test_the_token_never_reaches_a_linked_destination_which_gets_signed_deliveries(market, receiver):
    created = market.deploy()
    dep_id = created.deployment.id
    linked = link(market, dep_id, receiver.url)
    assert linked.signing_secret.startswith("mpws_")
    assert linked.destination.url == receiver.url
    publisher = SignalPublisher(market.server.grpc_target, created.token, heartbeat=0.1)
    try:
        publisher.publish({"symbol": "AAA", "score": 0.2})
        assert publisher.flush(timeout=30)
        publisher.publish({"symbol": "BBB", "score": -0.2})
        assert publisher.flush(timeout=30)
    finally:
        publisher.close()
    assert stored_count(market.server) == 2  # the marketplace stores every signal
    delivery = wait_for_delivery(market, dep_id, lambda d: d.delivered_through and int(d.delivered_through) >= 2)
    verify = readme_verify()
    for posted in receiver.requests:
        assert "Authorization" not in posted.headers
        assert created.token not in json.dumps(posted.headers)
        assert created.token.encode() not in posted.body
        assert verify(linked.signing_secret, posted.headers["X-MP-Signature"], posted.body)
        assert not verify(linked.signing_secret, posted.headers["X-MP-Signature"], posted.body + b" ")
        assert posted.headers["X-MP-Delivery-Id"] == posted.delivery["deliveryId"]
    signals = [s for r in receiver.requests for s in r.delivery["signals"]]
    assert [s["symbol"] for s in signals] == ["AAA", "BBB"]
    assert {s["attribution"]["vendorSlug"] for s in signals} == {"acme"}
    assert {s["attribution"]["deploymentId"] for s in signals} == {dep_id}
    assert (delivery.state, delivery.attempts, delivery.last_error) == (Delivery.LINK_DELIVERY_STATE_OK, 0, "")
    beat = market.deployments.DeploymentHeartbeat(
        deployments_pb2.DeploymentHeartbeatRequest(), metadata=bearer(created.token)
    )
    assert not beat.deliveries  # the deployment is not told where its signals are delivered


def test_destination_urls_are_checked_and_linking_again_issues_a_new_secret(market, receiver, monkeypatch):
    dep_id = market.deploy().deployment.id
    for url, message in [
        ("ftp://infra/x", "not an http(s) URL"),
        ("grpc://infra:50051", "not an http(s) URL"),
        ("https://user:pw@infra.example/x", "no credentials"),
    ]:
        with pytest.raises(grpc.RpcError) as caught:
            link(market, dep_id, url)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert message in caught.value.details()
    first, again = link(market, dep_id, receiver.url), link(market, dep_id, receiver.url)
    assert first.destination.id == again.destination.id
    assert first.signing_secret != again.signing_secret
    assert again.signing_secret not in redact(f"pasted into a log: {again.signing_secret}")
    assert again.signing_secret not in repr(stored_destination(market, again.destination.id))  # a seed only
    assert [d.url for d in shown(market, dep_id).deliveries] == [receiver.url]
    monkeypatch.setattr("mlmp_server.deployments.deliveries.MAX_DESTINATIONS", 2)  # the server runs in this process
    link(market, dep_id, f"{receiver.url}?n=2")
    with pytest.raises(grpc.RpcError) as caught:
        link(market, dep_id, f"{receiver.url}?n=3")
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "already has 2 destinations" in caught.value.details()
    link(market, dep_id, receiver.url)  # linking one again is no new destination
    market.deployments.RemoveSignalDestination(
        deployments_pb2.RemoveSignalDestinationRequest(deployment_id=dep_id, url=f"{receiver.url}?n=2"),
        metadata=market.acme,
    )
    remove = deployments_pb2.RemoveSignalDestinationRequest(deployment_id=dep_id, url=receiver.url)
    assert not market.deployments.RemoveSignalDestination(remove, metadata=market.acme).deliveries
    with pytest.raises(grpc.RpcError) as caught:
        market.deployments.RemoveSignalDestination(remove, metadata=market.acme)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    other = bearer(create_vendor_token(auth_pb2_grpc.AuthServiceStub(grpc.insecure_channel(market.server.grpc_target)),
                                       market.admin, slug="zeta", scopes=("deploy:write",)).secret)  # fmt: skip
    with pytest.raises(grpc.RpcError) as caught:
        market.deployments.AddSignalDestination(
            deployments_pb2.AddSignalDestinationRequest(deployment_id=dep_id, url=receiver.url), metadata=other
        )
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND  # another vendor's deployment


def test_an_older_client_linking_a_signals_url_is_told_what_replaced_it(market, channel):
    dep_id = market.deploy().deployment.id
    url = b"http://infra/x"
    old_links = b"\x0a" + bytes([len(url)]) + url  # DeploymentLinks.signals_url (field 1), as an older mp sent it
    raw = deployments_pb2.UpdateDeploymentLinksRequest(deployment_id=dep_id).SerializeToString()
    update = channel.unary_unary(
        "/marketplace.v1.DeploymentService/UpdateDeploymentLinks",
        request_serializer=lambda _: raw + b"\x12" + bytes([len(old_links)]) + old_links,
        response_deserializer=deployments_pb2.Deployment.FromString,
    )
    with pytest.raises(grpc.RpcError) as caught:
        update(None, metadata=market.acme)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "mp link-infra --add URL" in caught.value.details()


def test_destinations_over_the_http_api(market, receiver):
    import httpx

    dep_id = market.deploy().deployment.id
    base = f"{market.server.http_url}/api/deployments/{dep_id}/destinations"
    headers = {"Authorization": dict(market.acme)["authorization"]}
    added = httpx.post(base, json={"url": receiver.url}, headers=headers)
    assert added.status_code == 200, added.text
    assert added.json()["signingSecret"].startswith("mpws_")
    assert added.json()["deployment"]["deliveries"][0]["url"] == receiver.url
    refused = httpx.post(base, json={"url": "grpc://infra:50051"}, headers=headers)
    assert refused.status_code == 400
    removed = httpx.delete(base, params={"url": receiver.url}, headers=headers)
    assert removed.status_code == 200, removed.text
    assert not removed.json().get("deliveries")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(time.time())


def open_market(server: ServerThread, admin: tuple, acme: tuple) -> tuple[Market, grpc.Channel]:
    channel = grpc.insecure_channel(server.grpc_target)
    return Market.over(server, channel, admin, acme), channel


@contextmanager
def running_market(settings, clock: ManualClock) -> Iterator[Market]:
    """A market whose server runs on a manual clock: a retry is due only when the test moves time."""
    server = ServerThread(settings, clock=clock).start()
    admin = bearer(server.admin_token)
    with grpc.insecure_channel(server.grpc_target) as channel:
        auth = auth_pb2_grpc.AuthServiceStub(channel)
        acme = bearer(create_vendor_token(auth, admin, scopes=("deploy:write", "signals:read")).secret)
    opened, channel = open_market(server, admin, acme)
    try:
        opened.datasets.PublishRound(publish_request({"train": b"x"}, symbols=SYMBOLS), metadata=admin)
        yield opened
    finally:
        channel.close()
        opened.server.stop()


@pytest.fixture
def clocked(settings, clock) -> Iterator[Market]:
    with running_market(settings, clock) as opened:
        yield opened


def retry_when_due(market: Market, clock: ManualClock, dep_id: str, attempts: int):
    """Waits for the failed attempt number `attempts` to be recorded, then moves time to its retry."""
    failing = wait_for_delivery(market, dep_id, lambda d: d.attempts == attempts)
    clock.advance(failing.next_attempt_time.ToNanoseconds() / 1e9 - clock() + 0.001)
    return failing


def test_a_failing_destination_is_retried_with_back_off_until_it_answers_2xx(clocked, clock):
    receiver = Receiver([500, 500, 503, 500, 500])
    try:
        created = clocked.deploy()
        dep_id = created.deployment.id
        link(clocked, dep_id, receiver.url)
        clocked.stream(created.token, [batch(1, signal("AAA"), signal("BBB"))])
        first = retry_when_due(clocked, clock, dep_id, 1)
        assert first.state == Delivery.LINK_DELIVERY_STATE_RETRYING
        assert first.last_error == "HTTP 500 Internal Server Error"
        assert first.next_attempt_time.ToSeconds() - first.last_attempt_time.ToSeconds() == 1  # 1 s, then doubling
        assert first.delivered_through == ""
        clocked.stream(created.token, [batch(2, signal("CCC"))])  # stored while the destination fails
        assert stored_count(clocked.server) == 3
        delays = []
        for attempts in (2, 3, 4):
            failing = retry_when_due(clocked, clock, dep_id, attempts)
            delays.append(failing.next_attempt_time.ToSeconds() - failing.last_attempt_time.ToSeconds())
        assert delays == [2, 4, 8]
        fifth = retry_when_due(clocked, clock, dep_id, 5)
        assert fifth.state == Delivery.LINK_DELIVERY_STATE_FAILING
        assert fifth.last_error == "HTTP 500 Internal Server Error"
        receiver.wait_for(7)  # the sixth attempt succeeds, then the second batch follows
        done = wait_for_delivery(clocked, dep_id, lambda d: d.delivered_through and int(d.delivered_through) == 3)
        assert (done.state, done.attempts, done.last_error) == (Delivery.LINK_DELIVERY_STATE_OK, 0, "")
    finally:
        receiver.close()
    ids = [r.headers["X-MP-Delivery-Id"] for r in receiver.requests]
    assert ids[:6] == [ids[0]] * 6  # every retry is the same delivery, with the same signals
    assert len({r.body for r in receiver.requests[:6]}) == 1
    accepted = receiver.accepted()
    assert [r.headers["X-MP-Delivery-Id"] for r in accepted] == [ids[0], ids[6]]  # once each, in order
    assert delivered_signals(accepted) == [("1", "AAA"), ("2", "BBB"), ("3", "CCC")]


def test_a_restarted_server_resumes_a_delivery_where_it_stopped(settings, clock, clocked):
    receiver = Receiver([500, 500, 500, 500])
    try:
        created = clocked.deploy()
        dep_id = created.deployment.id
        link(clocked, dep_id, receiver.url)
        clocked.stream(created.token, [batch(1, signal("AAA"), signal("BBB"))])
        retry_when_due(clocked, clock, dep_id, 1)
        retry_when_due(clocked, clock, dep_id, 2)
        clocked.server.stop()  # mid-retry: the third attempt is due, not yet made
        receiver.statuses.clear()
        restarted = ServerThread(settings, clock=clock).start()
        market, channel = open_market(restarted, clocked.admin, clocked.acme)
        try:
            receiver.wait_for(3)
            market.stream(created.token, [batch(2, signal("CCC"))])
            done = wait_for_delivery(market, dep_id, lambda d: d.delivered_through and int(d.delivered_through) == 3)
            assert (done.state, done.attempts) == (Delivery.LINK_DELIVERY_STATE_OK, 0)
        finally:
            channel.close()
            restarted.stop()
    finally:
        receiver.close()
    ids = [r.headers["X-MP-Delivery-Id"] for r in receiver.requests]
    assert ids[:3] == [ids[0]] * 3  # the restarted server resent the same delivery
    accepted = receiver.accepted()
    assert len({r.headers["X-MP-Delivery-Id"] for r in accepted}) == len(accepted) == 2
    assert delivered_signals(accepted) == [("1", "AAA"), ("2", "BBB"), ("3", "CCC")]  # nothing lost, in order


def test_by_default_nothing_is_delivered_to_a_loopback_or_private_address(settings, clock, receiver):
    with running_market(replace(settings, deliver_to_private=False), clock) as market:
        created = market.deploy()
        link(market, created.deployment.id, receiver.url)
        market.stream(created.token, [batch(1, signal("AAA"))])
        refused = wait_for_delivery(market, created.deployment.id, lambda d: d.attempts == 1)
        assert refused.last_error == "refused: 127.0.0.1 is not a public address"
        assert refused.state == Delivery.LINK_DELIVERY_STATE_RETRYING
        assert stored_count(market.server) == 1
    assert receiver.requests == []


def test_the_migration_drops_old_signal_links_and_keeps_the_endpoint(database_url):
    import asyncio

    from alembic import command
    from sqlalchemy import text

    from mlmp_server.db.engine import _alembic_config, create_engine, migrate

    async def scenario() -> tuple[object, object]:
        engine = create_engine(database_url)
        try:
            async with engine.begin() as conn:
                await conn.run_sync(lambda sync: command.upgrade(_alembic_config(sync), "0004"))
                await conn.execute(text("INSERT INTO marketplace_vendors VALUES ('vnd_1', 'acme', 'Acme', :now)"),
                                   {"now": "2026-12-01T00:00:00+00:00"})  # fmt: skip
                for dep_id, links in [
                    ("dep_old", '{"signals_url": "http://infra/x", "endpoint_url": "http://127.0.0.1:8080"}'),
                    ("dep_grpc", '{"signals_target": "grpc://infra:50051"}'),
                ]:
                    await conn.execute(
                        text("INSERT INTO deployments (id, vendor_id, name, provider, state, links, external_id, "
                             "message, created_at, updated_at, signal_count, last_sequence) VALUES (:id, 'vnd_1', "
                             "'m', 'local', 'live', :links, '', '', :now, :now, 0, 0)"),
                        {"id": dep_id, "links": links, "now": "2026-12-01T00:00:00+00:00"},
                    )  # fmt: skip
            await migrate(engine)
            async with engine.connect() as conn:
                rows = dict((await conn.execute(text("SELECT id, links FROM deployments"))).all())
            return rows["dep_old"], rows["dep_grpc"]
        finally:
            await engine.dispose()

    old, grpc_only = (json.loads(v) if isinstance(v, str) else v for v in asyncio.run(scenario()))  # SQLite: text
    assert old == {"endpoint_url": "http://127.0.0.1:8080"}
    assert grpc_only == {}
