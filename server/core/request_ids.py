"""The request id of the call in progress, so that every log line of one call can be found together.

The gateway takes `X-Request-Id` from the HTTP request and passes it as `x-request-id` metadata; the
gRPC side reads it from there. A value is kept only when it is safe to put in a log line (at most 128
letters, digits and `._:-`), else one is made up. It lives in a contextvar that `RequestIdFilter` adds
to each log record: the tasks a call starts (server/core/completion.py) copy it with the rest of the
context.
"""

from __future__ import annotations

import contextvars
import logging
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

METADATA_KEY = "x-request-id"
HEADER = "X-Request-Id"
_SAFE = re.compile(r"[A-Za-z0-9._:-]{1,128}")


@dataclass(frozen=True)
class CallIds:
    request_id: str
    method: str = ""  # the full gRPC method name, once the call reached the gRPC side


_current: contextvars.ContextVar[CallIds | None] = contextvars.ContextVar("request_ids", default=None)


def new_request_id() -> str:
    return secrets.token_hex(16)  # as random as a uuid4's hex, at a third of its cost


def accepted(value: Any) -> str:
    """`value` when it is a safe request id, else a new one."""
    if isinstance(value, str) and _SAFE.fullmatch(value):
        return value
    return new_request_id()


def from_metadata(metadata: Iterable[tuple[str, Any]] | None) -> str:
    """The caller's `x-request-id` when it sent a safe one, else a new one."""
    for key, value in metadata or ():
        if key == METADATA_KEY:
            return accepted(value)
    return new_request_id()


def begin(request_id: str, method: str = "") -> contextvars.Token[CallIds | None]:
    """Makes `request_id` (and the method) the current call's, in this task and those it starts.
    A call's task ends with its context; code that goes on in the same context calls `end`."""
    return _current.set(CallIds(request_id, method))


def end(token: contextvars.Token[CallIds | None]) -> None:
    _current.reset(token)


def current() -> CallIds | None:
    return _current.get()


class RequestIdFilter(logging.Filter):
    """Adds `request_id` and `method` to every record logged during a call (None outside one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        ids = _current.get()
        record.request_id = ids.request_id if ids else None
        record.method = (ids.method or None) if ids else None
        return True
