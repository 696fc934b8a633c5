"""A replica killed with SIGKILL mid-stream: the deployment's publisher (cli/publisher) fails over to the
other replica through the round-robin proxy, every signal it sent is stored once, and a subscriber on the
survivor gets each of them once (those stored on the dead replica included)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import psycopg
import pytest

from mlmp_cli.publisher.publisher import SignalPublisher
from mlmp_marketplace.v1 import (
    auth_pb2_grpc,
    datasets_pb2_grpc,
    deployments_pb2,
    deployments_pb2_grpc,
    signals_pb2,
    signals_pb2_grpc,
)
from mlmp_server.db.notifications import libpq_url
from tests.helpers.auth import bearer, create_vendor_token
from tests.helpers.redis_server import redis_or_skip
from tests.helpers.replicas import ReplicaSet, replica_set
from tests.helpers.rounds import publish_request
from tests.helpers.subscriptions import Reader

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

SYMBOLS = [f"F{n:03d}" for n in range(500)]
SENT = 3_000
BATCH = 100  # under the number of symbols: a batch never holds one twice


@pytest.fixture
def replicas(postgres_admin_url: str, tmp_path: Path) -> Iterator[ReplicaSet]:
    with replica_set(2, tmp_path, postgres_admin_url, redis_or_skip()) as running:
        yield running


def deployment_token(replicas: ReplicaSet) -> str:
    admin = bearer(replicas.admin_token)
    with grpc.insecure_channel(replicas[0].grpc_target) as channel:
        datasets_pb2_grpc.DatasetServiceStub(channel).PublishRound(
            publish_request({"train": b"x"}, symbols=SYMBOLS), metadata=admin
        )
        vendor = create_vendor_token(auth_pb2_grpc.AuthServiceStub(channel), admin, scopes=("deploy:write",)).secret
        return (
            deployments_pb2_grpc.DeploymentServiceStub(channel)
            .CreateDeployment(deployments_pb2.CreateDeploymentRequest(provider="local"), metadata=bearer(vendor))
            .token
        )


def stored(replicas: ReplicaSet) -> list[tuple[int, str]]:
    with psycopg.connect(libpq_url(replicas.database_url)) as connection:
        return connection.execute("SELECT id, model_version FROM signals ORDER BY id").fetchall()


def test_a_replica_killed_mid_stream_loses_and_repeats_nothing(replicas: ReplicaSet):
    token = deployment_token(replicas)
    publisher = SignalPublisher(replicas.grpc_proxy.address, token, batch_size=BATCH, linger=0.01, heartbeat=3600)
    doomed: int | None = None
    try:
        publisher.publish({"symbol": SYMBOLS[0], "score": 0.1, "confidence": 0.5, "model_version": "n0"})
        assert publisher.flush(30)
        # The publisher's one connection went through the proxy to one replica: that one dies.
        (port,) = [port for port, count in replicas.grpc_proxy.connections.items() if count]
        doomed = next(r.index for r in replicas.replicas if r.grpc_port == port)
        survivor = replicas[1 - doomed]
        # On the survivor, from the start (after_id 0 replays what is stored), while the publisher sends.
        with grpc.insecure_channel(survivor.grpc_target) as channel:
            call = signals_pb2_grpc.SignalServiceStub(channel).SubscribeSignals(
                signals_pb2.SubscribeSignalsRequest(after_id="0"), metadata=bearer(replicas.admin_token), timeout=120
            )
            call.initial_metadata()
            reader = Reader(call)
            halfway = threading.Event()

            def send() -> None:
                for n in range(1, SENT):
                    publisher.publish({"symbol": SYMBOLS[n % len(SYMBOLS)], "score": 0.1, "confidence": 0.5,
                                       "model_version": f"n{n}"})  # fmt: skip
                    if n == SENT // 2:
                        halfway.set()
                    if n % BATCH == 0:
                        time.sleep(0.02)  # ~5,000 signals/s: the stream is busy when the replica dies

            sender = threading.Thread(target=send)
            sender.start()
            assert halfway.wait(60)
            replicas.kill(doomed)
            sender.join(60)
            assert publisher.flush(90), "the publisher did not get everything acknowledged after failing over"
            rows = stored(replicas)
            received = reader.until(len(rows), seconds=60)
            time.sleep(0.5)  # a duplicate would arrive now
            received = reader.ids
            reader.stop()
    finally:
        publisher.close(5)
        if doomed is not None and not replicas[doomed].running:
            replicas.restart(doomed)
    assert publisher.totals.reconnects >= 1
    versions = [version for _id, version in rows]
    assert len(versions) == SENT, f"sent {SENT}, stored {len(versions)}"
    assert sorted(versions) == sorted(f"n{n}" for n in range(SENT)), "a signal was stored twice or lost"
    assert len(received) == len(set(received)), "the subscriber got a signal twice"
    assert sorted(received) == [signal_id for signal_id, _version in rows]
