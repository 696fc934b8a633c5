"""mp-server's own log handler (server/logs.py), in JSON, attached to the root logger for one test."""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from mlmp_server.logs import log_handler


class JsonLines:
    def __init__(self, stream: io.StringIO) -> None:
        self._stream = stream

    def all(self) -> list[dict[str, Any]]:
        """Every line written so far, each parsed as one JSON object (a line that is not fails the test)."""
        return [json.loads(line) for line in self._stream.getvalue().splitlines()]

    def of(self, request_id: str) -> list[dict[str, Any]]:
        return [line for line in self.all() if line.get("request_id") == request_id]

    def of_call(self, request_id: str, timeout: float = 10.0) -> list[dict[str, Any]]:
        """The lines of a call, once its access line (written after the caller has its answer) is in."""
        deadline = time.monotonic() + timeout
        while not any(line["logger"] == "mp.access" for line in self.of(request_id)):
            assert time.monotonic() < deadline, f"no access line for request {request_id}"
            time.sleep(0.01)
        return self.of(request_id)

    def access(self, method_suffix: str) -> list[dict[str, Any]]:
        access = [line for line in self.all() if line["logger"] == "mp.access"]
        return [line for line in access if line["call"]["method"].endswith(method_suffix)]


@contextmanager
def json_logs(level: int = logging.INFO) -> Iterator[JsonLines]:
    stream = io.StringIO()
    handler = log_handler("json", stream)
    root = logging.getLogger()
    before = root.level
    root.addHandler(handler)
    root.setLevel(level)
    try:
        yield JsonLines(stream)
    finally:
        root.removeHandler(handler)
        root.setLevel(before)
