"""A request id goes from `X-Request-Id` through the gateway and the gRPC call into every log line of
the call, and back in the response header; one is made up when the request has none (or one unsafe to
log). A gRPC client's `x-request-id` metadata is taken the same way."""

from __future__ import annotations

import re
from collections.abc import Iterator

import grpc
import httpx
import pytest

from mlmp_marketplace.v1 import auth_pb2, auth_pb2_grpc
from tests.helpers.auth import bearer
from tests.helpers.logs import JsonLines, json_logs

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # no SQL of its own
MADE_UP = re.compile(r"[0-9a-f]{32}")
WHOAMI = "/marketplace.v1.AuthService/WhoAmI"


@pytest.fixture
def lines() -> Iterator[JsonLines]:
    with json_logs() as captured:
        yield captured


def test_an_http_requests_id_is_echoed_and_on_the_calls_log_lines(server, lines):
    admin = {"Authorization": f"Bearer {server.admin_token}", "X-Request-Id": "trace-7f3a.1"}
    response = httpx.get(server.http_url + "/api/whoami", headers=admin)
    assert response.status_code == 200
    assert response.headers["x-request-id"] == "trace-7f3a.1"
    (access,) = [line for line in lines.of_call("trace-7f3a.1") if line["logger"] == "mp.access"]
    assert access["method"] == WHOAMI
    assert (access["call"]["method"], access["call"]["peer"], access["call"]["code"]) == (WHOAMI, "in-process", "OK")


def test_without_one_the_made_up_id_is_the_one_logged(server, lines):
    admin = {"Authorization": f"Bearer {server.admin_token}"}
    for sent in ({}, {"X-Request-Id": "has spaces"}, {"X-Request-Id": "x" * 129}):
        response = httpx.get(server.http_url + "/api/whoami", headers={**admin, **sent})
        made = response.headers["x-request-id"]
        assert MADE_UP.fullmatch(made), made
        assert lines.of_call(made)[-1]["call"]["method"] == WHOAMI


def test_answers_outside_the_gateway_carry_an_id_too(server):
    for path in ("/api/discovery", "/no/such/path", "/metrics", "/marketplace"):
        response = httpx.get(server.http_url + path, headers={"X-Request-Id": "req-any"})
        assert response.headers["x-request-id"] == "req-any", path
        assert response.headers.get_list("x-request-id") == ["req-any"]  # once, not twice


def test_a_grpc_clients_metadata_id_is_on_its_log_lines(server, lines):
    with grpc.insecure_channel(server.grpc_target) as channel:
        stub = auth_pb2_grpc.AuthServiceStub(channel)
        stub.WhoAmI(auth_pb2.WhoAmIRequest(), metadata=(*bearer(server.admin_token), ("x-request-id", "grpc-req-9")))
        stub.WhoAmI(auth_pb2.WhoAmIRequest(), metadata=bearer(server.admin_token))
    (access,) = lines.of_call("grpc-req-9")
    assert access["call"]["peer"].startswith("ipv4:127.0.0.1")
    made = [line["request_id"] for line in lines.access("/WhoAmI") if line["request_id"] != "grpc-req-9"]
    assert len(made) == 1
    assert MADE_UP.fullmatch(made[0])
