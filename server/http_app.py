"""The HTTP side of mp-server: the transcoding gateway, its OpenAPI document and docs page,
discovery, and the RFC 7662 introspection endpoint. A pure gRPC client: everything goes through
the channel it is given (this process's own handlers, or other replicas for `mp-server gateway`).

Starlette + uvicorn: Starlette is a small, typed ASGI toolkit whose routing, streaming responses
and CORS middleware are all the gateway needs; uvicorn is the common, well-kept ASGI server.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from urllib.parse import parse_qs

import grpc
from google.protobuf.descriptor import ServiceDescriptor
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from mlmp_marketplace.v1 import auth_pb2, auth_pb2_grpc, options_pb2
from mlmp_server.console.routes import console_routes
from mlmp_server.console.sessions import CookieSessions
from mlmp_server.gateway.app import Channel, Gateway, TooLarge, json_response, read_body
from mlmp_server.gateway.docs import render_docs
from mlmp_server.gateway.errors import error_document
from mlmp_server.gateway.openapi import openapi_document
from mlmp_server.version import API_VERSION, SERVER_VERSION

ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"]


def _only(path: str, method: str, endpoint: Callable) -> Route:
    """A fixed endpoint that answers other methods itself with 405 (the gateway's catch-all would say 404)."""

    async def guarded(request: Request) -> Response:
        if request.method != method:
            document = error_document(
                grpc.StatusCode.UNIMPLEMENTED, f"{request.method} is not allowed here; use {method}"
            )
            return json_response(document, 405, {"Allow": method})
        return await endpoint(request)

    return Route(path, guarded, methods=ALL_METHODS)


def is_public(method) -> bool:
    options = method.GetOptions()
    return options.HasExtension(options_pb2.access) and options.Extensions[options_pb2.access].public


def build_http_app(
    *,
    channel: Channel,
    services: Iterable[ServiceDescriptor],
    grpc_target: Callable[[str], str],
    cors_origins: tuple[str, ...] = (),
    default_timeout: float = 30.0,
    extra_routes: Iterable[Route] = (),
    readiness: Callable[[], Awaitable[tuple[bool, dict[str, str]]]] | None = None,
) -> Starlette:
    gateway = Gateway(services, channel, default_timeout=default_timeout)
    document = openapi_document(gateway.routes, title="ML Marketplace API", version=SERVER_VERSION, is_public=is_public)
    document["paths"]["/api/discovery"] = {
        "get": {
            "operationId": "Discovery",
            "summary": "Where the gRPC API is, and which versions answer",
            "tags": ["Discovery"],
            "security": [],
            "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": {
                "type": "object",
                "properties": {k: {"type": "string"} for k in ("grpcTarget", "apiVersion", "serverVersion")},
            }}}}},
        }
    }  # fmt: skip
    docs_page = render_docs(document)
    introspection = auth_pb2_grpc.AuthServiceStub(channel)  # type: ignore[arg-type]

    async def discovery(request: Request) -> Response:
        host = request.url.hostname or "127.0.0.1"
        return json_response(
            {"grpcTarget": grpc_target(host), "apiVersion": API_VERSION, "serverVersion": SERVER_VERSION}
        )

    async def introspect(request: Request) -> Response:
        """RFC 7662 §2: form-encoded `token`; the caller's own token needs `auth:introspect`."""
        # parse_qs rather than request.form(): no multipart dependency for one urlencoded field.
        try:
            body = await read_body(request, 64 * 1024)
        except TooLarge as refused:
            document = {"error": "invalid_request", "error_description": str(refused)}
            return JSONResponse(document, 413, {"Connection": "close"})
        token = parse_qs(body.decode("utf-8", "replace")).get("token", [""])[0]
        authorization = request.headers.get("authorization", "")
        if not authorization:
            return JSONResponse({"error": "invalid_token"}, 401, {"WWW-Authenticate": 'Bearer realm="mp"'})
        if not token:
            return JSONResponse({"error": "invalid_request", "error_description": "missing token"}, 400)
        try:
            answer = await introspection.IntrospectToken(
                auth_pb2.IntrospectTokenRequest(token=token), metadata=(("authorization", authorization),), timeout=10
            )
        except grpc.aio.AioRpcError as error:
            if error.code() == grpc.StatusCode.UNAUTHENTICATED:
                return JSONResponse({"error": "invalid_token"}, 401, {"WWW-Authenticate": 'Bearer realm="mp"'})
            if error.code() == grpc.StatusCode.PERMISSION_DENIED:
                return JSONResponse({"error": "insufficient_scope", "scope": "auth:introspect"}, 403)
            return JSONResponse({"error": "temporarily_unavailable"}, 503)
        if not answer.active:
            return JSONResponse({"active": False})
        fields = {field.name: value for field, value in answer.ListFields()}
        return JSONResponse(fields)

    async def livez(_request: Request) -> Response:
        return JSONResponse({"status": "live"}, headers={"Cache-Control": "no-store"})

    async def readyz(_request: Request) -> Response:
        """For load balancers: 200 when this process should get traffic, else 503 (server/readiness.py)."""
        ready, parts = await readiness() if readiness is not None else (True, {"status": "ready"})
        return JSONResponse(parts, 200 if ready else 503, headers={"Cache-Control": "no-store"})

    async def openapi(_request: Request) -> Response:
        return json_response(document)

    async def docs(_request: Request) -> Response:
        return HTMLResponse(docs_page)

    middleware = []
    if cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=list(cors_origins),
                allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                allow_headers=["Authorization", "Content-Type", "Grpc-Timeout", "X-Request-Id"],
                expose_headers=["X-Request-Id", "Retry-After", "WWW-Authenticate"],
                max_age=600,
            )
        )
    return Starlette(
        routes=[
            _only("/api/discovery", "GET", discovery),
            _only("/oauth2/introspect", "POST", introspect),
            _only("/openapi.json", "GET", openapi),
            _only("/livez", "GET", livez),
            _only("/readyz", "GET", readyz),
            _only("/docs", "GET", docs),
            *console_routes(),
            *extra_routes,
            # Every method reaches the gateway, whose router answers 405 with the path's own Allow.
            Route("/{path:path}", gateway.handle, methods=ALL_METHODS),
        ],
        middleware=[*middleware, Middleware(CookieSessions)],  # the console's cookie sessions
        # Paths the routes cannot even parse (e.g. an encoded newline) get the same JSON 404; a failure
        # no one foresaw is still an error document (the traceback goes to the log), never plain text.
        exception_handlers={404: _not_found, Exception: _internal_error},
    )


async def _internal_error(_request: Request, _error: Exception) -> Response:
    document = error_document(
        grpc.StatusCode.INTERNAL, "internal error in the HTTP gateway; the server log has the details"
    )
    return json_response(document, 500)


async def _not_found(request: Request, _error: Exception) -> Response:
    return json_response(
        error_document(grpc.StatusCode.NOT_FOUND, f"no route for {request.method} {request.url.path}"), 404
    )
