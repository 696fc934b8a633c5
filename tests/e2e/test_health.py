"""/livez and /readyz of the real `mp-server` process: after SIGTERM it answers 503 on /readyz for MP_DRAIN_DELAY
while it still serves, then shuts down cleanly."""

from __future__ import annotations

import signal
import time

import httpx
import pytest

from tests.helpers.processes import ServerProcess

pytestmark = pytest.mark.e2e


@pytest.fixture
def server_env() -> dict[str, str]:
    return {"MP_DEMO_ROUND": "false", "MP_DRAIN_DELAY": "3s"}


def test_not_ready_while_draining_after_sigterm(server: ServerProcess):
    with httpx.Client(base_url=server.api_url) as client:
        assert client.get("/livez").status_code == 200
        assert client.get("/readyz").json()["status"] == "ready"
        server.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        while (answer := client.get("/readyz")).status_code == 200 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert (answer.status_code, answer.json()) == (503, {"status": "draining"})
        assert client.get("/livez").status_code == 200  # still alive, still serving
        assert client.get("/api/discovery").status_code == 200
    assert server.process.wait(30) == 0
    assert "draining: /readyz answers 503" in server.output()
