"""A real mp-server in a background thread of the test process, on free ports."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import replace

from mlmp_server.app import Listening, serve
from mlmp_server.core.clock import Clock, system_clock
from mlmp_server.settings import Settings


class ServerThread:
    """Runs `serve()` on its own event loop in a thread, on free ports, until stop()."""

    def __init__(self, settings: Settings, clock: Clock = system_clock) -> None:
        self.settings = replace(settings, grpc_addr="127.0.0.1:0", http_addr="127.0.0.1:0")
        self._clock = clock
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self.listening: Listening | None = None
        self._thread = threading.Thread(target=self._run, daemon=True, name="mp-server")

    def _run(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            await serve(self.settings, on_ready=self._on_ready, stop=self._stop, clock=self._clock)

        try:
            asyncio.run(main())
        except BaseException as error:  # reported to the test thread
            self._error = error
            self._ready.set()

    def _on_ready(self, listening: Listening) -> None:
        self.listening = listening
        self._ready.set()

    def start(self) -> ServerThread:
        self._thread.start()
        if not self._ready.wait(30):
            raise TimeoutError("mp-server did not start within 30 s")
        if self._error is not None:
            raise self._error
        return self

    def run_in_loop(self, coroutine_factory: Callable[[], object], timeout: float = 10.0):
        """Runs a coroutine on the server's loop (to touch its platform) and returns its result."""
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coroutine_factory(), self._loop).result(timeout)  # type: ignore[arg-type]

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)

    @property
    def grpc_target(self) -> str:
        assert self.listening is not None
        return f"127.0.0.1:{self.listening.grpc_port}"

    @property
    def http_url(self) -> str:
        assert self.listening is not None
        return f"http://127.0.0.1:{self.listening.http_port}"

    @property
    def admin_token(self) -> str:
        assert self.listening is not None
        assert self.listening.admin_token is not None
        return self.listening.admin_token
