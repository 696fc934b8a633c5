"""Redaction of anything shaped like one of our tokens, at the two places text leaves the server:
error messages and log records. Callers do paste tokens into the wrong field."""

from __future__ import annotations

import logging
import re

# No word boundary before the prefix: a token pasted onto other text ("xmpat_…") is still one.
_TOKEN = re.compile(r"(mpat|mpdt|mprt|mpws|mpiv)_[0-9A-Za-z]{6,}")
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{6,}")


def redact(text: str) -> str:
    return _BEARER.sub(r"\1[REDACTED]", _TOKEN.sub(r"\1_[REDACTED]", text))


class RedactingFilter(logging.Filter):
    """Rewrites each record's final message; attach it to every handler that writes logs out."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True
