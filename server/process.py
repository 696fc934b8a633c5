"""Process plumbing for mp-server: listening sockets, the HTTP server, SIGTERM/SIGINT, the last-resort
exit, and the gRPC target discovery hands out."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import uvicorn

from mlmp_server.settings import Settings

log = logging.getLogger("mp.server")


def _tcp_socket(addr: str) -> tuple[socket.socket, tuple[str, int]]:
    host, _, port = addr.rpartition(":")
    host = host.strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    return sock, (host, int(port))


def bind_socket(addr: str) -> socket.socket:
    sock, address = _tcp_socket(addr)
    # Accepted connections inherit this. Without it a kept-alive client waits ~40 ms a request:
    # the response leaves as headers then body, and Nagle holds the body for the delayed ACK.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind(address)
    except OSError as error:
        sock.close()
        raise SystemExit(f"cannot listen on {addr}: {error.strerror} (set MP_HTTP_ADDR to another port)") from None
    return sock


def grpc_port_refused(addr: str) -> SystemExit:
    """The start-up error for a gRPC address grpc could not bind. grpc says only that it failed, so a
    plain bind of the same address finds the reason to show ("Address already in use")."""
    reason = "the address cannot be bound"
    try:
        sock, address = _tcp_socket(addr)
    except (OSError, ValueError):
        pass
    else:
        with sock:
            try:
                sock.bind(address)
            except OSError as error:
                reason = error.strerror or reason
    return SystemExit(f"cannot listen on {addr} for gRPC: {reason} (set MP_GRPC_ADDR to another port)")


def loopback_host(grpc_addr: str) -> str:
    host = grpc_addr.rpartition(":")[0]
    return "127.0.0.1" if host in ("0.0.0.0", "[::]", "::", "") else host


class PathSend:
    """Offers ASGI's `http.response.pathsend` extension on uvicorn, which has none: Starlette's
    FileResponse then hands over a file's path instead of its bytes, and the file goes out with
    `loop.sendfile` (os.sendfile: from the page cache to the socket, no copy through Python). A 200 MB
    download took our server 0.16 s of CPU in 1 MiB blocks (read in a thread, handed to the loop,
    written), against 0.07 s for `python -m http.server`.

    It reaches uvicorn's connection through the `send` it is given (the response cycle's bound
    method: its transport and the count of body bytes still due); where that is not there (another
    server, a wrapped `send`), the extension is not offered and files go out in blocks as before.
    Ranges (a resumed download) and HEAD always go the usual way (FileResponse's choice).
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Callable, send: Callable) -> None:
        cycle = getattr(send, "__self__", None)
        transport = getattr(cycle, "transport", None)
        if (
            scope["type"] != "http"
            or not isinstance(transport, asyncio.Transport)
            or not isinstance(getattr(cycle, "expected_content_length", None), int)
        ):
            await self.app(scope, receive, send)
            return

        async def send_or_sendfile(message: dict[str, Any]) -> None:
            if message["type"] != "http.response.pathsend":
                await send(message)
                return
            if transport.is_closing():  # the client left before the body
                return
            with open(message["path"], "rb") as file:
                size = os.fstat(file.fileno()).st_size
                try:
                    await asyncio.get_running_loop().sendfile(transport, file, 0, size)
                except ConnectionError:  # the client left: nothing more to send
                    transport.close()
                    await asyncio.sleep(0)  # uvicorn hears of it (connection_lost) before the app returns
                    return
            cycle.expected_content_length -= size  # type: ignore[union-attr]
            await send({"type": "http.response.body", "body": b"", "more_body": False})

        extensions = {**(scope.get("extensions") or {}), "http.response.pathsend": {}}
        await self.app({**scope, "extensions": extensions}, receive, send_or_sendfile)
class _Server(uvicorn.Server):
    """uvicorn's server without its own SIGTERM/SIGINT handlers: mp-server's stop event (stop_on_signals) says
    when HTTP stops. uvicorn's would stop it at the signal, so /readyz could never answer 503 while draining."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def uvicorn_server(app: object, grace: float) -> uvicorn.Server:
    return _Server(
        uvicorn.Config(
            PathSend(app),
            log_config=None,
            access_log=False,
            lifespan="off",
            server_header=False,
            timeout_graceful_shutdown=max(1, round(grace)),
        )
    )


def stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(signum, stop.set)
        except (NotImplementedError, RuntimeError):  # not the main thread (tests)
            break


# Collections of the youngest generation: one per this many new container objects (Python's default, 700,
# ran ~280 collections a second under load, each promoting the objects of calls in flight towards gen 2).
GC_YOUNG_THRESHOLD = 10_000


def settle_heap() -> None:
    """Once the server is up: the objects of start-up (modules, descriptors, the ORM's mappers, some
    500k of them) move out of the collector's sight, and young collections run less often.

    Without it, a full collection ran every ~0.4 s under load and walked all of them: 40-130 ms with
    every call waiting (all 32 clients of the gateway bench stalled at once; it was the REST p99), and
    15% of the process's time. gc.freeze() is what CPython offers for this: frozen objects are never
    collected, so a cycle made at start-up and dropped later stays in memory (there are few, if any)."""
    gc.collect()
    gc.freeze()
    _young, *older = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *older)


STUCK_SHUTDOWN_MARGIN = 5.0


def exit_after(seconds: float) -> None:
    """A last resort that no call in flight can hold up: a thread, not a task of the loop."""

    def exit_now() -> None:
        log.error("shutdown still unfinished %.0fs after SIGTERM; exiting anyway", seconds)
        logging.shutdown()
        os._exit(1)

    timer = threading.Timer(seconds, exit_now)
    timer.daemon = True
    timer.start()


def grpc_target_for(settings: Settings, grpc_port: int) -> Callable[[str], str]:
    """What discovery tells clients: the configured public target, else the bound host and port."""
    if settings.grpc_public_target:
        return lambda _request_host: settings.grpc_public_target
    bound_host = settings.grpc_addr.rpartition(":")[0]
    wildcard = bound_host in ("0.0.0.0", "[::]", "::")

    def target(request_host: str) -> str:
        host = request_host if wildcard else bound_host
        return f"{host}:{grpc_port}"

    return target
