"""`mp signals tail` as a vendor runs it: the latest stored signals first (-n, --since), then new ones."""

from __future__ import annotations

import json
import queue
import subprocess
import threading
from collections.abc import Iterator

import grpc
import pytest

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
from tests.helpers.processes import BIN, ServerProcess, clean_env

pytestmark = pytest.mark.e2e


class Deployment:
    """acme's deployment, storing signals through the real server; `env` runs mp as acme."""

    def __init__(self, server: ServerProcess, channel: grpc.Channel) -> None:
        admin = bearer(server.admin_token)
        auth = auth_pb2_grpc.AuthServiceStub(channel)
        auth.CreateVendor(auth_pb2.CreateVendorRequest(slug="acme", display_name="Acme"), metadata=admin)
        vendor_token = auth.CreateApiToken(
            auth_pb2.CreateApiTokenRequest(vendor="acme", scopes=["deploy:write", "signals:read"]), metadata=admin
        ).secret
        created = deployments_pb2_grpc.DeploymentServiceStub(channel).CreateDeployment(
            deployments_pb2.CreateDeploymentRequest(provider="local"), metadata=bearer(vendor_token)
        )
        self._token = created.token
        self._signals = signals_pb2_grpc.SignalServiceStub(channel)
        self.env = clean_env(MP_API_URL=server.api_url, MP_TOKEN=vendor_token)

    def store(self, *symbols: str) -> None:
        """Stores one signal per symbol, in this order."""
        request = signals_pb2.StoreSignalsRequest(signals=[
            signals_pb2.Signal(symbol=s, action=signals_pb2.ACTION_BUY, score=0.1, confidence=0.5) for s in symbols
        ])  # fmt: skip
        assert self._signals.StoreSignals(request, metadata=bearer(self._token)).accepted == len(symbols)


@pytest.fixture
def deployment(server: ServerProcess) -> Iterator[Deployment]:
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        yield Deployment(server, channel)


class Tail:
    """`mp signals tail --json ARGS` running; `next()` is its next signal (JSON line), or fails after 15 s;
    `following()` waits until it has listed the latest and follows new ones (its note on stderr)."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        self.process = subprocess.Popen([str(BIN / "mp"), "signals", "tail", "--json", *args], env=env,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
        self._lines: queue.Queue[str] = queue.Queue()
        self._following = threading.Event()
        self._pump_thread = threading.Thread(target=self._pump, daemon=True)
        self._pump_thread.start()
        self._notes_thread = threading.Thread(target=self._notes, daemon=True)
        self._notes_thread.start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line)

    def _notes(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            if line.startswith("Waiting for new signals"):
                self._following.set()

    def following(self) -> None:
        assert self._following.wait(30), "mp signals tail never started following"

    def next(self) -> dict:
        try:
            return json.loads(self._lines.get(timeout=15))
        except queue.Empty:
            raise AssertionError("mp signals tail printed nothing in 15 s") from None

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)
        self._pump_thread.join(5)
        self._notes_thread.join(5)
        assert self.process.stdout is not None
        assert self.process.stderr is not None
        self.process.stdout.close()
        self.process.stderr.close()


def test_tail_shows_the_latest_signals_first_then_follows(deployment: Deployment):
    deployment.store(*SYMBOLS[:4])
    tail = Tail(deployment.env, "-n", "2")
    try:
        latest_two = [tail.next()["symbol"], tail.next()["symbol"]]
        assert latest_two == list(SYMBOLS[2:4])  # the newest two, in the order they were stored
        tail.following()
        deployment.store(SYMBOLS[0])
        assert tail.next()["symbol"] == SYMBOLS[0]  # then each new one
    finally:
        tail.stop()


def test_tail_since_leaves_out_older_signals(deployment: Deployment):
    deployment.store(SYMBOLS[1])
    recent = Tail(deployment.env, "--since", "1h")
    future = Tail(deployment.env, "--since", "2999-01-01T00:00")
    try:
        assert recent.next()["symbol"] == SYMBOLS[1]
        recent.following()
        future.following()  # both subscribed: a signal stored now reaches both
        deployment.store(SYMBOLS[2])
        assert future.next()["symbol"] == SYMBOLS[2]  # nothing stored before 2999, only the new one
        assert recent.next()["symbol"] == SYMBOLS[2]
    finally:
        recent.stop()
        future.stop()


def test_a_bad_since_is_a_usage_error(deployment: Deployment):
    refused = subprocess.run([str(BIN / "mp"), "signals", "tail", "--since", "yesterday"], env=deployment.env,
                             capture_output=True, text=True, timeout=30)  # fmt: skip
    assert refused.returncode == 2
    assert "'yesterday' is not a duration or time" in refused.stderr
