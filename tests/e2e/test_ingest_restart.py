"""Kill the server mid-stream and start it again: after the publisher reconnects, the stored
signals are exactly the sent ones: none twice, none acknowledged and missing."""

from __future__ import annotations

import signal
import threading
import time

import grpc
import pytest

from mlmp_cli.publisher import SignalPublisher
from mlmp_cli.serving.local import free_port
from mlmp_marketplace.v1 import auth_pb2, auth_pb2_grpc, deployments_pb2, deployments_pb2_grpc, signals_pb2
from mlmp_server.datasets.synthetic import SYMBOLS
from tests.helpers.auth import bearer
from tests.helpers.processes import ServerProcess

pytestmark = pytest.mark.e2e


def deployment_token(server: ServerProcess) -> str:
    admin = bearer(server.admin_token)
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        auth = auth_pb2_grpc.AuthServiceStub(channel)
        auth.CreateVendor(auth_pb2.CreateVendorRequest(slug="acme", display_name="Acme"), metadata=admin)
        vendor = auth.CreateApiToken(auth_pb2.CreateApiTokenRequest(vendor="acme", scopes=["deploy:write"]),
                                     metadata=admin).secret  # fmt: skip
        created = deployments_pb2_grpc.DeploymentServiceStub(channel).CreateDeployment(
            deployments_pb2.CreateDeploymentRequest(provider="local"), metadata=bearer(vendor)
        )
    return created.token


@pytest.fixture
def server_env() -> dict[str, str]:
    """Fixed ports: the restarted server is where the publisher reconnects."""
    return {"MP_GRPC_ADDR": f"127.0.0.1:{free_port()}", "MP_HTTP_ADDR": f"127.0.0.1:{free_port()}"}


def test_a_killed_server_loses_and_doubles_nothing(server: ServerProcess):
    grpc_port = server.grpc_port
    token = deployment_token(server)
    acked: list[signals_pb2.SignalAck] = []
    publisher = SignalPublisher(f"127.0.0.1:{grpc_port}", token, batch_size=len(SYMBOLS), linger=0.01,
                                heartbeat=0.5, on_ack=acked.append)  # fmt: skip
    sent = 0
    stop_sending = threading.Event()

    def send() -> None:
        nonlocal sent
        while not stop_sending.is_set():
            # One signal per symbol and batch, each with a distinct score: every sent signal is identifiable.
            publisher.publish(*({"symbol": s, "score": ((sent + i) % 1000) / 1000} for i, s in enumerate(SYMBOLS)))
            sent += len(SYMBOLS)
            time.sleep(0.005)

    sender = threading.Thread(target=send)
    sender.start()
    try:
        deadline = time.monotonic() + 20
        while len(acked) < 20:
            assert time.monotonic() < deadline, "no acknowledgements before the kill"
            time.sleep(0.05)
        server.process.send_signal(signal.SIGKILL)
        server.stop()
        acked_before_kill = len(acked)
        time.sleep(1.0)  # the publisher keeps buffering and retrying while the server is away
        server = ServerProcess(server.env)
        deadline = time.monotonic() + 30
        while len(acked) < acked_before_kill + 20:
            assert time.monotonic() < deadline, "no acknowledgements after the restart"
            time.sleep(0.05)
        stop_sending.set()
        sender.join(10)
        assert publisher.flush(timeout=60)
    finally:
        stop_sending.set()
        publisher.close(timeout=5)
        counts = stored_counts(server)
        server.stop()
    total, unique, stored_sequences = counts
    assert total == sent, "stored signals differ from sent ones"
    assert unique == total, "a signal was stored twice"
    assert {a.sequence for a in acked} <= stored_sequences, "an acknowledged batch is missing"
    assert publisher.totals.reconnects >= 1


def stored_counts(server: ServerProcess) -> tuple[int, int, set[int]]:
    import asyncio

    from sqlalchemy import func, select

    from mlmp_server.db.engine import create_engine
    from mlmp_server.db.models import Signal, SignalBatch
    from mlmp_server.settings import Settings

    async def count() -> tuple[int, int, set[int]]:
        engine = create_engine(Settings.from_env(server.env).database_url)
        try:
            async with engine.connect() as connection:
                total = await connection.scalar(select(func.count()).select_from(Signal))
                pairs = select(Signal.batch_sequence, Signal.symbol).distinct().subquery()
                unique = await connection.scalar(select(func.count()).select_from(pairs))
                sequences = set((await connection.scalars(select(SignalBatch.sequence))).all())
                return int(total or 0), int(unique or 0), sequences
        finally:
            await engine.dispose()

    return asyncio.run(count())
