"""The HTTP app's outermost middleware on answers the gateway never gives: a failure of the app (500,
still with its request id) and a client that left before any answer (499)."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from prometheus_client import REGISTRY
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mlmp_server.gateway.inprocess import InProcessChannel
from mlmp_server.gateway.observability import REQUEST_ID_KEY
from mlmp_server.grpc_server import SERVICES
from mlmp_server.http_app import build_http_app


async def _boom(_request: Request) -> Response:
    raise RuntimeError("went wrong")


async def _left(_request: Request) -> Response:
    raise asyncio.CancelledError


def _count(route: str, status: str) -> float:
    return REGISTRY.get_sample_value("mp_http_requests_total", {"route": route, "status": status}) or 0.0


@pytest.fixture
def app():
    return build_http_app(
        channel=InProcessChannel({}, [], max_message_bytes=1024),  # no methods: these routes call none
        services=SERVICES,
        grpc_target=lambda _host: "",
        extra_routes=[Route("/boom", _boom), Route("/left", _left)],
    )


def test_an_app_failure_is_a_500_with_the_request_id(app):
    before = _count("GET /boom", "500")

    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.get("/boom", headers={"X-Request-Id": "req-boom"})

    response = asyncio.run(call())
    assert response.status_code == 500
    assert response.headers["x-request-id"] == "req-boom"
    assert "went wrong" not in response.text
    assert _count("GET /boom", "500") == before + 1


def test_a_client_that_left_before_an_answer_counts_as_499(app):
    before = _count("GET /left", "499")
    scope = {
        "type": "http", "method": "GET", "path": "/left", "raw_path": b"/left", "query_string": b"",
        "headers": [], "scheme": "http", "server": ("test", 80), "root_path": "", "http_version": "1.1",
    }  # fmt: skip

    async def receive() -> dict:
        return {"type": "http.disconnect"}

    async def send(_message: dict) -> None:
        pass

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(app(scope, receive, send))
    assert _count("GET /left", "499") == before + 1
    assert REQUEST_ID_KEY in scope
