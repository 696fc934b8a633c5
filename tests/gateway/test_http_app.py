"""The HTTP app's own error handling, around the gateway: even an unforeseen failure is a JSON error."""

from __future__ import annotations

import asyncio

import grpc
import httpx
from starlette.requests import Request
from starlette.routing import Route

from mlmp_server.grpc_server import SERVICES
from mlmp_server.http_app import build_http_app


def test_an_unforeseen_failure_is_a_json_500_not_plain_text():
    async def boom(_request: Request):
        raise RecursionError("maximum recursion depth exceeded")

    async def get() -> httpx.Response:
        channel = grpc.aio.insecure_channel("127.0.0.1:1")  # never called
        app = build_http_app(
            channel=channel, services=SERVICES, grpc_target=lambda host: host, extra_routes=[Route("/boom", boom)]
        )
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            response = await client.get("/boom")
        await channel.close()
        return response

    response = asyncio.run(get())
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "code": 13, "message": "internal error in the HTTP gateway; the server log has the details", "details": []
    }  # fmt: skip
