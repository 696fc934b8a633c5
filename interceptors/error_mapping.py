"""Maps domain errors to gRPC statuses, in one place. Unknown exceptions become INTERNAL with a
reference the operator can find in the log; their text never reaches the caller."""

from __future__ import annotations

import logging
import secrets

import grpc
from google.protobuf import any_pb2
from google.rpc import status_pb2

from mlmp_server.core.errors import DomainError
from mlmp_server.core.redaction import redact

log = logging.getLogger("mp.errors")

STATUS_DETAILS_KEY = "grpc-status-details-bin"
# A message travels in a trailer, and gRPC refuses trailers past 16 KiB as RESOURCE_EXHAUSTED (read
# as rate limiting): messages quoting what the caller sent are cut well below that.
MAX_MESSAGE_CHARS = 1024


def caller_message(message: str) -> str:
    """A domain error's message as the caller gets it: tokens redacted, length bounded."""
    cleaned = redact(message)
    return cleaned if len(cleaned) <= MAX_MESSAGE_CHARS else cleaned[: MAX_MESSAGE_CHARS - 1] + "…"


def status_trailers(error: DomainError) -> tuple[tuple[str, str | bytes], ...]:
    """The error's trailing metadata, plus its details as a google.rpc.Status (grpc-status-details-bin)."""
    trailers: tuple[tuple[str, str | bytes], ...] = tuple(error.trailing_metadata)
    if error.details:
        status = status_pb2.Status(code=error.grpc_code.value[0], message=caller_message(error.message))
        for detail in error.details:
            packed = any_pb2.Any()
            packed.Pack(detail)
            status.details.append(packed)
        trailers += ((STATUS_DETAILS_KEY, status.SerializeToString()),)
    return trailers


async def abort_with(context: grpc.aio.ServicerContext, error: DomainError | None, *, method: str = "") -> None:
    """Aborts the call (raises grpc.aio.AbortError). `None`: an unexpected failure, logged with a reference."""
    if error is not None:
        await context.abort(error.grpc_code, caller_message(error.message), trailing_metadata=status_trailers(error))
    reference = secrets.token_hex(4)
    log.exception("unhandled error in %s (reference %s)", method, reference)
    await context.abort(
        grpc.StatusCode.INTERNAL, f"internal error (reference {reference}); the server log has the details"
    )
