"""Shared fixtures: settings, a fresh database per test (SQLite and PostgreSQL), a real server in a thread,
and what many tests stand on: a vendor, a market to deploy in, training runs to create."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from mlmp_marketplace.v1 import auth_pb2, auth_pb2_grpc, datasets_pb2_grpc, training_pb2_grpc
from mlmp_server.db.engine import create_engine, migrate
from mlmp_server.settings import Settings, default_database_url, normalise_database_url
from tests.helpers.auth import bearer, create_vendor_token
from tests.helpers.import_names import refuse_folder_names
from tests.helpers.market import SYMBOLS, Market
from tests.helpers.postgres import PostgresUnavailable, fresh_database, postgres_server
from tests.helpers.rounds import publish_request
from tests.helpers.server_thread import ServerThread

REQUIRE_POSTGRES = os.environ.get("MP_REQUIRE_POSTGRES") == "1"

refuse_folder_names()  # server/ imports as mlmp_server: no second copy under the folder's name


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    try:
        with postgres_server() as url:
            yield url
    except PostgresUnavailable as error:
        if REQUIRE_POSTGRES:
            pytest.fail(f"MP_REQUIRE_POSTGRES=1, but PostgreSQL is not usable: {error}")
        pytest.skip(f"PostgreSQL tests skipped: {error}")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database for this test: the embedded default, or a new PostgreSQL database."""
    if request.param == "sqlite":
        yield default_database_url(tmp_path / "data")
        return
    with fresh_database(request.getfixturevalue("postgres_admin_url")) as url:
        yield normalise_database_url(url)


def migrated(url: str) -> None:
    async def run() -> None:
        engine = create_engine(url)
        try:
            await migrate(engine)
        finally:
            await engine.dispose()

    asyncio.run(run())


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    if database_url.startswith("postgresql"):
        migrated(database_url)
    # No demo round: tests publish exactly what they need (tests/server/datasets/test_demo_round.py covers it).
    return Settings(data_dir=tmp_path / "data", database_url=database_url, log_level="INFO", demo_round=False)


@pytest.fixture
def server(settings: Settings) -> Iterator[ServerThread]:
    running = ServerThread(settings).start()
    yield running
    running.stop()


@pytest.fixture
def channel(server: ServerThread) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(server.grpc_target) as open_channel:
        yield open_channel


@pytest.fixture
def auth(channel: grpc.Channel) -> auth_pb2_grpc.AuthServiceStub:
    return auth_pb2_grpc.AuthServiceStub(channel)


@pytest.fixture
def admin(server: ServerThread) -> tuple[tuple[str, str], ...]:
    """Metadata carrying the server's first admin token."""
    return bearer(server.admin_token)


@pytest.fixture
def vendor(auth, admin) -> auth_pb2.CreateApiTokenResponse:
    """A vendor `acme` with a token of the usual vendor scopes."""
    return create_vendor_token(auth, admin)


@pytest.fixture
def market(server, channel, auth, admin) -> Market:
    """A published round of SYMBOLS and a vendor `acme` that deploys, reads signals and the catalog."""
    datasets = datasets_pb2_grpc.DatasetServiceStub(channel)
    datasets.PublishRound(publish_request({"train": b"x"}, symbols=SYMBOLS), metadata=admin)
    token = create_vendor_token(auth, admin, scopes=("deploy:write", "signals:read", "catalog:read")).secret
    return Market.over(server, channel, admin, bearer(token))


@pytest.fixture
def runs(channel, admin) -> training_pb2_grpc.TrainingServiceStub:
    """TrainingService, with a round published to train on."""
    datasets_pb2_grpc.DatasetServiceStub(channel).PublishRound(publish_request({"train": b"x"}), metadata=admin)
    return training_pb2_grpc.TrainingServiceStub(channel)


@pytest.fixture
def acme(auth, admin):
    """Metadata of a vendor `acme` token that reads data and trains."""
    return bearer(create_vendor_token(auth, admin, slug="acme", scopes=("data:read", "training:write")).secret)
