"""`mp catalog` and `mp admin rounds resolve` without returns, with the real `mp` against a real `mp-server`:
models listed with their live scores (none before a signal is scored), and a resolution from the feed refused
while the feed has no bars, naming the symbols."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from mlmp_cli.exit_codes import ExitCode
from mlmp_marketplace.v1 import datasets_pb2_grpc, deployments_pb2, deployments_pb2_grpc
from tests.helpers.auth import bearer
from tests.helpers.processes import ServerProcess, clean_env, run
from tests.helpers.rounds import publish_request

pytestmark = pytest.mark.e2e


@pytest.fixture
def server_env() -> dict[str, str]:
    return {"MP_DEMO_ROUND": "false"}  # round 1 is this test's, and the feed starts empty


def mp(*args: str, env: dict[str, str], ok: bool = True):
    result = run("mp", *args, env=env)
    if ok:
        assert result.returncode == 0, f"mp {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result


def test_catalog_lists_models_and_resolution_from_the_feed_names_what_is_missing(server: ServerProcess,
                                                                                  tmp_path: Path):  # fmt: skip
    data_end = Timestamp()
    data_end.FromDatetime(datetime(2026, 2, 2, tzinfo=UTC))
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        datasets_pb2_grpc.DatasetServiceStub(channel).PublishRound(
            publish_request({"train": b"x"}, symbols=["AAA", "BBB"], data_end_time=data_end),
            metadata=bearer(server.admin_token),
        )
    operator = clean_env(MP_CONFIG_DIR=str(tmp_path / "op"), MP_API_URL=server.api_url, MP_TOKEN=server.admin_token)
    mp("admin", "vendors", "create", "acme", "--display-name", "Acme Quant", env=operator)
    token = mp("admin", "tokens", "create", "--vendor", "acme", "--scopes", "catalog:read,deploy:write",
               env=operator).stdout.strip()  # fmt: skip
    vendor = {**operator, "MP_CONFIG_DIR": str(tmp_path / "vendor"), "MP_TOKEN": token}
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        created = deployments_pb2_grpc.DeploymentServiceStub(channel).CreateDeployment(
            deployments_pb2.CreateDeploymentRequest(provider="local", name="momentum"), metadata=bearer(token)
        )

    (entry,) = json.loads(mp("catalog", "--json", env=vendor).stdout)
    (model,) = entry["models"]
    assert model["name"] == "momentum"
    assert "score" not in model  # nothing scored yet
    table = mp("catalog", "acme", env=vendor).stdout
    assert "LIVE" in table
    assert "momentum" in table

    status = mp("deployments", "status", created.deployment.id, env=vendor).stdout
    assert "Live score:      not scored yet" in status

    refused = mp("admin", "rounds", "resolve", "1", env=operator, ok=False)
    assert refused.returncode == ExitCode.CONFLICT
    assert "AAA (no bars)" in refused.stderr
    assert "BBB (no bars)" in refused.stderr
    assert "resolved" not in mp("admin", "rounds", "list", env=operator).stdout.lower()
