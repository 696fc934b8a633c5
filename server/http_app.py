"""The HTTP side of mp-server: discovery and the RFC 7662 introspection endpoint.

(The REST transcoding gateway mounts here too once it exists.) Starlette: a small, typed ASGI
toolkit whose routing and streaming responses are all the gateway needs, served by uvicorn.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qs

from google.protobuf import json_format
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from interceptors.auth import bearer_token
from interceptors.introspection import Introspector
from server.errors import DomainError
from server.services.auth import introspection_response
from server.version import API_VERSION, SERVER_VERSION


def build_http_app(*, grpc_target: Callable[[str], str], introspector: Introspector) -> Starlette:
    async def discovery(request: Request) -> JSONResponse:
        host = request.url.hostname or "127.0.0.1"
        return JSONResponse(
            {"grpcTarget": grpc_target(host), "apiVersion": API_VERSION, "serverVersion": SERVER_VERSION}
        )

    async def introspect(request: Request) -> JSONResponse:
        """RFC 7662 §2: form-encoded `token`, caller authenticated by a token with `auth:introspect`."""
        try:
            caller_token = bearer_token([("authorization", request.headers.get("authorization", ""))])
        except DomainError:
            caller_token = None
        caller = await introspector.introspect(caller_token) if caller_token else None
        if caller is None:
            return JSONResponse(
                {"error": "invalid_token"}, status_code=401, headers={"WWW-Authenticate": 'Bearer realm="mp"'}
            )
        if not caller.has_scope("auth:introspect"):
            return JSONResponse({"error": "insufficient_scope", "scope": "auth:introspect"}, status_code=403)
        # parse_qs rather than request.form(): no multipart dependency for one urlencoded field.
        token = parse_qs((await request.body()).decode("utf-8", "replace")).get("token", [""])[0]
        if not token:
            return JSONResponse({"error": "invalid_request", "error_description": "missing token"}, status_code=400)
        answer = introspection_response(await introspector.introspect(token))
        return JSONResponse(json_format.MessageToDict(answer, preserving_proto_field_name=True))

    return Starlette(
        routes=[
            Route("/api/discovery", discovery, methods=["GET"]),
            Route("/oauth2/introspect", introspect, methods=["POST"]),
        ]
    )
