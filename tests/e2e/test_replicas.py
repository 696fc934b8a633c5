"""Three `mp-server` replicas on one PostgreSQL database, Redis and a moto S3 server (tests/helpers/replicas.py), with
round-robin proxies in front where a test needs one address: every promise of the single process holds across them.

The replicas are shared by the module's tests (starting three takes a while); a test that kills or stops one
restarts it before it ends.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers.processes import BIN, clean_env
from tests.helpers.redis_server import redis_or_skip
from tests.helpers.replicas import ReplicaSet, replica_set
from tests.helpers.rounds import price_csv

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


@pytest.fixture(scope="module")
def replicas(postgres_admin_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReplicaSet]:
    with replica_set(3, tmp_path_factory.mktemp("replicas"), postgres_admin_url, redis_or_skip()) as running:
        yield running


def mp(api_url: str, token: str, config_dir: Path, *args: str, cwd: Path | None = None) -> dict:
    """`mp … --json` against `api_url` (grpc:// for one replica, the HTTP proxy for any); its JSON answer."""
    env = clean_env(MP_CONFIG_DIR=str(config_dir), MP_API_URL=api_url, MP_TOKEN=token)
    result = subprocess.run(
        [str(BIN / "mp"), *args, "--json"], env=env, cwd=cwd, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, f"mp {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return json.loads(result.stdout)


def test_the_proxy_spreads_connections_over_every_replica(replicas: ReplicaSet):
    for _ in range(6):
        with httpx.Client(base_url=replicas.http_proxy.url) as client:  # a connection per call
            discovery = client.get("/api/discovery").json()
            assert discovery["grpcTarget"] == replicas.grpc_proxy.address  # clients are sent to the proxy
    assert sorted(replicas.http_proxy.connections.values()) == [2, 2, 2]


# --- files: S3 ----------------------------------------------------------------------------------------------------


def test_a_round_published_through_one_replica_is_pulled_through_another(replicas: ReplicaSet, tmp_path: Path):
    csvs = []
    for offset, symbol in enumerate(("AAPL", "MSFT")):
        csvs.append(tmp_path / f"{symbol}.csv")
        csvs[-1].write_text(price_csv(offset))
    first, second = f"grpc://{replicas[0].grpc_target}", f"grpc://{replicas[1].grpc_target}"
    token = replicas.admin_token
    published = mp(first, token, tmp_path / "cfg", "admin", "rounds", "publish",
                   *(a for p in csvs for a in ("--from-csv", str(p))), "--closes", "+3d")  # fmt: skip
    work = tmp_path / "vendor"
    work.mkdir()
    pulled = mp(second, token, tmp_path / "cfg", "data", "pull", "--round", str(published["number"]), cwd=work)
    assert [f["status"] for f in pulled["files"]] == ["downloaded"] * 3
    assert mp(second, token, tmp_path / "cfg", "data", "verify", cwd=work)["ok"] is True
    # …and the third replica hands out signed URLs that answer too.
    info = mp(f"grpc://{replicas[2].grpc_target}", token, tmp_path / "cfg", "data", "info", "--round", "current")
    assert info["number"] == published["number"]


# --- rate limits: Redis ---------------------------------------------------------------------------------------------


# --- revocation across replicas (task `events`) ----------------------------------------------------------------------


# --- signals to subscribers on every replica, fail-over (task `fanout`) ---------------------------------------------
