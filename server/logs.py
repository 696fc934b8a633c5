"""Process logging: one line per record on stderr, levels from MP_LOG_LEVEL, format from MP_LOG_FORMAT.

`text` (the default) is for a person at a terminal; `json` is one JSON object per line for a log
pipeline: time, level, logger, message, and during a call its request_id and method (the access
line's fields under `call`, a traceback under `exception`). Every line is redacted as it leaves
(server/core/redaction.py), in both formats.

The JSON formatter is the stdlib's `json` and twenty lines: python-json-logger would add a
dependency to every server install for the same object, and it copies any `extra` attribute into the
line, where we want a fixed set of keys that a pipeline can rely on.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any, TextIO

from mlmp_server.core.redaction import RedactingFilter, redact
from mlmp_server.core.request_ids import RequestIdFilter

_ENCODER = json.JSONEncoder(ensure_ascii=False, default=str)  # json.dumps with options builds one per call


class TextFormatter(logging.Formatter):
    """`time LEVEL logger [request id] message`; the bracket only during a call."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s%(request_tag)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        request_id = getattr(record, "request_id", None)
        record.request_tag = f" [{request_id}]" if request_id else ""
        return super().format(record)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": _utc(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("request_id", "method"):
            value = getattr(record, key, None)
            if value:
                line[key] = value
        call = getattr(record, "call", None)
        if isinstance(call, dict):
            line["call"] = call
        if record.exc_info:
            record.exc_text = record.exc_text or self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = record.stack_info
        # Redacted as a whole: the message is already, but `call` and the traceback are other text.
        return redact(_ENCODER.encode(line))


def _utc(created: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created)) + f".{int(created % 1 * 1000):03d}Z"


def log_handler(log_format: str = "text", stream: TextIO | None = None) -> logging.Handler:
    """A handler writing `stream` (stderr) in the format, with the redacting and request id filters."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    handler.addFilter(RequestIdFilter())
    handler.addFilter(RedactingFilter())
    return handler


def configure_logging(level: str, log_format: str = "text", stream: TextIO | None = None) -> None:
    root = logging.getLogger()
    root.handlers[:] = [log_handler(log_format, stream)]
    root.setLevel(level)
    # aiosqlite logs every statement with its parameters at DEBUG.
    for noisy in ("uvicorn.error", "sqlalchemy.engine", "alembic", "aiosqlite"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
