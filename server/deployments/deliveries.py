"""Deliveries: the marketplace POSTs each deployment's stored signals to the destinations linked to it.

Deliveries are signed as webhooks are (X-MP-Signature: t=UNIX,v1=hex HMAC-SHA256(secret, t + "." + body)),
retried with exponential back-off until the destination answers 2xx, in order per destination, at least
once: a retry carries the same signals under the same X-MP-Delivery-Id, so the receiver de-duplicates on
it. The position per destination is in the database, so a restarted server resumes where it stopped.
Signals are stored whatever a destination does; the deployment's token never leaves the marketplace.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from google.protobuf import json_format
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mlmp_marketplace.v1 import deployments_pb2
from mlmp_server.core.clock import Clock, to_datetime
from mlmp_server.core.errors import FailedPrecondition, InvalidArgument
from mlmp_server.core.ids import new_id
from mlmp_server.core.redaction import redact
from mlmp_server.db.models import SignalDestination
from mlmp_server.deployments import store
from mlmp_server.signals.ingest import stored_signal_proto

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("mp.deliveries")
SECRET_PREFIX = "mpws"
FAILING_AFTER = 5  # failed attempts in a row before a destination shows as failing
MAX_URL = 2000
MAX_DESTINATIONS = 10  # per deployment


@dataclass(frozen=True)
class DeliveryPolicy:
    batch_size: int = 500  # signals per delivery
    first_retry: float = 1.0  # seconds; doubles with each failed attempt
    max_retry: float = 300.0
    timeout: float = 10.0  # per attempt
    lease: float = 60.0  # longer than an attempt: a crashed worker's destination is taken over after it
    poll: float = 0.5  # how often the worker looks for new signals
    concurrency: int = 16  # destinations delivered at once
    # Off in production: a vendor's URL must not reach the marketplace's own network (or cloud metadata).
    to_private_addresses: bool = False


def check_url(url: str) -> str:
    url = url.strip()
    if len(url) > MAX_URL:
        raise InvalidArgument(f"a destination URL has at most {MAX_URL} characters")
    try:
        parts = urlsplit(url)
        usable = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:  # e.g. an unclosed IPv6 bracket
        usable = False
    if not usable or any(ch.isspace() or ch < " " for ch in url):
        raise InvalidArgument(f"destination {url[:100]!r} is not an http(s) URL such as https://infra.example/signals")
    if parts.username or parts.password:
        raise InvalidArgument("put no credentials in a destination URL: verify the X-MP-Signature header instead")
    return url


async def link(session: AsyncSession, deployment_id: str, url: str, seed: bytes, now: datetime) -> SignalDestination:
    """Links `url` (again: a new secret seed, the same position) to the deployment."""
    url = check_url(url)
    linked = (await store.destinations_of(session, [deployment_id]))[deployment_id]
    if url not in {destination.url for destination in linked} and len(linked) >= MAX_DESTINATIONS:
        raise FailedPrecondition(
            f"deployment {deployment_id} already has {MAX_DESTINATIONS} destinations; remove one first "
            "(mp link-infra --remove URL)"
        )
    return await store.link_destination(session, deployment_id, url, seed, now)


def signing_key(seed_key: bytes) -> bytes:
    return hmac.digest(seed_key, b"marketplace delivery secret v1", "sha256")


def signing_secret(key: bytes, destination_id: str, seed: bytes) -> str:
    return f"{SECRET_PREFIX}_" + hmac.new(key, destination_id.encode() + b"\0" + seed, hashlib.sha256).hexdigest()


def new_seed() -> bytes:
    return secrets.token_bytes(32)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def state_of(destination: SignalDestination) -> str:
    if not destination.attempts:
        return "ok"
    return "failing" if destination.attempts >= FAILING_AFTER else "retrying"


def retry_delay(attempts: int, policy: DeliveryPolicy) -> float:
    return min(policy.max_retry, policy.first_retry * 2 ** min(attempts - 1, 30))


def delivery_id(destination_id: str, through: int) -> str:
    return f"{destination_id}.{through}"


def describe_failure(error: Exception | None, response: httpx.Response | None) -> str:
    """Short and safe to show: the status, or the kind of network failure, never a body or header."""
    import httpx

    if response is not None:
        return f"HTTP {response.status_code} {response.reason_phrase}".strip()[:100]
    if isinstance(error, httpx.TimeoutException | TimeoutError):
        return "timed out"
    if isinstance(error, httpx.ConnectError):
        return "connection refused or host unreachable"
    return redact(type(error).__name__)[:100]


async def non_public_address(url: str) -> str:
    """Why the marketplace refuses to POST to `url` ("" when every address it resolves to is public)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        found = await asyncio.get_running_loop().getaddrinfo(
            host, parts.port or (443 if parts.scheme == "https" else 80), type=socket.SOCK_STREAM
        )
    except OSError:
        return f"cannot resolve {host}"[:100]
    for *_, address in found:
        ip = ipaddress.ip_address(address[0])
        mapped = getattr(ip, "ipv4_mapped", None)
        if not (mapped or ip).is_global:
            return f"refused: {host} is not a public address"[:100]
    return ""


def delivery_body(destination: SignalDestination, rows) -> tuple[str, bytes]:
    through = rows[-1][0].id
    message = deployments_pb2.SignalDelivery(
        delivery_id=delivery_id(destination.id, through), deployment_id=destination.deployment_id,
        destination_id=destination.id, signals=[stored_signal_proto(signal, vendor) for signal, vendor in rows],
    )  # fmt: skip
    body = json.dumps(json_format.MessageToDict(message), separators=(",", ":")).encode()
    return message.delivery_id, body


class DeliveryWorker:
    """Delivers due destinations until stopped; one lease per destination keeps replicas apart."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        seed_key: bytes,
        clock: Clock,
        policy: DeliveryPolicy | None = None,
    ) -> None:
        self._sessions = sessions
        self._key = signing_key(seed_key)
        self._clock = clock
        self.policy = policy or DeliveryPolicy()
        self._owner = new_id("dlw")
        self._stop = asyncio.Event()
        self._running: dict[str, asyncio.Task[None]] = {}
        self._task: asyncio.Task[None] | None = None
        self._client: httpx.AsyncClient | None = None

    def _now(self) -> datetime:
        return to_datetime(self._clock())

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="mp-deliveries")

    async def stop(self, grace: float = 5.0) -> None:
        """Lets attempts in flight finish within `grace`, then releases this worker's leases."""
        self._stop.set()
        if self._task is not None:
            await self._task
        if self._running:
            _done, late = await asyncio.wait(list(self._running.values()), timeout=grace)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        try:
            async with self._sessions.begin() as session:
                await store.release_leases(session, self._owner)
        finally:
            if self._client is not None:
                await self._client.aclose()

    async def _run(self) -> None:
        while not self._stop.is_set():
            try:
                await self._start_due()
            except Exception:  # a database hiccup must not end deliveries for good
                log.exception("looking for due deliveries failed; trying again")
            try:
                await asyncio.wait_for(self._stop.wait(), self.policy.poll)
            except TimeoutError:
                pass

    async def _start_due(self) -> None:
        free = self.policy.concurrency - len(self._running)
        if free <= 0:
            return
        async with self._sessions() as session:
            found = await store.due_destinations(session, self._now(), free + len(self._running))
        for destination_id in found:
            if destination_id not in self._running and len(self._running) < self.policy.concurrency:
                task = asyncio.create_task(self._deliver(destination_id))
                self._running[destination_id] = task
                task.add_done_callback(partial(self._finished, destination_id))

    def _finished(self, destination_id: str, _task: asyncio.Task[None]) -> None:
        self._running.pop(destination_id, None)

    async def _deliver(self, destination_id: str) -> None:
        try:
            for _ in range(20):  # then give the next poll's destinations a turn
                if self._stop.is_set() or not await self._attempt(destination_id):
                    return
        except Exception:
            log.exception("delivery to destination %s failed unexpectedly", destination_id)
        finally:
            async with self._sessions.begin() as session:
                await store.release_leases(session, self._owner, [destination_id])

    async def _attempt(self, destination_id: str) -> bool:
        """One POST of the destination's next delivery; True when it succeeded and more may follow."""
        now = self._now()
        async with self._sessions.begin() as session:
            until = now + timedelta(seconds=self.policy.lease)
            destination = await store.take_lease(session, destination_id, self._owner, now, until)
            if destination is None:
                return False
            after = destination.delivered_through
            through = await store.claim_range(session, destination, self.policy.batch_size)
            if through is None:
                return False
            rows = await store.signals_between(session, destination.deployment_id, after, through)
            url, attempts, seed = destination.url, destination.attempts, destination.secret_seed
        if not rows:  # cannot happen while signals are never deleted; skip the empty range rather than stall
            error = ""
        else:
            error = await self._post(url, destination, rows, seed)
        now = self._now()
        retry_at = now + timedelta(seconds=retry_delay(attempts + 1, self.policy)) if error else None
        async with self._sessions.begin() as session:
            recorded = await store.record_attempt(
                session, destination_id, self._owner, through=through, error=error, now=now, retry_at=retry_at
            )
        if error:
            log.info("delivery to %s failed (%s); attempt %d, retrying", destination_id, error, attempts + 1)
        return recorded and not error

    async def _post(self, url: str, destination: SignalDestination, rows, seed: bytes) -> str:
        """'' when the destination answered 2xx, else why not."""
        delivery, body = await asyncio.to_thread(delivery_body, destination, rows)  # ~50 ms of CPU per 500 signals
        secret = signing_secret(self._key, destination.id, seed)
        headers = {
            "Content-Type": "application/json",
            "X-MP-Delivery-Id": delivery,
            "X-MP-Deployment-Id": destination.deployment_id,
            "X-MP-Signature": signature(secret, int(self._clock()), body),
        }
        if not self.policy.to_private_addresses and (refused := await non_public_address(url)):
            return refused
        import httpx

        if self._client is None:  # made on the first delivery: a server that delivers nothing never loads httpx
            self._client = httpx.AsyncClient(
                timeout=self.policy.timeout, follow_redirects=False, headers={"User-Agent": "mp-server deliveries"}
            )
        try:
            # One deadline for the whole attempt (httpx's applies per read), and the answer's body is never
            # read: a slow or huge answer cannot hold the lease or the memory.
            async with (
                asyncio.timeout(self.policy.timeout),
                self._client.stream("POST", url, content=body, headers=headers) as response,
            ):
                status = response.status_code
        except (httpx.HTTPError, TimeoutError) as error:
            return describe_failure(error, None)
        return "" if 200 <= status < 300 else describe_failure(None, response)
