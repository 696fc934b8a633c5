"""The server streams open in this process, so they can be ended from outside the call: all of
them at shutdown, or those standing on a token, vendor, deployment or run that was revoked."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from interceptors.principal import CallPrincipal, Principal
from server.errors import DomainError


@dataclass(eq=False)
class OpenStream:
    method: str
    caller: CallPrincipal
    task: asyncio.Task | None = field(default_factory=asyncio.current_task)
    ending: DomainError | None = None  # why it was ended from outside; the client gets this status
    # True while gRPC writes a message this stream yielded: a cancellation delivered then would land
    # inside gRPC's own send and end the call without a status, so ending waits for the write.
    writing: bool = False

    @property
    def principal(self) -> Principal | None:
        return self.caller.principal

    def end(self, error: DomainError) -> None:
        if self.ending is not None:
            return
        self.ending = error
        if not self.writing and self.task is not None:
            self.task.cancel()


class OpenStreams:
    def __init__(self) -> None:
        self._open: set[OpenStream] = set()

    def __len__(self) -> int:
        return len(self._open)

    def open(self, method: str, caller: CallPrincipal) -> OpenStream:
        stream = OpenStream(method, caller)
        self._open.add(stream)
        return stream

    def close(self, stream: OpenStream) -> None:
        self._open.discard(stream)

    def end_where(self, standing_on: Callable[[Principal], bool], error: DomainError) -> int:
        """Ends the streams whose caller matches; returns how many."""
        ended = [s for s in self._open if s.principal is not None and standing_on(s.principal)]
        for stream in ended:
            stream.end(error)
        return len(ended)

    def end_all(self, error: DomainError) -> int:
        streams = list(self._open)
        for stream in streams:
            stream.end(error)
        return len(streams)
