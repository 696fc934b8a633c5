"""MP_LOG_FORMAT: `json` writes one JSON object per line with the call's request id and method; both
formats redact tokens, in the message, the access line's fields and tracebacks."""

from __future__ import annotations

import io
import json
import logging
import re

import pytest

from mlmp_server.core import request_ids
from mlmp_server.logs import configure_logging
from mlmp_server.settings import Settings, SettingsError

TOKEN = "mpat_" + "Secret123456789"


@pytest.fixture
def logged():
    """Configures logging as mp-server does, into a buffer; restores the root logger after."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    stream = io.StringIO()

    def configure(log_format: str) -> io.StringIO:
        configure_logging("INFO", log_format, stream)
        return stream

    yield configure
    root.handlers[:] = handlers
    root.setLevel(level)


def test_json_logs_are_one_object_per_line_with_the_fixed_keys(logged):
    stream = logged("json")
    logging.getLogger("mp.test").info("first %s", "line")
    logging.getLogger("mp.other").warning("second\nline with a newline")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert set(first) == {"time", "level", "logger", "message"}  # outside a call: no request id
    assert (first["level"], first["logger"], first["message"]) == ("INFO", "mp.test", "first line")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", first["time"])
    assert second["message"] == "second\nline with a newline"


def test_during_a_call_each_line_carries_its_request_id_and_method(logged):
    stream = logged("json")
    call = request_ids.begin("r-42", "/marketplace.v1.CatalogService/ListCatalog")
    try:
        logging.getLogger("mp.access").info('{"code": "OK"}', extra={"call": {"code": "OK", "ms": 1.5}})
    finally:
        request_ids.end(call)
    line = json.loads(stream.getvalue())
    assert line["request_id"] == "r-42"
    assert line["method"] == "/marketplace.v1.CatalogService/ListCatalog"
    assert line["call"] == {"code": "OK", "ms": 1.5}


def test_text_logs_show_the_request_id_during_a_call(logged):
    stream = logged("text")
    logging.getLogger("mp.test").info("outside")
    call = request_ids.begin("r-43")
    try:
        logging.getLogger("mp.test").info("inside")
    finally:
        request_ids.end(call)
    outside, inside = stream.getvalue().splitlines()
    assert outside.endswith(" INFO mp.test outside")
    assert inside.endswith(" INFO mp.test [r-43] inside")


@pytest.mark.parametrize("log_format", ["json", "text"])
def test_a_token_is_redacted_in_messages_fields_and_tracebacks(logged, log_format):
    stream = logged(log_format)
    log = logging.getLogger("mp.test")
    log.info("pasted %s here", TOKEN)
    log.info("a call", extra={"call": {"note": "Bearer opaque.remote-token", "token": TOKEN}})
    try:
        raise ValueError(f"bad token {TOKEN}")
    except ValueError:
        log.exception("failed")
    text = stream.getvalue()
    assert "Secret123456789" not in text
    assert "opaque.remote-token" not in text
    assert "mpat_[REDACTED]" in text
    if log_format == "json":
        lines = [json.loads(line) for line in text.splitlines()]
        assert lines[0]["message"] == "pasted mpat_[REDACTED] here"
        assert lines[1]["call"] == {"note": "Bearer [REDACTED]", "token": "mpat_[REDACTED]"}
        assert "ValueError: bad token mpat_[REDACTED]" in lines[2]["exception"]


def test_mp_log_format_is_text_or_json():
    assert Settings.from_env({}).log_format == "text"
    assert Settings.from_env({"MP_LOG_FORMAT": "JSON"}).log_format == "json"
    with pytest.raises(SettingsError, match="MP_LOG_FORMAT='yaml' is not one of json, text"):
        Settings.from_env({"MP_LOG_FORMAT": "yaml"})
