"""A linked destination on a local port, as a vendor's infrastructure runs it: it records each signed
delivery and answers scripted statuses; and the README's signature check, to verify them with."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_verify() -> Callable[..., bool]:
    """The README's receiver snippet, run as a receiver would run it."""
    (snippet,) = re.findall(r"```python\n(import hashlib, hmac, time\n.*?)```", README.read_text(), re.S)
    scope: dict[str, Any] = {}
    exec(snippet, scope)  # noqa: S102  (our own README)
    return scope["verify"]


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    status: int

    @property
    def delivery(self) -> dict[str, Any]:
        return json.loads(self.body)


class Receiver:
    """A destination on a free local port: answers the scripted statuses first, then 200; records each POST."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.statuses = list(statuses or [])
        self.requests: list[Received] = []
        self._changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver._changed:
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                    receiver.requests.append(Received(dict(self.headers), body, status))
                    receiver._changed.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args) -> None:
                pass

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._http.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._http.server_port}/mp/signals"

    def wait_for(self, count: int, timeout: float = 20.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self.requests) < count:
                left = deadline - time.monotonic()
                assert left > 0, f"{len(self.requests)} deliveries arrived, not {count}"
                self._changed.wait(left)
            return list(self.requests)

    def accepted(self) -> list[Received]:
        return [r for r in self.requests if 200 <= r.status < 300]

    def close(self) -> None:
        self._http.shutdown()
        self._http.server_close()
