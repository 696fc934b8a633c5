"""`mp-server gateway --grpc-target` alone, in front of another mp-server's gRPC port."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.helpers.processes import ServerProcess, clean_env, mp_server_env, run

pytestmark = pytest.mark.e2e


def test_a_standalone_gateway_fronts_another_server(tmp_path: Path):
    backend = ServerProcess(mp_server_env(tmp_path / "data"))
    target = f"127.0.0.1:{backend.grpc_port}"
    gateway = ServerProcess(
        clean_env(MP_HTTP_ADDR="127.0.0.1:0", MP_DATA_DIR=str(tmp_path / "unused")), "gateway", "--grpc-target", target
    )
    try:
        base = gateway.api_url
        assert httpx.get(base + "/api/discovery").json()["grpcTarget"] == target
        me = httpx.get(base + "/api/whoami", headers={"Authorization": f"Bearer {backend.admin_token}"})
        assert me.status_code == 200
        assert me.json()["kind"] == "PRINCIPAL_KIND_ADMIN"
        assert httpx.get(base + "/api/catalog").status_code == 401
        login = run(
            "mp", "login", "--api-url", base, "--token", backend.admin_token,
            env=clean_env(MP_CONFIG_DIR=str(tmp_path / "cfg")),
        )  # fmt: skip
        assert login.returncode == 0, login.stderr
        assert f"gRPC {target}" in login.stdout
        assert not (tmp_path / "unused").exists()  # the gateway needs no data dir or database
    finally:
        assert gateway.stop() == 0
        backend.stop()
