"""Reading a SubscribeSignals call in a thread, as a test needs it: the ids of each message."""

from __future__ import annotations

import threading
import time

import grpc


class Reader:
    """Reads a subscription in a thread: every message's signal ids, until cancelled."""

    def __init__(self, call) -> None:
        self.call = call
        self.messages: list[list[int]] = []
        self.error: grpc.RpcError | None = None
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            for message in self.call:
                self.messages.append([int(s.id) for s in message.signals])
        except grpc.RpcError as error:
            self.error = error

    @property
    def ids(self) -> list[int]:
        return [one for message in list(self.messages) for one in message]

    def until(self, count: int, seconds: float = 20) -> list[int]:
        deadline = time.monotonic() + seconds
        while len(self.ids) < count and time.monotonic() < deadline and self._thread.is_alive():
            time.sleep(0.05)
        return self.ids

    def stop(self) -> None:
        self.call.cancel()
        self._thread.join(10)
