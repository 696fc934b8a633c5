"""The transcoding gateway: an HTTP/JSON endpoint for every annotated RPC of the given services,
calling them through a channel: this process's own handlers (server/gateway/inprocess.py) or a gRPC
channel to other replicas. It knows nothing of our services beyond their descriptors.

Headers: `Authorization` → `authorization`; `Grpc-Metadata-<k>` → `<k>` (`-bin` is base64), 8 KiB
in all or 431; `Grpc-Timeout` (e.g. `5S`, `250m`, at most 24 h) → the deadline, else the configured
default (unary calls only); response metadata → `Grpc-Metadata-<k>`; `X-Request-Id` (when safe to
log, else a new one: server/gateway/observability.py) → `x-request-id`, and echoed. Bodies over
16 MiB are refused (413) unread.
Server streams are newline-delimited JSON: `{"result": …}` per message, then `{"error": …}` if the
stream fails after its first message. Client streams take newline-delimited JSON messages.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import re
from collections.abc import AsyncIterator, Iterable
from typing import Any, TypeAlias

import cachetools
import grpc
from google.protobuf.descriptor import ServiceDescriptor
from google.protobuf.message import Message
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from mlmp_marketplace.v1 import options_pb2
from mlmp_server.gateway.errors import HTTP_STATUS, details_from_trailers, error_document, error_headers
from mlmp_server.gateway.inprocess import InProcessChannel
from mlmp_server.gateway.observability import ROUTE_KEY, request_id_of, route_label
from mlmp_server.gateway.routes import MethodNotAllowed, NoRoute, Route, Router, routes_from_services
from mlmp_server.gateway.transcode import BadRequest, build_request, message_class, response_json

MAX_BODY_BYTES = 16 * 1024 * 1024
# gRPC refuses metadata past 8 KiB at random and past 16 KiB always (RESOURCE_EXHAUSTED, which reads as
# rate limiting): the gateway refuses more than the soft limit itself, saying which header is too large.
MAX_METADATA_BYTES = 8 * 1024
_METADATA_ENTRY_OVERHEAD = 32  # what gRPC adds per entry when it sizes metadata (HPACK's rule)
MAX_TIMEOUT_SECONDS = 24 * 3600.0  # a longer Grpc-Timeout is cut to this
# The gRPC spec: TimeoutValue is at most 8 ASCII digits, then one unit letter.
_TIMEOUT = re.compile(r"([0-9]{1,8})([HMSmun])")
# gRPC's words for a message over a channel's limit ("CLIENT: Received …" is the gateway's own side).
_TOO_LARGE = re.compile(r"(Received|Sent) message larger than max \((\d+) vs\. (\d+)\)")
_TIMEOUT_UNITS = {"H": 3600.0, "M": 60.0, "S": 1.0, "m": 1e-3, "u": 1e-6, "n": 1e-9}
# A real channel (to other replicas) or this process's own handlers: the gateway's code is the same.
Channel: TypeAlias = grpc.aio.Channel | InProcessChannel
KEPT_ANSWERS = 256
MAX_KEPT_ANSWER = 64 * 1024  # bytes of protobuf; larger answers are encoded every time
KEPT_REQUESTS = 256
MAX_KEPT_URL = 2048  # bytes of path and query; longer GETs are built every time


def _raw(data: bytes) -> bytes:
    return data


def json_response(document: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(document, separators=(",", ":")), status_code=status, headers=headers,
        media_type="application/json",
    )  # fmt: skip


class TooLarge(BadRequest):
    """A request part over its limit: 413 for the body, 431 for headers."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def parse_grpc_timeout(value: str) -> float:
    match = _TIMEOUT.fullmatch(value)
    if not match:
        raise BadRequest(
            f"Grpc-Timeout {value[:40]!r} is not a gRPC timeout: up to 8 digits and a unit, e.g. 5S or 250m"
        )
    return min(int(match.group(1)) * _TIMEOUT_UNITS[match.group(2)], MAX_TIMEOUT_SECONDS)


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The body, refused (413) from its Content-Length before any of it is read, or as soon as a
    chunked body passes the limit; the rest is never read."""
    refused = TooLarge(f"the body is larger than {limit // (1024 * 1024)} MiB", 413)
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise refused
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise refused
        chunks.append(chunk)
    return b"".join(chunks)


class Gateway:
    def __init__(
        self, services: Iterable[ServiceDescriptor], channel: Channel, *, default_timeout: float = 30.0
    ) -> None:
        self.routes = routes_from_services(services)
        self._router = Router(self.routes)
        self._channel = channel
        self._default_timeout = default_timeout
        self._callables: dict[str, Any] = {}
        self._bodies: cachetools.LRUCache[tuple[str, str, bytes], bytes] = cachetools.LRUCache(KEPT_ANSWERS)
        # GET requests built from their URL, by route, path and query: building one from the query through
        # protobuf's JSON parser cost as much as the call itself (8% of the process under load). The kept
        # message is only ever serialized (by either channel), never handed to code that could change it.
        self._requests: cachetools.LRUCache[tuple[str, str, bytes], Message] = cachetools.LRUCache(KEPT_REQUESTS)

    def _callable(self, route: Route) -> Any:
        found = self._callables.get(route.grpc_path)
        if found is None:
            method = route.method
            factory = {
                (False, False): self._channel.unary_unary,
                (False, True): self._channel.unary_stream,
                (True, False): self._channel.stream_unary,
                (True, True): self._channel.stream_stream,
            }[(method.client_streaming, method.server_streaming)]
            found = factory(
                route.grpc_path,
                request_serializer=lambda message: message.SerializeToString(),
                # A unary answer stays bytes until _unary_body needs it parsed: an answer seen before is
                # answered from its bytes without parsing or encoding.
                response_deserializer=_raw
                if not method.server_streaming
                else message_class(method.output_type).FromString,
            )
            self._callables[route.grpc_path] = found
        return found

    async def handle(self, request: Request) -> Response:
        request_id = request_id_of(request)
        echo = {"X-Request-Id": request_id}
        raw_path = request.scope.get("raw_path", request.url.path.encode()).decode("latin-1").split("?", 1)[0]
        try:
            route, path_values = self._router.match(request.method, raw_path)
        except NoRoute:
            document = error_document(grpc.StatusCode.NOT_FOUND, f"no route for {request.method} {request.url.path}")
            return json_response(document, 404, echo)
        except MethodNotAllowed as refused:
            document = error_document(
                grpc.StatusCode.UNIMPLEMENTED, f"{request.method} is not allowed here; use {refused.allowed[0]}"
            )
            return json_response(document, 405, {**echo, "Allow": ", ".join(refused.allowed)})
        request.scope[ROUTE_KEY] = route_label(route.http_method, route.template.source)
        try:
            metadata = self._metadata(request, request_id)
            timeout = self._timeout(request, route)
            body = await read_body(request)
            query_string = request.scope.get("query_string", b"")
            kept_as = (
                (route.grpc_path, raw_path, query_string)
                if route.http_method == "GET" and not body and len(raw_path) + len(query_string) <= MAX_KEPT_URL
                else None
            )
            kept = self._requests.get(kept_as) if kept_as is not None else None
            if kept is not None:
                argument: Any = kept
            elif route.method.client_streaming:
                query = list(request.query_params.multi_items())
                messages = [
                    build_request(route, path_values, query, line) for line in body.splitlines() if line.strip()
                ]
                argument = _iterate(messages)
            else:
                argument = build_request(route, path_values, list(request.query_params.multi_items()), body)
                if kept_as is not None and not route.method.server_streaming:
                    self._requests[kept_as] = argument
        except BadRequest as error:
            if _needs_token(route) and "authorization" not in request.headers:
                # Without a token, say so first: the body's shape is none of an anonymous caller's business.
                code = grpc.StatusCode.UNAUTHENTICATED
                document = error_document(code, "this call needs a token: send `Authorization: Bearer <token>`")
                return json_response(document, 401, {**echo, **error_headers(code, ()), **_closing(error)})
            document = error_document(grpc.StatusCode.INVALID_ARGUMENT, str(error))
            return json_response(document, error.status, {**echo, **_closing(error)})
        call = self._callable(route)(argument, metadata=metadata, timeout=timeout)
        if route.method.server_streaming:
            return await self._stream(route, call, echo)
        try:
            raw = await call
            headers = {**echo, **_metadata_headers(await call.initial_metadata(), await call.trailing_metadata())}
        except grpc.aio.AioRpcError as error:
            return _error_response(error, echo)
        return Response(self._unary_body(route, raw), headers=headers, media_type="application/json")

    def _unary_body(self, route: Route, raw: bytes) -> bytes:
        """The JSON of a unary answer. Reads repeat (a cached catalog page, the current round), and
        JSON encoding is the gateway's largest cost, so recent GET bodies are kept by the answer's
        bytes. Only GET ones: the answers of writes are one-offs, and some carry secrets (a new API
        token, a session, a rotated deployment token) that must not stay in memory."""
        keep = route.http_method == "GET" and len(raw) <= MAX_KEPT_ANSWER
        key = (route.grpc_path, route.response_body, raw)
        body = self._bodies.get(key) if keep else None
        if body is None:
            message = message_class(route.method.output_type).FromString(raw)
            body = json.dumps(response_json(route, message), separators=(",", ":")).encode()
            if keep:
                self._bodies[key] = body
        return body

    def kept_answers(self) -> list[bytes]:
        """The JSON bodies kept for repeated answers (for tests: what stays in memory)."""
        return list(self._bodies.values())

    async def _stream(self, route: Route, call: Any, echo: dict[str, str]) -> Response:
        """200 and the headers as soon as the server sends its headers or a first message, whichever
        comes first: a subscription that is quiet for a while must not leave the client without an
        answer. An error before either is an ordinary error response."""
        messages = call.__aiter__()
        first_message = asyncio.ensure_future(messages.__anext__())
        headers_sent = asyncio.ensure_future(call.initial_metadata())
        await asyncio.wait({first_message, headers_sent}, return_when=asyncio.FIRST_COMPLETED)
        if not first_message.done():
            await asyncio.sleep(0)  # a refused call delivers its empty headers and its status together
        if call.done() and not first_message.done():
            await asyncio.wait({first_message})
        if first_message.done():
            error = first_message.exception()
            if isinstance(error, grpc.aio.AioRpcError):
                headers_sent.cancel()
                return _error_response(error, echo)
        headers = {**echo, **_metadata_headers(await headers_sent, ())}

        async def lines() -> AsyncIterator[bytes]:
            try:
                try:
                    first: Message | None = await first_message
                except StopAsyncIteration:
                    first = None
                if first is not None:
                    yield _line({"result": response_json(route, first)})
                    async for message in messages:
                        yield _line({"result": response_json(route, message)})
            except grpc.aio.AioRpcError as error:
                yield _error_line(error)
            finally:
                call.cancel()  # the client went away, or the stream ended: nothing keeps running

        return StreamingResponse(lines(), media_type="application/x-ndjson", headers=headers)

    def _metadata(self, request: Request, request_id: str) -> list[tuple[str, str | bytes]]:
        metadata: list[tuple[str, str | bytes]] = [("x-request-id", request_id)]
        authorization = request.headers.get("authorization")
        if authorization:
            metadata.append(("authorization", authorization))
        for key, value in request.headers.items():
            if not key.startswith("grpc-metadata-"):
                continue
            name = key.removeprefix("grpc-metadata-")
            if not name or name.startswith("grpc-") or name in ("authorization", "x-request-id"):
                continue
            if name.endswith("-bin"):
                try:
                    metadata.append((name, base64.b64decode(value, validate=True)))
                except binascii.Error:
                    raise BadRequest(f"header Grpc-Metadata-{name} must be base64") from None
            else:
                metadata.append((name, value))
        _check_metadata_size(metadata)
        return metadata

    def _timeout(self, request: Request, route: Route) -> float | None:
        header = request.headers.get("grpc-timeout")
        if header is not None:
            return parse_grpc_timeout(header)
        return None if route.method.server_streaming else self._default_timeout


def _closing(error: BadRequest) -> dict[str, str]:
    """A refused body is left unread: the connection closes rather than take the rest to reach the next request."""
    return {"Connection": "close"} if error.status == 413 else {}


def _check_metadata_size(metadata: list[tuple[str, str | bytes]]) -> None:
    total = 0
    for key, value in metadata:
        size = len(key) + len(value) + _METADATA_ENTRY_OVERHEAD
        if size > MAX_METADATA_BYTES:
            header = "Authorization" if key == "authorization" else f"Grpc-Metadata-{key}"
            raise TooLarge(f"header {header} is {len(value)} bytes; at most {MAX_METADATA_BYTES} are forwarded", 431)
        total += size
    if total > MAX_METADATA_BYTES:
        raise TooLarge(
            f"the Authorization and Grpc-Metadata-* headers add up to {total} bytes; "
            f"at most {MAX_METADATA_BYTES} are forwarded",
            431,
        )


async def _iterate(messages: list[Message]) -> AsyncIterator[Message]:
    for message in messages:
        yield message


def _line(document: Any) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode() + b"\n"


def _needs_token(route: Route) -> bool:
    options = route.method.GetOptions()
    return options.HasExtension(options_pb2.access) and not options.Extensions[options_pb2.access].public


def _details(error: grpc.aio.AioRpcError) -> list[dict[str, Any]]:
    return details_from_trailers(error.trailing_metadata())


def _error_response(error: grpc.aio.AioRpcError, echo: dict[str, str]) -> Response:
    if oversized := _oversized_answer(error):
        return json_response(error_document(grpc.StatusCode.INTERNAL, oversized), 502, echo)
    code = error.code()
    trailers = error.trailing_metadata()
    headers = {**echo, **error_headers(code, trailers), **_metadata_headers((), trailers)}
    return json_response(error_document(code, error.details() or "", _details(error)), HTTP_STATUS[code], headers)


def _error_line(error: grpc.aio.AioRpcError) -> bytes:
    if oversized := _oversized_answer(error):
        return _line({"error": error_document(grpc.StatusCode.INTERNAL, oversized)})
    return _line({"error": error_document(error.code(), error.details() or "", _details(error))})


def _oversized_answer(error: grpc.aio.AioRpcError) -> str:
    """A message or metadata over a gRPC limit is RESOURCE_EXHAUSTED, like rate limiting, which
    clients retry; but the server has already run the call. The message for such a failure, else ""."""
    if error.code() != grpc.StatusCode.RESOURCE_EXHAUSTED:
        return ""
    details = error.details() or ""
    if "received metadata size exceeds" in details:
        return (
            "the server answered with more metadata than gRPC lets the gateway read; the call may have "
            "completed on the server: check its result before repeating it"
        )
    found = _TOO_LARGE.search(details)
    if not found:
        return ""
    return (
        f"the call completed on the server, but its answer ({found.group(2)} bytes) is larger than the gateway "
        f"takes ({found.group(3)}); do not repeat it: read the result back (for example with a smaller page)"
    )


def _metadata_headers(initial: Any, trailing: Any) -> dict[str, str]:
    headers: dict[str, str] = {}
    for key, value in [*(initial or ()), *(trailing or ())]:
        if key.startswith("grpc-") or key == "x-request-id":
            continue
        if isinstance(value, bytes):
            value = base64.b64encode(value).decode()
        headers[f"Grpc-Metadata-{key}"] = value
    return headers
