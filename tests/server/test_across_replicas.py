"""Two replicas (in-process servers) on one PostgreSQL database: what one does reaches the other through the
notification bus — revocations end cached answers and open streams, round and catalog answers refresh.

Both run on one frozen clock, so no cache ever expires by itself: whatever refreshes on B came from A's
notification (without it, B would keep its answers for their TTL, 60 s for introspection).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import grpc
import psycopg
import pytest

from mlmp_marketplace.v1 import (
    auth_pb2,
    auth_pb2_grpc,
    catalog_pb2,
    catalog_pb2_grpc,
    datasets_pb2,
    datasets_pb2_grpc,
    deployments_pb2,
    deployments_pb2_grpc,
    signals_pb2,
    signals_pb2_grpc,
)
from mlmp_server.core.buckets import RateLimit
from mlmp_server.core.clock import ManualClock
from mlmp_server.db.engine import create_engine, migrate
from mlmp_server.db.notifications import APPLICATION_NAME, libpq_url
from mlmp_server.settings import Settings, normalise_database_url
from tests.helpers.auth import bearer, create_vendor_token
from tests.helpers.market import batch, signal
from tests.helpers.postgres import fresh_database
from tests.helpers.rounds import publish_request
from tests.helpers.server_thread import ServerThread

pytestmark = pytest.mark.postgres
log = logging.getLogger(__name__)

WAIT = 10.0  # seconds a test waits for news to arrive: far below the 60 s a cached answer would live
SCOPES = ("signals:read", "catalog:read", "data:read")
# Buckets refill from the clock, which stands still here: room for every poll of a test.
UNLIMITED = RateLimit(per_second=1.0, burst=1_000_000.0)


@dataclass
class Replica:
    server: ServerThread
    channel: grpc.Channel

    @property
    def auth(self) -> auth_pb2_grpc.AuthServiceStub:
        return auth_pb2_grpc.AuthServiceStub(self.channel)

    @property
    def signals(self) -> signals_pb2_grpc.SignalServiceStub:
        return signals_pb2_grpc.SignalServiceStub(self.channel)

    @property
    def catalog(self) -> catalog_pb2_grpc.CatalogServiceStub:
        return catalog_pb2_grpc.CatalogServiceStub(self.channel)

    @property
    def datasets(self) -> datasets_pb2_grpc.DatasetServiceStub:
        return datasets_pb2_grpc.DatasetServiceStub(self.channel)


def migrated(url: str) -> None:
    async def run() -> None:
        engine = create_engine(url)
        try:
            await migrate(engine)
        finally:
            await engine.dispose()

    asyncio.run(run())


@pytest.fixture
def replicas(postgres_admin_url: str, tmp_path: Path) -> Iterator[tuple[Replica, Replica]]:
    """A and B on one database, sharing a secret key (as replicas do) and a frozen clock."""
    with fresh_database(postgres_admin_url) as admin_url:
        url = normalise_database_url(admin_url)
        migrated(url)
        clock = ManualClock(time.time())
        settings = Settings(
            data_dir=tmp_path / "a",
            database_url=url,
            secret_key=b"s" * 32,
            log_level="INFO",
            demo_round=False,
            rate_limits=dict.fromkeys(("read", "write", "signal_ingest"), UNLIMITED),
        )
        started: list[ServerThread] = []
        channels: list[grpc.Channel] = []
        try:
            for name in ("a", "b"):
                started.append(ServerThread(replace(settings, data_dir=tmp_path / name), clock).start())
                channels.append(grpc.insecure_channel(started[-1].grpc_target))
            yield Replica(started[0], channels[0]), Replica(started[1], channels[1])
        finally:
            for channel in channels:
                channel.close()
            for server in started:
                server.stop()


def waited_for(condition: Callable[[], bool]) -> float:
    """Seconds until condition() held (polled); fails after WAIT."""
    start = time.monotonic()
    while not condition():
        assert time.monotonic() - start < WAIT, f"not so {WAIT:.0f} s later"
        time.sleep(0.01)
    return time.monotonic() - start


def refused(call: Callable[[], object]) -> bool:
    try:
        call()
    except grpc.RpcError as error:
        code, details = error.code(), error.details()
    else:
        return False
    assert code == grpc.StatusCode.UNAUTHENTICATED, details
    return True


def subscribed(replica: Replica, metadata) -> grpc.Future:
    call = replica.signals.SubscribeSignals(signals_pb2.SubscribeSignalsRequest(), metadata=metadata, timeout=30)
    call.initial_metadata()
    return call


def assert_ended_unauthenticated(call, says: str) -> None:
    waited_for(call.done)
    assert call.code() == grpc.StatusCode.UNAUTHENTICATED, call.details()
    assert says in call.details()


def test_a_token_revoked_on_one_replica_is_refused_on_the_other_and_its_stream_there_ends(replicas):
    a, b = replicas
    admin = bearer(a.server.admin_token)
    vendor = create_vendor_token(a.auth, admin, scopes=SCOPES)
    acme = bearer(vendor.secret)

    def list_on_b() -> object:
        return b.signals.ListSignals(signals_pb2.ListSignalsRequest(), metadata=acme)

    list_on_b()  # B now holds the token's introspection answer
    stream = subscribed(b, acme)
    a.auth.RevokeApiToken(auth_pb2.RevokeApiTokenRequest(token_id=vendor.token.id), metadata=admin)
    log.info("revoked on A, refused on B after %.3f s", waited_for(lambda: refused(list_on_b)))
    assert_ended_unauthenticated(stream, "the token this stream used was revoked")


def test_a_vendor_suspended_on_one_replica_is_refused_on_the_other_and_leaves_its_catalog(replicas):
    a, b = replicas
    admin = bearer(a.server.admin_token)
    acme = bearer(create_vendor_token(a.auth, admin, scopes=SCOPES).secret)
    reader = bearer(create_vendor_token(a.auth, admin, slug="other", scopes=SCOPES).secret)

    def listed_on_b() -> list[str]:
        page = b.catalog.ListCatalog(catalog_pb2.ListCatalogRequest(), metadata=reader)
        return [entry.vendor.slug for entry in page.entries]

    def list_on_b() -> object:
        return b.signals.ListSignals(signals_pb2.ListSignalsRequest(), metadata=acme)

    assert "acme" in listed_on_b()  # B keeps this answer: its clock does not move
    list_on_b()
    stream = subscribed(b, acme)
    a.auth.SuspendVendor(auth_pb2.SuspendVendorRequest(vendor="acme"), metadata=admin)
    log.info("suspended on A, refused on B after %.3f s", waited_for(lambda: refused(list_on_b)))
    assert_ended_unauthenticated(stream, "was suspended by an operator")
    waited_for(lambda: "acme" not in listed_on_b())


def test_a_round_published_on_one_replica_is_current_on_the_other_at_once(replicas):
    a, b = replicas
    admin = bearer(a.server.admin_token)
    reader = bearer(create_vendor_token(a.auth, admin, scopes=SCOPES).secret)

    def current_on_b() -> int:
        return b.datasets.GetCurrentRound(datasets_pb2.GetCurrentRoundRequest(), metadata=reader).number

    a.datasets.PublishRound(publish_request({"train": b"x"}), metadata=admin)
    assert current_on_b() == 1  # B's snapshot now holds round 1, and its clock does not move
    a.datasets.PublishRound(publish_request({"train": b"y"}), metadata=admin)
    log.info("published on A, current on B after %.3f s", waited_for(lambda: current_on_b() == 2))


def test_a_revocation_missed_while_not_listening_is_caught_up_when_listening_again(replicas):
    a, b = replicas
    admin = bearer(a.server.admin_token)
    vendor = create_vendor_token(a.auth, admin, scopes=SCOPES)
    acme = bearer(vendor.secret)

    def list_on_b() -> object:
        return b.signals.ListSignals(signals_pb2.ListSignalsRequest(), metadata=acme)

    list_on_b()
    stream = subscribed(b, acme)
    with psycopg.connect(libpq_url(b.server.settings.database_url), autocommit=True) as conn:
        # Revoked with no notification at all: as if it was sent while B's listener was away.
        conn.execute("UPDATE api_tokens SET revoked_at = now() WHERE id = %s", [vendor.token.id])
        assert not refused(list_on_b)  # B still holds its answer
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND application_name = %s",
            [APPLICATION_NAME],
        )
    assert_ended_unauthenticated(stream, "the token this stream used is no longer valid")
    assert refused(list_on_b)


def test_a_deployment_deleted_on_one_replica_ends_its_signal_stream_on_the_other(replicas):
    a, b = replicas
    admin = bearer(a.server.admin_token)
    a.datasets.PublishRound(publish_request({"train": b"x"}, symbols=["AAA"]), metadata=admin)
    acme = bearer(create_vendor_token(a.auth, admin, scopes=("deploy:write",)).secret)
    deployments = deployments_pb2_grpc.DeploymentServiceStub(a.channel)
    deployed = deployments.CreateDeployment(deployments_pb2.CreateDeploymentRequest(provider="local"), metadata=acme)
    outbox: queue.Queue = queue.Queue()

    def batches() -> Iterator[signals_pb2.SignalBatch]:
        while (message := outbox.get(timeout=20)) is not None:
            yield message

    stream = b.signals.StreamSignals(batches(), metadata=bearer(deployed.token), timeout=30)
    try:
        outbox.put(batch(1, signal("AAA")))
        assert next(stream).sequence == 1  # B let the deployment's token in
        deployments.DeleteDeployment(
            deployments_pb2.DeleteDeploymentRequest(deployment_id=deployed.deployment.id), metadata=acme
        )
        assert_ended_unauthenticated(stream, f"the deployment {deployed.deployment.id} was deleted")
    finally:
        outbox.put(None)
