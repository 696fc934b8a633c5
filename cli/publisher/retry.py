"""When the publisher tries again, and how long it waits first."""

from __future__ import annotations

import random
import threading

import grpc

# What can succeed when sent again: the server busy or away, a broken connection (CANCELLED: the stream
# was reset under us; the publisher never cancels its own calls while running), an aborted transaction.
# Anything else (INVALID_ARGUMENT, PERMISSION_DENIED, UNAUTHENTICATED, FAILED_PRECONDITION, INTERNAL, …)
# would be refused again forever: it stops the publisher, and publish()/flush() raise PublisherStopped.
RETRYABLE = {
    grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.ABORTED, grpc.StatusCode.CANCELLED,
}  # fmt: skip


class Backoff:
    def __init__(self, first: float = 0.1, ceiling: float = 5.0) -> None:
        self._first, self._ceiling, self._next = first, ceiling, first

    def wait(self, stop: threading.Event) -> None:
        stop.wait(self._next * random.uniform(0.5, 1.0))  # jitter: replicas do not retry in step
        self._next = min(self._ceiling, self._next * 2)

    def reset(self) -> None:
        self._next = self._first
