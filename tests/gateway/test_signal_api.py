"""The signal paths as the trading platform and HTTP-only deployments call them through the gateway."""

from __future__ import annotations

import json
import threading
from dataclasses import replace

import httpx
import pytest

from mlmp_server.settings import RateLimit
from tests.helpers.rounds import publish_request
from tests.helpers.server_thread import ServerThread

SYMBOLS = ["AAA", "BBB"]


@pytest.fixture
def settings(settings):
    return replace(settings, signal_rate=RateLimit(per_second=1, burst=5))


def deployment_token(server: ServerThread) -> str:
    import grpc

    from mlmp_marketplace.v1 import datasets_pb2_grpc
    from tests.helpers.auth import bearer

    admin = {"Authorization": f"Bearer {server.admin_token}"}
    with grpc.insecure_channel(server.grpc_target) as channel:
        datasets_pb2_grpc.DatasetServiceStub(channel).PublishRound(
            publish_request({"train": b"x"}, symbols=SYMBOLS), metadata=bearer(server.admin_token)
        )
    httpx.post(server.http_url + "/api/admin/vendors", json={"slug": "acme", "displayName": "Acme"}, headers=admin)
    vendor = httpx.post(server.http_url + "/api/admin/tokens", json={"vendor": "acme", "scopes": ["deploy:write"]},
                        headers=admin).json()["secret"]  # fmt: skip
    created = httpx.post(server.http_url + "/api/deployments", json={"provider": "local"},
                         headers={"Authorization": f"Bearer {vendor}"})  # fmt: skip
    assert created.status_code == 200, created.text
    return created.json()["token"]


def test_an_http_deployment_posts_batches_and_is_slowed_with_429(server):
    headers = {"Authorization": f"Bearer {deployment_token(server)}"}
    body = {"sequence": "1", "signals": [{"symbol": "AAA", "score": 0.3}, {"symbol": "BBB", "action": "ACTION_BUY"},
                                         {"symbol": "ZZZ", "score": 0.1}]}  # fmt: skip
    stored = httpx.post(server.http_url + "/api/signals/store", json=body, headers=headers)
    assert stored.status_code == 200, stored.text
    assert stored.json()["accepted"] == 2
    assert stored.json()["rejections"][0]["reason"] == "ZZZ is not a symbol of round 1"
    again = httpx.post(server.http_url + "/api/signals/store", json=body, headers=headers)
    assert again.json()["duplicate"] is True
    bigger = {"sequence": "2", "signals": [*body["signals"], {"symbol": "YYY", "score": 0.1}]}  # 4 > 3 left
    over = httpx.post(server.http_url + "/api/signals/store", json=bigger, headers=headers)
    assert over.status_code == 429
    assert int(over.headers["retry-after"]) >= 1
    listed = httpx.get(server.http_url + "/api/signals", headers={"Authorization": f"Bearer {server.admin_token}"})
    assert sorted(s["symbol"] for s in listed.json()["signals"]) == ["AAA", "BBB"]


def test_subscribe_streams_ndjson_with_attribution(server):
    token = deployment_token(server)
    lines: list[dict] = []
    opened = threading.Event()

    def follow() -> None:
        admin = {"Authorization": f"Bearer {server.admin_token}"}
        with httpx.stream("GET", server.http_url + "/api/signals:subscribe", params={"symbol": "BBB"}, headers=admin,
                          timeout=10) as response:  # fmt: skip
            assert response.headers["content-type"].startswith("application/x-ndjson")
            opened.set()
            for line in response.iter_lines():
                lines.append(json.loads(line))
                return

    reader = threading.Thread(target=follow)
    reader.start()
    assert opened.wait(10)
    for sequence in range(1, 40):
        signals = [{"symbol": "AAA", "score": 0.1}, {"symbol": "BBB", "score": -0.2}]
        body = {"sequence": str(sequence), "signals": signals}
        httpx.post(server.http_url + "/api/signals/store", json=body, headers={"Authorization": f"Bearer {token}"})
        reader.join(0.25)
        if not reader.is_alive():
            break
    reader.join(5)
    (first,) = lines
    (signal, *_) = first["result"]["signals"]  # the signals handed out together, one line
    assert signal["symbol"] == "BBB"
    assert signal["attribution"]["vendorSlug"] == "acme"


def test_a_refused_subscription_is_an_error_status_not_a_stream(server):
    refused = httpx.get(server.http_url + "/api/signals:subscribe", headers={"Authorization": "Bearer mpat_nope"})
    assert refused.status_code == 401
    assert refused.json()["code"] == 16
