"""What every call leaves behind: its request id (for the log lines it writes), one structured access
line (method, principal id, status, duration; never a token), and its count and latency in the
Prometheus metrics (server/core/metrics.py)."""

from __future__ import annotations

import json
import logging
import time

import grpc
from prometheus_client import Counter, Histogram

from mlmp_server.core import metrics, request_ids
from mlmp_server.core.principal import current_principal

log = logging.getLogger("mp.access")


class AccessLog:
    def __init__(self) -> None:
        # The metrics' children per method (and code): `labels()` takes a lock and builds a key each time.
        self._latency: dict[str, Histogram] = {}
        self._calls: dict[tuple[str, grpc.StatusCode], Counter] = {}

    def begin(self, method: str, context: grpc.aio.ServicerContext) -> str:
        """Starts the call's log context (its request id from the `x-request-id` metadata, or a new
        one) in the call's own task; returns the peer, read now: see `record`."""
        request_ids.begin(request_ids.from_metadata(context.invocation_metadata()), method)
        return context.peer()

    def record(self, method: str, peer: str, code: grpc.StatusCode, started: float) -> None:
        """`peer` is read when the call starts: once a call has ended (a client that cancelled), its
        context points at freed core state, and asking it for the peer crashes the process."""
        seconds = time.perf_counter() - started
        self._observe(method, code, seconds)
        if not log.isEnabledFor(logging.INFO):
            return
        principal = current_principal()
        line = {
            "method": method,
            "principal": principal.token_id if principal else None,
            "vendor": (principal.vendor_slug or None) if principal else None,
            "code": code.name,
            "ms": round(seconds * 1000, 3),
            "peer": peer,
        }
        log.info(json.dumps(line), extra={"call": line})

    def _observe(self, method: str, code: grpc.StatusCode, seconds: float) -> None:
        latency = self._latency.get(method)
        if latency is None:
            latency = self._latency[method] = metrics.grpc_call_seconds.labels(method)
        latency.observe(seconds)
        calls = self._calls.get((method, code))
        if calls is None:
            calls = self._calls[(method, code)] = metrics.grpc_calls.labels(method, code.name)
        calls.inc()
