"""The library's SignalPublisher against a real server: batching, acknowledgements. That it sends to the
marketplace only, whatever is linked, is tested in tests/server/deployments/test_deliveries.py."""

from __future__ import annotations

import grpc
import pytest

from mlmp_cli.publisher import PublisherStopped, SignalPublisher
from mlmp_marketplace.v1 import deployments_pb2
from tests.helpers.market import stored_count

SYMBOLS = [f"S{n:04d}" for n in range(2000)]


@pytest.fixture
def wide_market(market):
    """The market fixture's round has four symbols; batches of a thousand need more."""
    from tests.helpers.rounds import publish_request

    market.datasets.PublishRound(publish_request({"train": b"x"}, symbols=SYMBOLS), metadata=market.admin)
    return market


def test_published_signals_are_batched_and_all_acknowledged(wide_market):
    created = wide_market.deploy()
    publisher = SignalPublisher(wide_market.server.grpc_target, created.token, batch_size=1000, heartbeat=0.2)
    try:
        for start in (0, 1000):
            publisher.publish(*({"symbol": s, "score": 0.1, "round_number": 2} for s in SYMBOLS[start : start + 1000]))
        publisher.publish({"symbol": "NOPE", "action": "buy", "round_number": 2})
        assert publisher.flush(timeout=30)
    finally:
        publisher.close()
    assert (publisher.totals.accepted, publisher.totals.rejected) == (2000, 1)
    assert stored_count(wide_market.server) == 2000
    again = SignalPublisher(wide_market.server.grpc_target, created.token, heartbeat=0.2)
    try:
        again.publish({"symbol": "S0001", "action": "sell", "round_number": 2})
        assert again.flush(timeout=30)  # a new publisher numbers after the stored batches: not a duplicate
    finally:
        again.close()
    assert (again.totals.accepted, again.totals.duplicates) == (1, 0)


def test_a_deleted_deployment_stops_the_publisher_with_a_clear_error(market):
    created = market.deploy()
    market.deployments.DeleteDeployment(
        deployments_pb2.DeleteDeploymentRequest(deployment_id=created.deployment.id), metadata=market.acme
    )
    publisher = SignalPublisher(market.server.grpc_target, created.token, heartbeat=0.1)

    def publish_and_flush() -> None:
        publisher.publish({"symbol": "AAA", "score": 0.2})
        publisher.flush(timeout=10)

    try:
        with pytest.raises(PublisherStopped, match="token is not valid"):
            publish_and_flush()
    finally:
        publisher.close(timeout=1)


def test_a_heartbeat_naming_another_destination_never_takes_the_token_or_signals_there():
    """An older marketplace's heartbeat still names signals_url (field 1 of the links): the publisher keeps
    streaming to the marketplace it was given, and the named destination hears nothing."""
    from concurrent import futures

    from mlmp_marketplace.v1 import signals_pb2
    from tests.helpers.receiver import Receiver

    destination = Receiver()
    url = destination.url.encode()
    links = b"\x0a" + bytes([len(url)]) + url
    streamed: list[tuple[str, signals_pb2.SignalBatch]] = []

    def heartbeat(_request: bytes, _context) -> bytes:
        return b"\x3a" + bytes([len(links)]) + links  # a Deployment whose links (field 7) name the destination

    def stream(requests, context):
        for raw in requests:
            batch = signals_pb2.SignalBatch.FromString(raw)
            streamed.append((dict(context.invocation_metadata())["authorization"], batch))
            ack = signals_pb2.SignalAck(sequence=batch.sequence, committed_sequence=batch.sequence, accepted=1)
            yield ack.SerializeToString()

    marketplace = grpc.server(futures.ThreadPoolExecutor(4))
    marketplace.add_generic_rpc_handlers((
        grpc.method_handlers_generic_handler(
            "marketplace.v1.DeploymentService", {"DeploymentHeartbeat": grpc.unary_unary_rpc_method_handler(heartbeat)}
        ),
        grpc.method_handlers_generic_handler(
            "marketplace.v1.SignalService", {"StreamSignals": grpc.stream_stream_rpc_method_handler(stream)}
        ),
    ))  # fmt: skip
    port = marketplace.add_insecure_port("127.0.0.1:0")
    marketplace.start()
    publisher = SignalPublisher(f"127.0.0.1:{port}", "mpdt_test", heartbeat=0.05)
    try:
        publisher.publish({"symbol": "AAA", "score": 0.2})
        assert publisher.flush(timeout=30)
    finally:
        publisher.close()
        marketplace.stop(0)
        destination.close()
    assert [(auth, batch.signals[0].symbol) for auth, batch in streamed] == [("Bearer mpdt_test", "AAA")]
    assert destination.requests == []


def test_two_publishers_on_one_deployment_both_store_everything(wide_market):
    """A restart overlapping the old process, or two replicas of a model: each publisher's batches are
    its own, so neither is taken for a resend of the other's."""
    token = wide_market.deploy().token
    first, second = (SignalPublisher(wide_market.server.grpc_target, token, batch_size=10, heartbeat=0.2)
                     for _ in range(2))  # fmt: skip
    try:
        for publisher in (first, second):
            assert publisher._beat.wait(10)  # both have heard from the server before either sends
        first.publish(*({"symbol": s, "score": 0.1, "round_number": 2} for s in SYMBOLS[:1000]))
        second.publish(*({"symbol": s, "score": -0.1, "round_number": 2} for s in SYMBOLS[1000:]))
        assert first.flush(timeout=60)
        assert second.flush(timeout=60)
    finally:
        first.close()
        second.close()
    assert [(p.totals.accepted, p.totals.duplicates) for p in (first, second)] == [(1000, 0), (1000, 0)]
    assert stored_count(wide_market.server) == 2000


def test_a_server_error_that_retrying_cannot_fix_ends_the_publisher(market, monkeypatch):
    created = market.deploy()
    calls = []

    def broken(*args, **kwargs):
        calls.append(1)
        raise RuntimeError("a bug on the server")  # answered INTERNAL

    monkeypatch.setattr("mlmp_server.signals.ingest.judge", broken)
    publisher = SignalPublisher(market.server.grpc_target, created.token, heartbeat=0.1)
    try:
        publisher.publish({"symbol": "AAA", "score": 0.2})
        with pytest.raises(PublisherStopped, match=r"INTERNAL.*1 signal was not stored"):
            publisher.flush(timeout=30)
        with pytest.raises(PublisherStopped):
            publisher.publish({"symbol": "BBB", "score": 0.2})
    finally:
        publisher.close(timeout=1)
    assert len(calls) == 1  # not resent in a loop


def test_a_busy_or_unavailable_server_is_retried_until_the_batch_is_stored(market, monkeypatch):
    from mlmp_server.core import errors
    from mlmp_server.signals import ingest

    created = market.deploy()
    refusals = [errors.Unavailable("the database is restarting"), errors.ResourceExhausted("too many writers")]

    def busy_then_fine(*args, **kwargs):
        if refusals:
            raise refusals.pop()
        return ingest_judge(*args, **kwargs)

    ingest_judge = ingest.judge
    monkeypatch.setattr("mlmp_server.signals.ingest.judge", busy_then_fine)
    publisher = SignalPublisher(market.server.grpc_target, created.token, heartbeat=0.1)
    try:
        publisher.publish({"symbol": "AAA", "score": 0.2})
        assert publisher.flush(timeout=30)
    finally:
        publisher.close(timeout=1)
    assert (refusals, publisher.totals.accepted) == ([], 1)  # both refusals were met, then retried
    assert stored_count(market.server) == 1
