"""A second mp-server on a taken port is refused at start, never left listening beside the first."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlmp_cli.serving.local import free_port
from tests.helpers.processes import ServerProcess, mp_server_env, run

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(
    ("setting", "refusal"),
    [
        ("MP_GRPC_ADDR", "cannot listen on {addr} for gRPC: Address already in use (set MP_GRPC_ADDR"),
        ("MP_HTTP_ADDR", "cannot listen on {addr}: Address already in use (set MP_HTTP_ADDR"),
    ],
)
def test_a_second_server_on_a_taken_port_exits_naming_the_address(tmp_path: Path, setting: str, refusal: str):
    shared = {setting: f"127.0.0.1:{free_port()}", "MP_DEMO_ROUND": "false"}
    first = ServerProcess(mp_server_env(tmp_path / "first", **shared))
    try:
        # The other port is free, so only this one is shared. Were it accepted, the second would serve on.
        second = run("mp-server", env=mp_server_env(tmp_path / "second", **shared), timeout=30)
    finally:
        assert first.stop() == 0
    assert second.returncode != 0
    assert refusal.format(addr=shared[setting]) in second.stderr


def test_a_first_start_refused_for_a_taken_port_keeps_the_first_admin_token_for_the_next(tmp_path: Path):
    taken = {"MP_GRPC_ADDR": f"127.0.0.1:{free_port()}", "MP_DEMO_ROUND": "false"}
    first = ServerProcess(mp_server_env(tmp_path / "first", **taken))
    try:
        refused = run("mp-server", env=mp_server_env(tmp_path / "second", **taken), timeout=30)
    finally:
        assert first.stop() == 0
    assert refused.returncode != 0
    # The same data dir on a free port: its first start is this one, and prints the admin token.
    retried = ServerProcess(mp_server_env(tmp_path / "second", MP_DEMO_ROUND="false"))
    try:
        assert retried.admin_token.startswith("mpat_")
    finally:
        assert retried.stop() == 0
