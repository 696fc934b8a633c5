"""Domain errors: each carries a message safe to show a caller, its gRPC code and HTTP status.

Raised anywhere in the server; mapped to a status in one place (interceptors/error_mapping.py).
Messages must never contain a token or other secret.
"""

from __future__ import annotations

from collections.abc import Sequence

import grpc
from google.protobuf.message import Message


class DomainError(Exception):
    grpc_code: grpc.StatusCode = grpc.StatusCode.UNKNOWN
    http_status: int = 500

    def __init__(
        self,
        message: str,
        *,
        details: Sequence[Message] = (),
        trailing_metadata: Sequence[tuple[str, str]] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = tuple(details)
        self.trailing_metadata = tuple(trailing_metadata)


class InvalidArgument(DomainError):
    grpc_code = grpc.StatusCode.INVALID_ARGUMENT
    http_status = 400


class FailedPrecondition(DomainError):
    grpc_code = grpc.StatusCode.FAILED_PRECONDITION
    http_status = 400


class NotFound(DomainError):
    grpc_code = grpc.StatusCode.NOT_FOUND
    http_status = 404


class AlreadyExists(DomainError):
    grpc_code = grpc.StatusCode.ALREADY_EXISTS
    http_status = 409


class Unauthenticated(DomainError):
    grpc_code = grpc.StatusCode.UNAUTHENTICATED
    http_status = 401


class PermissionDenied(DomainError):
    grpc_code = grpc.StatusCode.PERMISSION_DENIED
    http_status = 403


class ResourceExhausted(DomainError):
    grpc_code = grpc.StatusCode.RESOURCE_EXHAUSTED
    http_status = 429


class Unavailable(DomainError):
    grpc_code = grpc.StatusCode.UNAVAILABLE
    http_status = 503


class Unimplemented(DomainError):
    grpc_code = grpc.StatusCode.UNIMPLEMENTED
    http_status = 501
