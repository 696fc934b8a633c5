"""A local HTTP server that answers each request as a test scripts it: for clients facing servers that
misbehave (empty bodies, wrong ranges, dropped connections) or stand between them (redirects, proxies)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Seen:
    """One request the server received."""

    method: str
    target: str  # the request line's target: a path, or a whole URL when sent to a proxy
    headers: dict[str, str]


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    content_length: int | None = None  # None: len(body); more than the body, then the connection drops


@dataclass
class ScriptedServer:
    url: str
    seen: list[Seen]


@contextmanager
def scripted_server(answer: Callable[[Seen], Reply]) -> Iterator[ScriptedServer]:
    """Serves on 127.0.0.1 (a port of its own) with `answer(request) -> Reply`, in a thread."""
    seen: list[Seen] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802  (the name http.server calls)
            request = Seen(self.command, self.path, {k.lower(): v for k, v in self.headers.items()})
            seen.append(request)
            reply = answer(request)
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            length = len(reply.body) if reply.content_length is None else reply.content_length
            self.send_header("Content-Length", str(length))
            if length != len(reply.body):
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            self.wfile.write(reply.body)
            self.wfile.flush()

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield ScriptedServer(f"http://127.0.0.1:{server.server_address[1]}", seen)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
