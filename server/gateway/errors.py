"""gRPC status → HTTP: the status code table and the `{code, message, details}` error body."""

from __future__ import annotations

import math
from typing import Any

import grpc
from google.protobuf import json_format
from google.rpc import error_details_pb2, status_pb2  # noqa: F401  (registers the detail types for JSON)

from mlmp_server.core.redaction import redact

HTTP_STATUS = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500,
}

DETAILS_KEY = "grpc-status-details-bin"


def error_document(code: grpc.StatusCode, message: str, details: list[dict[str, Any]] | None = None) -> dict:
    """Messages echo what the caller sent (a path, a value), and callers paste tokens into the wrong field."""
    return {"code": code.value[0], "message": redact(message), "details": details or []}


def details_from_trailers(trailers: Any) -> list[dict[str, Any]]:
    for key, value in trailers or ():
        if key == DETAILS_KEY and isinstance(value, bytes):
            status = status_pb2.Status.FromString(value)
            out = []
            for detail in status.details:
                try:
                    out.append(json_format.MessageToDict(detail))
                except (TypeError, KeyError):  # a detail type this process does not know
                    out.append({"@type": detail.type_url})
            return out
    return []


def error_headers(code: grpc.StatusCode, trailers: Any) -> dict[str, str]:
    headers: dict[str, str] = {}
    if code == grpc.StatusCode.UNAUTHENTICATED:
        headers["WWW-Authenticate"] = 'Bearer realm="mp"'
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        for key, value in trailers or ():
            if key == "retry-after-ms":
                headers["Retry-After"] = str(max(1, math.ceil(int(value) / 1000)))
        headers.setdefault("Retry-After", "1")
    return headers
