"""The streams open in this process, so they can be ended from outside the call: the server
streams at shutdown, and any standing on a token, vendor, deployment or run that was revoked."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from mlmp_server.core.clock import Clock, system_clock
from mlmp_server.core.errors import DomainError, Unauthenticated
from mlmp_server.core.principal import CallPrincipal, Principal


@dataclass(eq=False)
class OpenStream:
    method: str
    caller: CallPrincipal
    task: asyncio.Task | None = field(default_factory=asyncio.current_task)
    ending: DomainError | None = None  # why it was ended from outside; the client gets this status
    # True while gRPC writes a message this stream yielded: a cancellation delivered then would land
    # inside gRPC's own send and end the call without a status, so ending waits for the write.
    writing: bool = False
    expiry: asyncio.TimerHandle | None = None  # ends the stream when its token expires
    # A client stream's call is a unit of work (server/core/completion.py): its task is set only while it
    # waits for the client's next message, where a cancellation is as safe as the client's own.
    client_stream: bool = False

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
    def __init__(self, clock: Clock = system_clock) -> None:
        self._open: set[OpenStream] = set()
        self._clock = clock

    def __len__(self) -> int:
        return len(self._open)

    def open(self, method: str, caller: CallPrincipal, *, client_stream: bool = False) -> OpenStream:
        task = None if client_stream else asyncio.current_task()
        stream = OpenStream(method, caller, task, client_stream=client_stream)
        self._open.add(stream)
        return stream

    def admitted(self, stream: OpenStream) -> None:
        """The checks let the stream in, so its caller is known: it ends when the caller's token expires."""
        principal = stream.principal
        if principal is None or principal.expires_at is None:
            return
        # One timer per stream rather than a sweep: nothing runs until a token actually expires.
        stream.expiry = asyncio.get_running_loop().call_later(
            max(0.0, principal.expires_at - self._clock()),
            stream.end,
            Unauthenticated("the token this stream used expired; reconnect with a current token"),
        )

    def close(self, stream: OpenStream) -> None:
        self._open.discard(stream)
        if stream.expiry is not None:
            stream.expiry.cancel()

    def principals(self) -> list[Principal]:
        """Who the open streams stand on (known once their checks let them in)."""
        return [stream.principal for stream in self._open if stream.principal is not None]

    def end_where(self, standing_on: Callable[[Principal], bool], error: DomainError) -> int:
        """Ends the streams whose caller matches; returns how many."""
        ended = [s for s in self._open if s.principal is not None and standing_on(s.principal)]
        for stream in ended:
            stream.end(error)
        return len(ended)

    def end_all(self, error: DomainError) -> int:
        """Ends the server streams (at shutdown); client streams (uploads) finish in the grace period
        as unary calls do."""
        streams = [stream for stream in self._open if not stream.client_stream]
        for stream in streams:
            stream.end(error)
        return len(streams)
