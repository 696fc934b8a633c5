"""One structured line per call: method, principal id, status, duration. Never a token."""

from __future__ import annotations

import json
import logging
import time

import grpc

from mlmp_server.core.principal import current_principal

log = logging.getLogger("mp.access")


class AccessLog:
    def record(self, method: str, peer: str, code: grpc.StatusCode, started: float) -> None:
        """`peer` is read when the call starts: once a call has ended (a client that cancelled), its
        context points at freed core state, and asking it for the peer crashes the process."""
        if not log.isEnabledFor(logging.INFO):
            return
        principal = current_principal()
        line = {
            "method": method,
            "principal": principal.token_id if principal else None,
            "vendor": (principal.vendor_slug or None) if principal else None,
            "code": code.name,
            "ms": round((time.perf_counter() - started) * 1000, 3),
            "peer": peer,
        }
        log.info(json.dumps(line))
