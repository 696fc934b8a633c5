"""One structured line per call: method, principal id, status, duration. Never a token."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import grpc

from interceptors.principal import current_principal
from interceptors.wrapping import GuardingInterceptor

log = logging.getLogger("mp.access")


class AccessLogInterceptor(GuardingInterceptor):
    @asynccontextmanager
    async def guard(self, method: str, context: grpc.aio.ServicerContext) -> AsyncIterator[None]:
        started = time.perf_counter()
        code = grpc.StatusCode.OK
        try:
            yield
        except grpc.aio.AbortError:
            code = context.code() or grpc.StatusCode.UNKNOWN
            raise
        except (asyncio.CancelledError, GeneratorExit):
            code = grpc.StatusCode.CANCELLED
            raise
        except BaseException:
            code = grpc.StatusCode.UNKNOWN
            raise
        finally:
            if log.isEnabledFor(logging.INFO):
                principal = current_principal()
                log.info(
                    json.dumps(
                        {
                            "method": method,
                            "principal": principal.token_id if principal else None,
                            "vendor": principal.vendor_slug or None if principal else None,
                            "code": code.name,
                            "ms": round((time.perf_counter() - started) * 1000, 3),
                            "peer": context.peer(),
                        }
                    )
                )
