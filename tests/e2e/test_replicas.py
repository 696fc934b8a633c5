"""Three `mp-server` replicas on one PostgreSQL database, Redis and a moto S3 server (tests/helpers/replicas.py), with
round-robin proxies in front where a test needs one address: every promise of the single process holds across them.

The replicas are shared by the module's tests (starting three takes a while); a test that kills or stops one
restarts it before it ends.
"""

from __future__ import annotations

import http.client
import json
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest

from mlmp_marketplace.v1 import auth_pb2_grpc
from tests.helpers.auth import bearer, create_vendor_token
from tests.helpers.processes import BIN, ServerProcess, clean_env, run
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


def test_a_replica_refuses_to_start_naming_each_missing_part(tmp_path: Path):
    env = clean_env(MP_MODE="replica", MP_DATA_DIR=str(tmp_path), MP_DATABASE_URL=f"sqlite:///{tmp_path}/mp.db")
    refused = run("mp-server", env=env, timeout=30)
    assert refused.returncode != 0
    said = " ".join(refused.stderr.split())  # click wraps nothing, but the terminal might
    assert "MP_DATABASE_URL is sqlite, not PostgreSQL" in said
    for part in ("MP_REDIS_URL", "MP_S3_BUCKET", "MP_SECRET_KEY"):
        assert f"{part} is not set" in said
    assert not (tmp_path / "mp.db").exists()  # refused before touching anything


def test_a_replica_with_another_secret_key_refuses_to_start(replicas: ReplicaSet, tmp_path: Path):
    """Token digests must agree: a replica keyed differently would refuse every token the others issued."""
    env = {**replicas.shared_env(), "MP_DATA_DIR": str(tmp_path), "MP_SECRET_KEY": "another key " * 4}
    with pytest.raises(RuntimeError, match="MP_SECRET_KEY is not the key the other replicas use"):
        ServerProcess({**env, "MP_GRPC_ADDR": "127.0.0.1:0", "MP_HTTP_ADDR": "127.0.0.1:0"})


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

RATE, BURST = 5.0, 10.0  # a burst of 2 s: a caller starved of CPU for a moment loses no tokens


def hammer(port: int, token: str, seconds: float, callers: int = 6) -> tuple[int, int, float, float]:
    """WhoAmI (a `read` call) over the HTTP proxy as fast as `callers` threads can, a new connection each time (so
    the proxy spreads them over the replicas). Returns the calls answered 200 and 429, and the shortest and longest
    time the limiter can have been filling for: from the first answer to the last call sent, and from the first
    call sent to the last answer."""
    counts = {200: 0, 429: 0}
    lock = threading.Lock()
    start = time.monotonic()
    first_answer, last_sent, last_answer = float("inf"), start, start

    def caller() -> None:
        nonlocal first_answer, last_sent, last_answer
        while (sent := time.monotonic()) - start < seconds:
            # http.client: a bare connection and request, so the callers' own cost stays small.
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            try:
                connection.request("GET", "/api/whoami", headers={"Authorization": f"Bearer {token}"})
                answer = connection.getresponse()
                body = answer.read()
            finally:
                connection.close()
            answered = time.monotonic()
            assert answer.status in counts, body
            if answer.status == 429:
                assert int(answer.headers["Retry-After"]) >= 1
            with lock:
                counts[answer.status] += 1
                first_answer = min(first_answer, answered)
                last_sent, last_answer = max(last_sent, sent), max(last_answer, answered)

    threads = [threading.Thread(target=caller) for _ in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return counts[200], counts[429], last_sent - first_answer, last_answer - start


def test_the_rate_limit_holds_within_5_percent_across_replicas(
    postgres_admin_url: str, tmp_path_factory: pytest.TempPathFactory
):
    """Own replicas, with a low `read` limit the other cases must not meet. Per-replica buckets would let 3× through."""
    limits = {"MP_RATE_READ": str(RATE), "MP_RATE_READ_BURST": str(BURST)}
    with replica_set(3, tmp_path_factory.mktemp("limited"), postgres_admin_url, redis_or_skip(), **limits) as replicas:
        with grpc.insecure_channel(replicas[0].grpc_target) as channel:
            token = create_vendor_token(auth_pb2_grpc.AuthServiceStub(channel), bearer(replicas.admin_token)).secret
        before = dict(replicas.http_proxy.connections)
        allowed, refused, shortest, longest = hammer(replicas.http_proxy.port, token, seconds=6.0)
        spread = [replicas.http_proxy.connections[r.http_port] - before.get(r.http_port, 0) for r in replicas.replicas]
        said = "".join(r.output() for r in replicas.replicas)
    assert "does not answer" not in said  # no replica fell back to its own limits meanwhile
    assert min(spread) > 0.25 * sum(spread), spread  # every replica took its share of the calls
    assert refused > allowed  # the callers did press against the limit
    # What one bucket lets through in that time, give or take 5%.
    figures = (allowed, refused, shortest, longest)
    assert allowed >= 0.95 * (BURST + RATE * shortest), figures
    assert allowed <= 1.05 * (BURST + RATE * longest), figures


# --- revocation across replicas (task `events`) ----------------------------------------------------------------------


# --- signals to subscribers on every replica, fail-over (task `fanout`) ---------------------------------------------
