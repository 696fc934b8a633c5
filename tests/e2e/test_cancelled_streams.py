"""Clients that hang up mid-stream, hundreds of times, while signals flow: the server neither
crashes nor keeps a lock, a new stream of the same deployment is acknowledged at once, and a
SIGTERM with streams open ends them and exits well inside the grace period."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import grpc
import httpx
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from mlmp_cli.publisher import SignalPublisher
from mlmp_marketplace.v1 import (
    auth_pb2,
    auth_pb2_grpc,
    deployments_pb2,
    deployments_pb2_grpc,
    signals_pb2,
    signals_pb2_grpc,
)
from mlmp_server.datasets.synthetic import SYMBOLS
from tests.helpers.auth import bearer
from tests.helpers.processes import ServerProcess

pytestmark = pytest.mark.e2e

CANCELLED_STREAMS = 500
UNLIMITED = {
    "MP_RATE_SIGNAL_INGEST": "100000", "MP_RATE_SIGNAL_INGEST_BURST": "100000",
    "MP_RATE_READ": "100000", "MP_RATE_READ_BURST": "100000",
}  # fmt: skip


class Marketplace:
    """A vendor with a token that reads signals and two deployments: one streamed and cancelled
    by the test, one whose publisher keeps signals flowing meanwhile."""

    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        self.channel = grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}")
        admin = bearer(server.admin_token)
        auth = auth_pb2_grpc.AuthServiceStub(self.channel)
        auth.CreateVendor(auth_pb2.CreateVendorRequest(slug="acme", display_name="Acme"), metadata=admin)
        self.vendor_token = auth.CreateApiToken(
            auth_pb2.CreateApiTokenRequest(vendor="acme", scopes=["deploy:write", "signals:read"]), metadata=admin
        ).secret
        deployments = deployments_pb2_grpc.DeploymentServiceStub(self.channel)
        create = deployments_pb2.CreateDeploymentRequest(provider="local")
        self.cancelled_token = deployments.CreateDeployment(create, metadata=bearer(self.vendor_token)).token
        self.flowing_token = deployments.CreateDeployment(create, metadata=bearer(self.vendor_token)).token
        self.signals = signals_pb2_grpc.SignalServiceStub(self.channel)
        self._sequence = 0

    def batch(self) -> signals_pb2.SignalBatch:
        self._sequence += 1
        now = Timestamp()
        now.GetCurrentTime()
        return signals_pb2.SignalBatch(
            sequence=self._sequence,
            signals=[signals_pb2.Signal(symbol=s, action=signals_pb2.ACTION_BUY, score=0.1, confidence=0.5,
                                        generate_time=now) for s in SYMBOLS],
        )  # fmt: skip

    def first_ack_of_a_new_stream(self) -> signals_pb2.SignalAck:
        call = self.signals.StreamSignals(iter([self.batch()]), metadata=bearer(self.cancelled_token), timeout=5)
        return next(call)


@pytest.fixture
def server_env() -> dict[str, str]:
    return {"MP_SHUTDOWN_GRACE": "60s", **UNLIMITED}


@pytest.fixture
def marketplace(server: ServerProcess) -> Iterator[Marketplace]:
    market = Marketplace(server)
    stop_flowing = threading.Event()
    publisher = SignalPublisher(f"127.0.0.1:{server.grpc_port}", market.flowing_token, batch_size=len(SYMBOLS),
                                linger=0.005)  # fmt: skip

    def flow() -> None:
        while not stop_flowing.is_set():
            publisher.publish(*({"symbol": s, "score": 0.2} for s in SYMBOLS))
            time.sleep(0.005)

    flowing = threading.Thread(target=flow, daemon=True)
    flowing.start()
    try:
        yield market
    finally:
        stop_flowing.set()
        flowing.join(5)
        publisher.close(timeout=5)
        market.channel.close()
        server.stop(timeout=30)


def still_serving(market: Marketplace) -> None:
    assert market.server.process.poll() is None, "mp-server died:\n" + market.server.output()[-4000:]
    ack = market.first_ack_of_a_new_stream()
    assert ack.accepted == len(SYMBOLS)


def test_ingest_streams_cancelled_after_their_first_ack(marketplace: Marketplace):
    for _ in range(CANCELLED_STREAMS):
        call = marketplace.signals.StreamSignals(
            iter([marketplace.batch(), marketplace.batch(), marketplace.batch()]),
            metadata=bearer(marketplace.cancelled_token),
            timeout=10,
        )
        next(call)
        call.cancel()
    still_serving(marketplace)


def test_subscriptions_cancelled_while_signals_flow(marketplace: Marketplace):
    for _ in range(CANCELLED_STREAMS):
        call = marketplace.signals.SubscribeSignals(
            signals_pb2.SubscribeSignalsRequest(), metadata=bearer(marketplace.vendor_token), timeout=10
        )
        next(call)
        call.cancel()
    still_serving(marketplace)


def test_rest_subscriptions_closed_after_one_line(marketplace: Marketplace):
    headers = {"Authorization": f"Bearer {marketplace.vendor_token}"}
    with httpx.Client(base_url=marketplace.server.api_url, timeout=10) as client:
        for _ in range(CANCELLED_STREAMS):
            with client.stream("GET", "/api/signals:subscribe", headers=headers) as response:
                assert response.status_code == 200
                next(response.iter_lines())
    still_serving(marketplace)


def test_sigterm_ends_open_streams_and_exits_inside_the_grace(marketplace: Marketplace):
    subscriptions = [
        marketplace.signals.SubscribeSignals(
            signals_pb2.SubscribeSignalsRequest(), metadata=bearer(marketplace.vendor_token), timeout=60
        )
        for _ in range(5)
    ]
    for call in subscriptions:
        next(call)  # open and flowing
    exit_code = marketplace.server.stop(timeout=20)  # the grace is 60 s: waiting it out would time this out
    assert exit_code == 0
    for call in subscriptions:
        with pytest.raises(grpc.RpcError) as ended:
            for _ in call:
                pass
        assert ended.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "shutting down" in ended.value.details()
