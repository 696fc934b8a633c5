"""Shared fixtures: settings, a fresh database per test (SQLite and PostgreSQL), a real server."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from marketplace.v1 import auth_pb2, auth_pb2_grpc
from server.db.engine import create_engine, migrate
from server.settings import Settings, default_database_url, normalise_database_url
from tests.postgres import PostgresUnavailable, fresh_database, postgres_server
from tests.support import ServerThread, bearer

REQUIRE_POSTGRES = os.environ.get("MP_REQUIRE_POSTGRES") == "1"


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
    # No demo round: tests publish exactly what they need (tests/test_demo_round.py covers it).
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


def create_vendor_token(
    auth: auth_pb2_grpc.AuthServiceStub,
    admin: tuple[tuple[str, str], ...],
    slug: str = "acme",
    scopes: tuple[str, ...] = ("catalog:read", "data:read", "training:write", "deploy:write"),
    **fields,
) -> auth_pb2.CreateApiTokenResponse:
    try:
        auth.CreateVendor(auth_pb2.CreateVendorRequest(slug=slug, display_name=slug.title()), metadata=admin)
    except grpc.RpcError as error:
        if error.code() != grpc.StatusCode.ALREADY_EXISTS:
            raise
    return auth.CreateApiToken(
        auth_pb2.CreateApiTokenRequest(vendor=slug, scopes=list(scopes), **fields), metadata=admin
    )


@pytest.fixture
def vendor(auth, admin) -> auth_pb2.CreateApiTokenResponse:
    """A vendor `acme` with a token of the usual vendor scopes."""
    return create_vendor_token(auth, admin)
