"""One real `mp-server` subprocess for the whole fuzz run, the world it serves, and the checks made
after the run: the process is alive, health says SERVING, a real call works, no token in its output."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from mlmp_marketplace.v1 import auth_pb2, auth_pb2_grpc, options_pb2
from mlmp_server.settings import normalise_database_url
from tests.helpers.auth import bearer
from tests.helpers.fuzz.world import World, build_world
from tests.helpers.postgres import fresh_database
from tests.helpers.processes import ServerProcess, mp_server_env, run

# The rate limiter would answer most fuzzed calls with RESOURCE_EXHAUSTED before they reach a servicer.
UNLIMITED = {
    f"MP_RATE_{kind}{suffix}": "1000000" for kind in ("READ", "WRITE", "SIGNAL_INGEST") for suffix in ("", "_BURST")
}
# A token's shape anywhere in a line, even glued to other text (the redaction filter wants a word boundary).
TOKEN_SHAPE = re.compile(r"mp(at|dt|rt)_[0-9A-Za-z]{20,}")


@pytest.fixture(scope="session")
def fuzz_database(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh PostgreSQL database in CI (MP_REQUIRE_POSTGRES=1), where NUL bytes and the like are refused by
    the database itself; SQLite elsewhere. MP_FUZZ_DATABASE=sqlite or postgresql chooses either way."""
    default = "postgresql" if os.environ.get("MP_REQUIRE_POSTGRES") == "1" else "sqlite"
    if os.environ.get("MP_FUZZ_DATABASE", default) != "postgresql":
        yield ""
        return
    with fresh_database(request.getfixturevalue("postgres_admin_url")) as url:
        yield normalise_database_url(url)


@pytest.fixture(scope="session")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory, fuzz_database: str) -> Iterator[ServerProcess]:
    data_dir = tmp_path_factory.mktemp("fuzz") / "data"
    env = mp_server_env(data_dir, fuzz_database, MP_LOG_LEVEL="INFO", **UNLIMITED)
    # The admin token comes from `create-admin-token`, so the server itself never has a reason to print one.
    issued = run("mp-server", "create-admin-token", env=env)
    assert issued.returncode == 0, issued.stderr
    admin_token = TOKEN_SHAPE.search(issued.stdout)
    assert admin_token is not None, issued.stdout
    server = ServerProcess(env)
    server.admin_token = admin_token.group(0)
    yield server
    alive = server.process.poll() is None
    output = server.output()
    server.stop()
    # The tracebacks behind "internal error (reference …)" answers, for whoever reads a failure.
    Path(os.environ.get("MP_FUZZ_SERVER_LOG", Path(tempfile.gettempdir()) / "mp-fuzz-server.log")).write_text(
        server.output()
    )
    assert alive, "mp-server died during the fuzz run:\n" + output[-4000:]


@pytest.fixture(scope="session")
def fuzz_channel(fuzz_server: ServerProcess) -> Iterator[grpc.Channel]:
    options = [("grpc.max_send_message_length", 64 * 1024 * 1024)]
    with grpc.insecure_channel(f"127.0.0.1:{fuzz_server.grpc_port}", options=options) as channel:
        yield channel


@pytest.fixture(scope="session")
def world(fuzz_server: ServerProcess, fuzz_channel: grpc.Channel) -> Iterator[World]:
    built = build_world(fuzz_channel, fuzz_server.admin_token)
    yield built
    assert_still_serving(fuzz_channel, built)
    assert_no_token_in(fuzz_server.output(), built.secrets)


def assert_still_serving(channel: grpc.Channel, world: World) -> None:
    health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=10)
    assert health.status == health_pb2.HealthCheckResponse.SERVING
    auth = auth_pb2_grpc.AuthServiceStub(channel)
    me = auth.WhoAmI(auth_pb2.WhoAmIRequest(), metadata=bearer(world.callers["admin"]), timeout=10)
    assert me.kind == options_pb2.PRINCIPAL_KIND_ADMIN
    vendors = auth.ListVendors(auth_pb2.ListVendorsRequest(), metadata=bearer(world.callers["admin"]), timeout=10)
    assert {"fuzz-acme", "fuzz-rival"} <= {vendor.slug for vendor in vendors.vendors}


def assert_no_token_in(output: str, secrets: list[str]) -> None:
    leaked = [line for line in output.splitlines() if TOKEN_SHAPE.search(line) or any(s in line for s in secrets)]
    assert not leaked, f"{len(leaked)} lines of mp-server's output carry a token, e.g.:\n" + "\n".join(
        line[:300] for line in leaked[:5]
    )
