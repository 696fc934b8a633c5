"""What operators see of the HTTP side: each request's id and metrics, and `/metrics` itself.

`Observed` is the HTTP app's outermost middleware. It takes the request's `X-Request-Id` when it is
safe to log (else makes one up), makes it the request's log context, echoes it on the answer, and
hands it to the gateway, which passes it on as `x-request-id` metadata. It counts each answer by route
TEMPLATE and status: the gateway names the `google.api.http` template it matched (never the raw
path, whose values would make the labels unbounded), any other route its Starlette path.
"""

from __future__ import annotations

import asyncio
import hmac
import time
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from prometheus_client import REGISTRY, Counter, Histogram
from prometheus_client.exposition import choose_encoder
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mlmp_server.core import metrics, request_ids
from mlmp_server.gateway.errors import error_document

REQUEST_ID_KEY = "mp.request_id"  # in the ASGI scope: the request's id, for the gateway
ROUTE_KEY = "mp.route"  # in the ASGI scope: the template the gateway matched
UNMATCHED = "unmatched"
CATCH_ALL = "/{path:path}"  # the HTTP app's last route, the gateway's
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_HEADER = request_ids.HEADER.lower().encode()


def request_id_of(request: Request) -> str:
    """The request's id as `Observed` settled it; without that middleware (a gateway on its own),
    the header's when safe, else a new one, made the log context here."""
    request_id = request.scope.get(REQUEST_ID_KEY)
    if request_id is None:
        request_id = request_ids.accepted(request.headers.get(request_ids.METADATA_KEY))
        request_ids.begin(request_id)
    return request_id


def route_label(http_method: str, template: str) -> str:
    return f"{http_method if http_method in _METHODS else 'OTHER'} {template}"


class Observed:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._children: dict[tuple[str, int], tuple[Counter, Histogram]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        sent: Any = None
        for key, value in scope["headers"]:
            if key == _HEADER:
                sent = value.decode("latin-1")
                break
        request_id = scope[REQUEST_ID_KEY] = request_ids.accepted(sent)
        request_ids.begin(request_id)
        status = 0

        async def answer(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", ()))
                if not any(key.lower() == _HEADER for key, _ in headers):
                    headers.append((_HEADER, request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, answer)
        except BaseException as error:
            # Before an answer: the client left (499, as the gateway maps CANCELLED), or the app failed
            # and the server's error handler answers 500.
            status = status or (499 if isinstance(error, asyncio.CancelledError) else 500)
            raise
        finally:
            self._record(scope, status or 500, time.perf_counter() - started)

    def _record(self, scope: Scope, status: int, seconds: float) -> None:
        route = scope.get(ROUTE_KEY)
        if route is None:
            # A route of the app's own, else the gateway's catch-all where the gateway found no template.
            path = getattr(scope.get("route"), "path", None)
            route = UNMATCHED if path in (None, CATCH_ALL) else route_label(scope["method"], path)
        children = self._children.get((route, status))
        if children is None:
            children = (metrics.http_requests.labels(route, str(status)), metrics.http_request_seconds.labels(route))
            if len(self._children) < 10_000:  # bounded by the templates; a guard all the same
                self._children[(route, status)] = children
        children[0].inc()
        children[1].observe(seconds)


def metrics_endpoint(token: str) -> Callable[[Request], Awaitable[Response]]:
    """`/metrics` in Prometheus's formats; with a token, only for `Authorization: Bearer <token>`."""
    expected = f"Bearer {token}".encode()

    async def serve(request: Request) -> Response:
        if token and not hmac.compare_digest(request.headers.get("authorization", "").encode(), expected):
            document = error_document(grpc.StatusCode.UNAUTHENTICATED, "/metrics needs the MP_METRICS_TOKEN bearer")
            return JSONResponse(document, 401, {"WWW-Authenticate": 'Bearer realm="metrics"'})
        # Prometheus's Accept picks the format (OpenMetrics or its text format), as its own exporters do.
        encode, content_type = choose_encoder(request.headers.get("accept", ""))
        # In a thread: ~550 lines take ~10 ms of CPU on a busy 2-core machine, which the event loop
        # would otherwise spend on no call (the metrics take their own locks).
        return Response(await asyncio.to_thread(encode, REGISTRY), headers={"Content-Type": content_type})

    return serve

