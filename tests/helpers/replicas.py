"""N `mp-server` replicas as an operator runs them: real processes (the CLI entry point) in replica mode on one fresh
PostgreSQL database (migrated once, with `mp-server migrate`), a Redis key prefix of their own (deleted at the end)
and a moto S3 server, each replica with its own data dir and ports; round-robin TCP proxies give a test one gRPC and
one HTTP address in front of them all. A replica can be SIGKILLed and restarted on its ports.

    with replica_set(3, tmp_path, postgres_admin_url, redis_url) as replicas:
        replicas.http_proxy.url, replicas[1].grpc_target, replicas.admin_token, replicas.kill(0), …

A proxy picks the backend per connection (as an L4 load balancer does): one gRPC channel stays on one replica,
an HTTP client spreads its calls only when it opens a connection per call.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import signal
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from mlmp_server.settings import normalise_database_url
from tests.helpers.postgres import fresh_database
from tests.helpers.processes import ServerProcess, clean_env, run
from tests.helpers.redis_server import redis_prefix

S3_KEY = "test"  # moto takes any credentials


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def moto_s3() -> Iterator[str]:
    """moto's S3 server on a free local port (in this process, on a thread); yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def s3_client(endpoint: str):
    import boto3

    return boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=S3_KEY, aws_secret_access_key=S3_KEY
    )


class RoundRobinProxy:
    """A TCP proxy on a free local port, on a thread of its own: each accepted connection goes to the next
    backend of `backends()` (read at each connection, so a restarted replica is back in turn); a backend that
    refuses the connection is skipped, as a load balancer's health check would."""

    def __init__(self, backends: Callable[[], Sequence[int]]) -> None:
        self._backends = backends
        self._turn = 0
        self.port = 0
        self.connections: Counter[int] = Counter()  # backend port → connections it was given
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True, name="round-robin-proxy")
        self._server: asyncio.base_events.Server | None = None
        self._open: set[asyncio.Task] = set()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> RoundRobinProxy:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._accepted, "127.0.0.1", 0), self._loop
        ).result(10)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        async def close() -> None:
            assert self._server is not None
            self._server.close()
            for task in list(self._open):
                task.cancel()
            await asyncio.gather(*self._open, return_exceptions=True)

        if self._thread.is_alive():
            if self._server is not None:
                asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        self._loop.close()

    async def _accepted(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._open.add(task)
        try:
            upstream = await self._connect()
            if upstream is None:
                return
            up_reader, up_writer = upstream
            try:
                await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
            finally:
                up_writer.close()
        except asyncio.CancelledError:
            pass
        finally:
            writer.close()
            self._open.discard(task)

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        ports = list(self._backends())
        for _ in range(len(ports)):
            port = ports[self._turn % len(ports)]
            self._turn += 1
            try:
                connection = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                continue
            self.connections[port] += 1
            return connection
        return None


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()  # half-close: the other direction may still be talking
    except (ConnectionError, OSError):
        writer.close()


def wait_until_ready(api_url: str, timeout: float = 30) -> None:
    """Until /readyz answers 200 (the database, the schema and Redis answer)."""
    import httpx

    deadline = time.monotonic() + timeout
    while True:
        answer = httpx.get(f"{api_url}/readyz", timeout=5)
        if answer.status_code == 200:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{api_url} is not ready: {answer.text}")
        time.sleep(0.1)


@dataclass
class Replica:
    index: int
    data_dir: Path
    env: dict[str, str]
    process: ServerProcess | None = None
    grpc_port: int = 0
    http_port: int = 0

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.process.poll() is None

    def output(self) -> str:
        return self.process.output() if self.process else ""


@dataclass
class ReplicaSet:
    """The replicas, their shared parts and the proxies in front; `start()` brings them all up."""

    root: Path
    database_url: str
    redis_url: str
    redis_prefix: str
    s3_endpoint: str
    bucket: str
    count: int = 3
    extra_env: dict[str, str] = field(default_factory=dict)
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(48))
    replicas: list[Replica] = field(default_factory=list)
    admin_token: str = ""
    grpc_proxy: RoundRobinProxy = field(init=False)
    http_proxy: RoundRobinProxy = field(init=False)

    def __post_init__(self) -> None:
        self.grpc_proxy = RoundRobinProxy(lambda: [r.grpc_port for r in self.replicas if r.grpc_port])
        self.http_proxy = RoundRobinProxy(lambda: [r.http_port for r in self.replicas if r.http_port])

    def __getitem__(self, index: int) -> Replica:
        return self.replicas[index]

    def __len__(self) -> int:
        return len(self.replicas)

    def shared_env(self) -> dict[str, str]:
        """What every replica (and `mp-server migrate`, `create-admin-token`) runs with."""
        return (
            clean_env(
                MP_MODE="replica",
                MP_DATABASE_URL=self.database_url,
                MP_REDIS_URL=self.redis_url,
                MP_REDIS_PREFIX=self.redis_prefix,
                MP_S3_BUCKET=self.bucket,
                MP_S3_ENDPOINT=self.s3_endpoint,
                MP_S3_ACCESS_KEY_ID=S3_KEY,
                MP_S3_SECRET_ACCESS_KEY=S3_KEY,
                MP_SECRET_KEY=self.secret_key,
                MP_DEMO_ROUND="false",  # tests publish what they need; replicas starting together is `events`' test
                MP_DRAIN_DELAY="0s",  # no balancer to tell (the proxies skip a replica that refuses connections)
                MP_GRPC_PUBLIC_TARGET=self.grpc_proxy.address,
                MP_PUBLIC_URL=self.http_proxy.url,
            )
            | self.extra_env
        )

    def start(self) -> ReplicaSet:
        self.grpc_proxy.start()
        self.http_proxy.start()
        env = {**self.shared_env(), "MP_DATA_DIR": str(self.root / "migrate")}
        migrated = run("mp-server", "migrate", env=env)
        assert migrated.returncode == 0, migrated.stdout + migrated.stderr
        issued = run("mp-server", "create-admin-token", "--name", "replica tests", env=env)
        assert issued.returncode == 0, issued.stdout + issued.stderr
        token = re.search(r"\b(mpat_\w+)", issued.stdout)
        assert token, issued.stdout
        self.admin_token = token.group(1)
        self.replicas = []
        for index in range(self.count):
            data_dir = self.root / f"replica-{index}"
            self.replicas.append(Replica(index, data_dir, {**self.shared_env(), "MP_DATA_DIR": str(data_dir)}))
        with ThreadPoolExecutor(self.count) as pool:
            list(pool.map(self._start_one, self.replicas))
        return self

    def _start_one(self, replica: Replica) -> None:
        grpc_addr = f"127.0.0.1:{replica.grpc_port}"  # port 0 the first time: a free one
        http_addr = f"127.0.0.1:{replica.http_port}"
        replica.process = ServerProcess({**replica.env, "MP_GRPC_ADDR": grpc_addr, "MP_HTTP_ADDR": http_addr})
        replica.grpc_port, replica.http_port = replica.process.grpc_port, replica.process.http_port
        wait_until_ready(replica.api_url)

    def kill(self, index: int) -> None:
        """SIGKILL: no drain, no goodbye, as when a machine dies."""
        process = self.replicas[index].process
        assert process is not None
        process.process.send_signal(signal.SIGKILL)
        process.stop()

    def restart(self, index: int) -> Replica:
        """The replica started again on its own ports (after kill() or stop_one())."""
        replica = self.replicas[index]
        if replica.running:
            self.stop_one(index)
        self._start_one(replica)
        return replica

    def stop_one(self, index: int) -> int:
        """SIGTERM and wait: the replica drains; returns its exit code."""
        process = self.replicas[index].process
        assert process is not None
        return process.stop()

    def stop(self) -> None:
        running = [r for r in self.replicas if r.process is not None]
        with ThreadPoolExecutor(max(1, len(running))) as pool:
            list(pool.map(lambda r: r.process.stop(), running))
        self.grpc_proxy.stop()
        self.http_proxy.stop()


@contextlib.contextmanager
def replica_set(
    count: int, root: Path, postgres_admin_url: str, redis_url: str, **extra_env: str
) -> Iterator[ReplicaSet]:
    """`count` replicas on a fresh PostgreSQL database, a fresh Redis prefix and a fresh bucket of a moto S3 server;
    everything stopped and removed at the end."""
    with (
        fresh_database(postgres_admin_url) as database,
        redis_prefix(redis_url) as prefix,
        moto_s3() as endpoint,
    ):
        bucket = f"mp-replicas-{uuid.uuid4().hex[:12]}"
        s3_client(endpoint).create_bucket(Bucket=bucket)
        replicas = ReplicaSet(
            root=root,
            database_url=normalise_database_url(database),
            redis_url=redis_url,
            redis_prefix=prefix,
            s3_endpoint=endpoint,
            bucket=bucket,
            count=count,
            extra_env=extra_env,
        )
        try:
            replicas.start()
            yield replicas
        finally:
            replicas.stop()
