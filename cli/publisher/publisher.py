"""SignalPublisher: numbered batches streamed to the marketplace, kept until acknowledged, resent after
a reconnect; a heartbeat keeps the deployment live (see the package's docstring for the whole story)."""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from mlmp_cli.publisher.retry import RETRYABLE, Backoff
from mlmp_cli.publisher.signals import to_signal
from mlmp_cli.publisher.token_pipe import listen_for_tokens, wake_reader
from mlmp_marketplace.v1 import deployments_pb2, deployments_pb2_grpc, signals_pb2, signals_pb2_grpc

log = logging.getLogger("mp.publisher")
HEARTBEAT = 15.0


class PublisherStopped(RuntimeError):
    """The server refused for good (revoked token, deleted or stopped deployment, a batch it cannot
    take, a server error that retrying would repeat); what was not acknowledged is not stored."""


@dataclass
class Totals:
    accepted: int = 0
    rejected: int = 0
    duplicates: int = 0
    reconnects: int = 0
    last_rejections: list[signals_pb2.SignalRejection] = field(default_factory=list)


TOKEN_RENEWAL_WAIT = 10.0


class SignalPublisher:
    def __init__(
        self,
        target: str,
        token: str,
        *,
        batch_size: int = 1000,
        linger: float = 0.05,
        secure: bool = False,
        heartbeat: float = HEARTBEAT,
        model_version: str = "",
        on_ack: Callable[[signals_pb2.SignalAck], None] | None = None,
        token_pipe: Path | None = None,
    ) -> None:
        self._home = target  # the marketplace: heartbeats and signals go here, and nowhere else
        self._metadata = (("authorization", f"Bearer {token}"),)
        # A named pipe through which `mp deployments rotate-token` hands a server that `mp deploy`
        # started its new token (never written to a file): a refused token is then replaced, not fatal.
        self._token_pipe = token_pipe
        self._batch_size, self._linger, self._secure = batch_size, linger, secure
        self._heartbeat_every, self._model_version, self._on_ack = heartbeat, model_version, on_ack
        self._lock = threading.Condition()
        self._pending: list[signals_pb2.Signal] = []
        self._unacked: OrderedDict[int, signals_pb2.SignalBatch] = OrderedDict()
        self.publisher_id = secrets.token_hex(16)  # this instance's own numbering of batches
        self._next_sequence = 1
        self._not_before = 0.0  # the server's slow_down
        self._stop = threading.Event()
        self._failure: BaseException | None = None
        self._failure_message = ""
        self.totals = Totals()
        self._threads = [
            threading.Thread(target=self._send_loop, name="mp-publisher", daemon=True),
            threading.Thread(target=self._heartbeat_loop, name="mp-heartbeat", daemon=True),
        ]
        if token_pipe is not None:
            self._threads.append(threading.Thread(
                target=listen_for_tokens, args=(token_pipe, self._stop, self._use_token), name="mp-token", daemon=True
            ))  # fmt: skip
        self._home_channel = self._channel(target)
        self._beat = threading.Event()
        for thread in self._threads:
            thread.start()

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **options: Any) -> SignalPublisher:
        env = os.environ if environ is None else environ
        token = env.get("MP_DEPLOYMENT_TOKEN", "")
        target = env.get("MP_GRPC_TARGET", "")
        pipe = Path(env["MP_DEPLOYMENT_TOKEN_PIPE"]) if env.get("MP_DEPLOYMENT_TOKEN_PIPE") else None
        if not token or not target:
            raise RuntimeError("MP_DEPLOYMENT_TOKEN and MP_GRPC_TARGET must be set (mp deploy sets both)")
        return cls(target, token, secure=env.get("MP_GRPC_SECURE") == "1", token_pipe=pipe, **options)

    @property
    def target(self) -> str:
        """The marketplace this publisher sends to (MP_GRPC_TARGET)."""
        return self._home

    @property
    def secure(self) -> bool:
        return self._secure

    def metadata(self) -> tuple[tuple[str, str], ...]:
        """The authorization metadata with the current token (a renewed one once `mp deployments rotate-token`
        handed it over): what a feature stream of the same deployment reconnects with."""
        with self._lock:
            return self._metadata

    def _channel(self, target: str, secure: bool | None = None) -> grpc.Channel:
        if secure if secure is not None else self._secure:
            return grpc.secure_channel(target, grpc.ssl_channel_credentials())
        return grpc.insecure_channel(target)

    # -- the model's side -------------------------------------------------------------------------

    def publish(self, *signals: signals_pb2.Signal | dict[str, Any]) -> None:
        converted = [to_signal(item) for item in signals]
        with self._lock:
            self._raise_if_failed()
            self._pending.extend(converted)
            self._lock.notify_all()

    def flush(self, timeout: float = 60.0) -> bool:
        """Waits until everything published so far is stored (or rejected one by one); False on timeout.
        Raises PublisherStopped when the server refused for good."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._pending or self._unacked:
                self._raise_if_failed()
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._lock.wait(min(left, 0.1))
            return True

    def close(self, timeout: float = 10.0) -> None:
        """Flushes what it can within `timeout`, then stops; what is still unacknowledged is lost with the
        process, so a model that must not lose signals checks flush() first."""
        try:
            self.flush(timeout)
        except PublisherStopped:
            pass  # already reported by publish()/flush(); closing must still release everything
        finally:
            self._stop.set()
            with self._lock:
                self._lock.notify_all()
            if self._token_pipe is not None:
                wake_reader(self._token_pipe)
            for thread in self._threads:
                thread.join(timeout)
            self._home_channel.close()

    def _raise_if_failed(self) -> None:
        if self._failure is not None:
            raise PublisherStopped(self._failure_message) from self._failure

    # -- heartbeat ----------------------------------------------------------------------------------

    def _heartbeat_loop(self) -> None:
        stub = deployments_pb2_grpc.DeploymentServiceStub(self._home_channel)
        backoff = Backoff()
        while not self._stop.is_set():
            metadata = self._metadata
            try:
                stub.DeploymentHeartbeat(
                    deployments_pb2.DeploymentHeartbeatRequest(model_version=self._model_version),
                    metadata=metadata, timeout=10,
                )  # fmt: skip
            except grpc.RpcError as error:
                if error.code() not in RETRYABLE and not self._token_renewed(error, metadata):
                    self._fail(error)
                    return
                backoff.wait(self._stop)
                continue
            backoff.reset()
            self._beat.set()
            self._stop.wait(self._heartbeat_every)

    def _token_renewed(self, error: grpc.RpcError, refused: tuple) -> bool:
        """On a refused token, waits a little for a new one from the token pipe (rotate-token sends it
        right after the server revoked the old one); True when the publisher now holds it."""
        if error.code() != grpc.StatusCode.UNAUTHENTICATED or self._token_pipe is None:
            return False
        deadline = time.monotonic() + TOKEN_RENEWAL_WAIT
        with self._lock:
            while self._metadata == refused and not self._stop.is_set() and time.monotonic() < deadline:
                self._lock.wait(0.1)
            return self._metadata != refused

    def _use_token(self, token: str) -> None:
        with self._lock:
            self._metadata = (("authorization", f"Bearer {token}"),)
            self._lock.notify_all()

    def _fail(self, error: BaseException) -> None:
        if isinstance(error, grpc.RpcError):
            reason = f"{error.code().name}: {error.details()}"
        else:
            reason = str(error)
        with self._lock:
            lost = len(self._pending) + sum(len(batch.signals) for batch in self._unacked.values())
            self._failure_message = (
                f"the marketplace refused this publisher ({reason}); "
                f"{lost} signal{' was' if lost == 1 else 's were'} not stored"
            )
            self._failure = error
            self._lock.notify_all()
        log.error("%s", self._failure_message)
        self._stop.set()

    # -- sending -------------------------------------------------------------------------------------

    def _next_batch(self) -> signals_pb2.SignalBatch | None:
        """Cuts the next batch once the pending signals fill one or have lingered; None when stopping.
        Holds back while the server asked to slow down."""
        with self._lock:
            first_wait = None
            while not self._stop.is_set():
                now = time.monotonic()
                ready = self._pending and now >= self._not_before
                if ready:
                    first_wait = first_wait or now
                    if len(self._pending) >= self._batch_size or now - first_wait >= self._linger:
                        signals, self._pending = self._pending[: self._batch_size], self._pending[self._batch_size :]
                        batch = signals_pb2.SignalBatch(
                            sequence=self._next_sequence, signals=signals, publisher_id=self.publisher_id
                        )
                        self._next_sequence += 1
                        self._unacked[batch.sequence] = batch
                        return batch
                self._lock.wait(max(0.001, min(self._linger, self._not_before - now) if ready else 0.1))
            return None

    def _send_loop(self) -> None:
        backoff = Backoff()
        while not self._stop.is_set():
            metadata = self._metadata
            try:
                self._send_grpc(backoff, metadata)
            except grpc.RpcError as error:
                if error.code() not in RETRYABLE and not self._token_renewed(error, metadata):
                    self._fail(error)
                    return
                log.warning("signal stream interrupted (%s); reconnecting", error.code().name)
            self.totals.reconnects += 1
            backoff.wait(self._stop)

    def _resend_then_new(self) -> Iterator[signals_pb2.SignalBatch]:
        with self._lock:
            waiting = list(self._unacked.values())
        yield from waiting  # unacknowledged batches first, in order
        while (batch := self._next_batch()) is not None:
            yield batch

    def _send_grpc(self, backoff: Backoff, metadata: tuple) -> None:
        stub = signals_pb2_grpc.SignalServiceStub(self._home_channel)
        for ack in stub.StreamSignals(self._resend_then_new(), metadata=metadata):
            backoff.reset()
            self._acknowledged(
                ack.sequence,
                ack.committed_sequence,
                ack.accepted,
                ack.rejections,
                ack.duplicate,
                ack.slow_down.ToNanoseconds() / 1e9 if ack.HasField("slow_down") else 0.0,
            )
            if self._on_ack:
                self._on_ack(ack)

    def _acknowledged(self, sequence, committed, accepted, rejections, duplicate, slow_down) -> None:
        with self._lock:
            for done in [s for s in self._unacked if s <= max(sequence, committed)]:
                del self._unacked[done]
            self.totals.accepted += accepted if not duplicate else 0
            self.totals.duplicates += int(duplicate)
            self.totals.rejected += len(rejections)
            if rejections:
                self.totals.last_rejections = list(rejections)
                log.warning("batch %d: %d signals rejected, e.g. %s", sequence, len(rejections), rejections[0].reason)
            if slow_down:
                self._not_before = time.monotonic() + slow_down
            self._lock.notify_all()
