"""Process plumbing for mp-server: listening sockets, the HTTP server, SIGTERM/SIGINT, the last-resort
exit, and the gRPC target discovery hands out."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import threading
from collections.abc import Callable, Iterator

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


class _Server(uvicorn.Server):
    """uvicorn's server without its own SIGTERM/SIGINT handlers: mp-server's stop event (stop_on_signals) says
    when HTTP stops. uvicorn's would stop it at the signal, so /readyz could never answer 503 while draining."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def uvicorn_server(app: object, grace: float) -> uvicorn.Server:
    return _Server(
        uvicorn.Config(
            app,  # type: ignore[arg-type]
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
