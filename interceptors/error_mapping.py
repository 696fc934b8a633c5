"""Maps domain errors to gRPC statuses, in one place. Unknown exceptions become INTERNAL with a
reference the operator can find in the log; their text never reaches the caller."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import grpc
from google.protobuf import any_pb2
from google.rpc import status_pb2

from interceptors.redaction import redact
from interceptors.wrapping import GuardingInterceptor
from server.errors import DomainError

log = logging.getLogger("mp.errors")

STATUS_DETAILS_KEY = "grpc-status-details-bin"


def status_trailers(error: DomainError) -> tuple[tuple[str, str | bytes], ...]:
    trailers: tuple[tuple[str, str | bytes], ...] = tuple(error.trailing_metadata)
    if error.details:
        status = status_pb2.Status(code=error.grpc_code.value[0], message=redact(error.message))
        for detail in error.details:
            packed = any_pb2.Any()
            packed.Pack(detail)
            status.details.append(packed)
        trailers += ((STATUS_DETAILS_KEY, status.SerializeToString()),)
    return trailers


class ErrorMappingInterceptor(GuardingInterceptor):
    @asynccontextmanager
    async def guard(self, method: str, context: grpc.aio.ServicerContext) -> AsyncIterator[None]:
        try:
            yield
        except DomainError as error:
            await context.abort(error.grpc_code, redact(error.message), trailing_metadata=status_trailers(error))
        except (grpc.aio.AbortError, asyncio.CancelledError):
            raise
        except Exception:
            reference = secrets.token_hex(4)
            log.exception("unhandled error in %s (reference %s)", method, reference)
            await context.abort(
                grpc.StatusCode.INTERNAL,
                f"internal error (reference {reference}); the server log has the details",
            )
