"""SIGTERM lets in-flight calls finish (within MP_SHUTDOWN_GRACE), then the server exits 0."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import grpc
import pytest

from mlmp_marketplace.v1 import datasets_pb2, datasets_pb2_grpc
from tests.helpers.auth import bearer
from tests.helpers.processes import ServerProcess, mp_server_env
from tests.helpers.rounds import publish_request

pytestmark = pytest.mark.e2e


def test_a_call_in_flight_at_sigterm_completes(tmp_path: Path):
    server = ServerProcess(mp_server_env(tmp_path, MP_SHUTDOWN_GRACE="10s", MP_DEMO_ROUND="false"))
    first_chunk_sent = threading.Event()

    def slow_upload():
        for index, message in enumerate(publish_request({"train": b"x" * 400_000}, chunk=50_000)):
            yield message
            if index == 1:
                first_chunk_sent.set()
            time.sleep(0.25)  # ~2 s in all, most of it after the SIGTERM

    result: dict = {}

    def publish():
        with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
            stub = datasets_pb2_grpc.DatasetServiceStub(channel)
            try:
                result["round"] = stub.PublishRound(slow_upload(), metadata=bearer(server.admin_token))
            except grpc.RpcError as error:
                result["error"] = error

    caller = threading.Thread(target=publish)
    caller.start()
    assert first_chunk_sent.wait(10)
    started = time.monotonic()
    exit_code = server.stop(timeout=20)
    caller.join(10)
    assert "error" not in result, result.get("error")
    assert isinstance(result["round"], datasets_pb2.Round)
    assert result["round"].number == 1
    assert exit_code == 0
    assert time.monotonic() - started >= 1.0  # it waited for the call rather than cutting it off


def test_a_shutdown_that_cannot_finish_ends_the_process_anyway():
    """The last resort behind the grace period: even a loop that never yields again is ended."""
    import subprocess
    import sys

    hung = subprocess.run(
        [sys.executable, "-c",
         "import time; from mlmp_server.process import exit_after; exit_after(0.5); time.sleep(60)"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert hung.returncode == 1
    assert "shutdown still unfinished" in hung.stderr
