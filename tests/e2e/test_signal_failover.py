"""A replica killed with SIGKILL mid-stream: the deployment's publisher (cli/publisher) fails over to the
other replica through the round-robin proxy, every signal it sent is stored once, and a subscriber on the
survivor gets each of them once (those stored on the dead replica included)."""

from __future__ import annotations

import json
import subprocess
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
from tests.helpers.processes import BIN, clean_env
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


class Tail:
    """`mp signals tail --json -n 1` running: its JSON lines and its notes (stderr), read on threads."""

    def __init__(self, env: dict[str, str]) -> None:
        self.process = subprocess.Popen([str(BIN / "mp"), "signals", "tail", "--json", "-n", "1"], env=env,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
        self.lines: list[dict] = []
        self.notes: list[str] = []
        pumps = ((self.process.stdout, None), (self.process.stderr, self.notes))
        self._threads = [threading.Thread(target=self._pump, args=pump, daemon=True) for pump in pumps]
        for thread in self._threads:
            thread.start()

    def _pump(self, stream, notes: list[str] | None) -> None:
        for line in stream:
            if notes is None:
                self.lines.append(json.loads(line))
            else:
                notes.append(line)

    def until(self, condition, seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        while not condition():
            assert time.monotonic() < deadline, f"not so after {seconds} s: {self.lines} {self.notes}"
            time.sleep(0.05)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)
        for thread in self._threads:
            thread.join(5)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


def test_tail_resumes_on_another_replica_after_its_own_is_killed(replicas: ReplicaSet):
    token = deployment_token(replicas)
    with grpc.insecure_channel(replicas[0].grpc_target) as channel:
        vendor = create_vendor_token(auth_pb2_grpc.AuthServiceStub(channel), bearer(replicas.admin_token),
                                     scopes=("signals:read",)).secret  # fmt: skip

    def store(replica: int, *versions: str) -> None:
        with grpc.insecure_channel(replicas[replica].grpc_target) as channel:
            request = signals_pb2.StoreSignalsRequest(signals=[
                signals_pb2.Signal(symbol=SYMBOLS[n], score=0.1, confidence=0.5, model_version=version)
                for n, version in enumerate(versions)
            ])  # fmt: skip
            signals_pb2_grpc.SignalServiceStub(channel).StoreSignals(request, metadata=bearer(token))

    store(0, "first")
    before = sum(replicas.grpc_proxy.connections.values())
    tail = Tail(clean_env(MP_API_URL=f"grpc://{replicas.grpc_proxy.address}", MP_TOKEN=vendor))
    doomed: int | None = None
    try:
        tail.until(lambda: any(note.startswith("Waiting for new signals") for note in tail.notes))
        assert [line["modelVersion"] for line in tail.lines] == ["first"]
        # The tail's connection went through the proxy to one replica: that one dies, and while the tail
        # reconnects, signals are stored on the other.
        assert sum(replicas.grpc_proxy.connections.values()) == before + 1
        (port,) = [port for port, count in replicas.grpc_proxy.connections.items() if count]
        doomed = next(r.index for r in replicas.replicas if r.grpc_port == port)
        replicas.kill(doomed)
        store(1 - doomed, "while-away-1", "while-away-2")
        tail.until(lambda: len(tail.lines) >= 3)
        store(1 - doomed, "live")
        tail.until(lambda: len(tail.lines) >= 4)
        time.sleep(0.5)  # a duplicate would show now
    finally:
        tail.stop()
        if doomed is not None and not replicas[doomed].running:
            replicas.restart(doomed)
    assert [line["modelVersion"] for line in tail.lines] == ["first", "while-away-1", "while-away-2", "live"]
    assert any("resuming after signal" in note for note in tail.notes)
