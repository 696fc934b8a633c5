"""mp-server's gateway calls its own handlers in process, behind the gRPC server's interceptors: no
loopback gRPC hop, and the same policy (access log, open-stream registry, revocation) as a gRPC client."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable

import httpx

from tests.helpers.server_thread import ServerThread


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def admin(server: ServerThread) -> dict[str, str]:
    return {"Authorization": f"Bearer {server.admin_token}"}


def open_streams(server: ServerThread) -> int:
    assert server.listening is not None
    return len(server.listening.resources.streams)


def test_a_rest_call_goes_through_the_policy_in_process_not_over_loopback(server, caplog):
    caplog.set_level(logging.INFO, logger="mp.access")
    response = httpx.get(server.http_url + "/api/whoami", headers=admin(server))
    assert response.status_code == 200, response.text
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "mp.access"]
    (line,) = [line for line in lines if line["method"].endswith("/WhoAmI")]
    # The access log of the interceptor chain saw the call, from the gateway in this process.
    assert (line["peer"], line["code"]) == ("in-process", "OK")
    assert line["principal"]


def test_errors_come_out_of_the_policy_as_over_grpc(server):
    refused = httpx.get(server.http_url + "/api/whoami", headers={"Authorization": "Bearer mpat_wrong"})
    assert refused.status_code == 401
    assert refused.json()["code"] == 16
    assert refused.headers["www-authenticate"] == 'Bearer realm="mp"'
    assert "mpat_wrong" not in refused.text
    missing = httpx.get(server.http_url + "/api/catalog/nobody-here", headers=admin(server))
    assert (missing.status_code, missing.json()["code"]) == (404, 5)


def follow(server: ServerThread, token: str, lines: list[dict], opened: threading.Event, stop: threading.Event) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.stream("GET", server.http_url + "/api/signals:subscribe", headers=headers, timeout=20) as response:
        assert response.status_code == 200
        opened.set()
        for line in response.iter_lines():
            lines.append(json.loads(line))
            if stop.is_set():
                return


def test_an_http_client_hanging_up_ends_the_servicers_stream(server):
    with httpx.Client(timeout=20) as client:
        with client.stream("GET", server.http_url + "/api/signals:subscribe", headers=admin(server)) as response:
            assert response.status_code == 200
            assert wait_until(lambda: open_streams(server) == 1)
        # Leaving the block closes the connection: the subscription's handler must end with it.
    assert wait_until(lambda: open_streams(server) == 0), "the servicer's stream outlived its HTTP client"


def test_revoking_a_token_ends_its_rest_stream_with_a_status(server):
    created = httpx.post(
        server.http_url + "/api/admin/tokens", json={"scopes": ["signals:read"], "displayName": "reader"},
        headers=admin(server),
    )  # fmt: skip
    assert created.status_code == 200, created.text
    secret, token_id = created.json()["secret"], created.json()["token"]["id"]
    lines: list[dict] = []
    opened, stop = threading.Event(), threading.Event()
    reader = threading.Thread(target=follow, args=(server, secret, lines, opened, stop), daemon=True)
    reader.start()
    assert opened.wait(10)
    assert wait_until(lambda: open_streams(server) == 1)
    revoked = httpx.post(server.http_url + f"/api/admin/tokens/{token_id}:revoke", json={}, headers=admin(server))
    assert revoked.status_code == 200, revoked.text
    reader.join(10)
    assert not reader.is_alive(), "the stream did not end when its token was revoked"
    (last,) = lines
    assert last["error"]["code"] == 16  # UNAUTHENTICATED, said on the stream
    assert open_streams(server) == 0
