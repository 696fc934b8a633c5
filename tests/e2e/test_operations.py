"""Operations as an operator meets them on real processes: `MP_LOG_FORMAT=json` turns every log line on
stderr into one JSON object, an HTTP request's `X-Request-Id` reaches the server's lines of that call
(also from `mp-server gateway` over a real gRPC channel), and `/metrics` counts what was served."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers.processes import ServerProcess, clean_env

pytestmark = [pytest.mark.e2e, pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)]
TEXT_LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ ")


@pytest.fixture
def server_env() -> dict[str, str]:
    return {"MP_LOG_FORMAT": "json"}


def json_lines(process: ServerProcess) -> list[dict[str, Any]]:
    """The process's JSON log lines so far; its other output is the banner `mp-server` prints."""
    lines = process.output().splitlines()
    assert not [line for line in lines if TEXT_LOG_LINE.match(line)], "a log line in the text format"
    return [json.loads(line) for line in lines if line.startswith("{")]


def lines_of(process: ServerProcess, request_id: str, timeout: float = 10.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        found = [line for line in json_lines(process) if line.get("request_id") == request_id]
        if any(line["logger"] == "mp.access" for line in found) or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def test_json_logs_carry_the_http_requests_id(server: ServerProcess):
    admin = {"Authorization": f"Bearer {server.admin_token}"}
    response = httpx.get(server.api_url + "/api/whoami", headers={**admin, "X-Request-Id": "e2e-req-1"})
    assert response.status_code == 200
    assert response.headers["x-request-id"] == "e2e-req-1"
    (access,) = lines_of(server, "e2e-req-1")
    assert access["logger"] == "mp.access"
    assert access["method"] == "/marketplace.v1.AuthService/WhoAmI"
    assert access["call"]["code"] == "OK"
    assert set(access) >= {"time", "level", "message"}
    assert not [line for line in json_lines(server) if server.admin_token in json.dumps(line)]
    metrics = httpx.get(server.api_url + "/metrics").text
    assert 'mp_http_requests_total{route="GET /api/whoami",status="200"} 1.0' in metrics


def test_through_a_standalone_gateway_the_id_reaches_the_server(server: ServerProcess, tmp_path: Path):
    gateway = ServerProcess(
        clean_env(MP_HTTP_ADDR="127.0.0.1:0", MP_DATA_DIR=str(tmp_path / "unused"), MP_LOG_FORMAT="json"),
        "gateway", "--grpc-target", f"127.0.0.1:{server.grpc_port}",
    )  # fmt: skip
    try:
        admin = {"Authorization": f"Bearer {server.admin_token}", "X-Request-Id": "through-gateway"}
        response = httpx.get(gateway.api_url + "/api/whoami", headers=admin)
        assert response.status_code == 200
        assert response.headers["x-request-id"] == "through-gateway"
        (access,) = lines_of(server, "through-gateway")
        assert access["call"]["peer"].startswith("ipv4:127.0.0.1")  # over the gateway's gRPC channel
        assert 'route="GET /api/whoami",status="200"' in httpx.get(gateway.api_url + "/metrics").text
    finally:
        assert gateway.stop() == 0
