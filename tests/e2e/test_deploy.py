"""The external developer's whole flow through the real CLI against a real server:
init → train → deploy → signals with attribution → /api/signals → resolve → a score in the catalog."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from mlmp_cli.exit_codes import ExitCode
from mlmp_server.datasets.synthetic import SYMBOLS
from tests.helpers.processes import BIN, ServerProcess, clean_env, mp_in, run
from tests.helpers.projects import trained_project
from tests.helpers.receiver import Receiver, readme_verify

pytestmark = pytest.mark.e2e


@pytest.fixture
def server_env() -> dict[str, str]:
    return {"MP_DELIVER_TO_PRIVATE": "1"}  # receivers on 127.0.0.1


@pytest.fixture
def vendor_project(server: ServerProcess, tmp_path: Path) -> tuple[Path, dict[str, str], dict[str, str]]:
    return trained_project(server, tmp_path)


def wait_for(condition, timeout: float = 30.0, every: float = 0.3):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, "timed out"
        time.sleep(every)


def test_deploy_stream_resolve_and_score(server, vendor_project, tmp_path):
    folder, env, admin = vendor_project
    deployed = mp_in(folder, env, "deploy", "--signal-interval", "0.5", "--json")
    assert deployed.returncode == 0, deployed.stderr
    deployment = json.loads(deployed.stdout)
    assert deployment["state"] == "DEPLOYMENT_STATE_LIVE"
    try:
        headers = {"Authorization": f"Bearer {server.admin_token}"}
        stored = wait_for(lambda: httpx.get(server.api_url + "/api/signals", headers=headers,
                                            params={"symbol": SYMBOLS[0]}).json().get("signals"))  # fmt: skip
        first = stored[0]
        assert first["attribution"]["vendorSlug"] == "acme"
        assert first["attribution"]["vendorDisplayName"] == "Acme Quant"
        assert first["attribution"]["deploymentId"] == deployment["id"]
        assert first["attribution"]["runId"] == deployment["runId"]
        assert first["roundNumber"] == 1
        assert -1 <= first["score"] <= 1
        listed = json.loads(mp_in(folder, env, "deployments", "list", "--json").stdout)
        assert listed[0]["id"] == deployment["id"]
        assert int(listed[0]["signalCount"]) > 0
        with subprocess.Popen([str(BIN / "mp"), "signals", "tail", "--json"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True) as tail:  # fmt: skip
            try:
                line = tail.stdout.readline()  # type: ignore[union-attr]
            finally:
                tail.terminate()
        assert json.loads(line)["attribution"]["vendorSlug"] == "acme"
        link_infrastructure(folder, env, deployment["id"])
        token = deployment_token_leaks(folder, tmp_path)
        assert not token, f"the deployment token leaked into {token}"
    finally:
        stopped = mp_in(folder, env, "deployments", "stop", deployment["id"])
        assert stopped.returncode == 0, stopped.stderr
    returns = tmp_path / "realised.csv"
    returns.write_text("symbol,realized_return\n" + "".join(f"{s},{(i - 2.5) / 100}\n" for i, s in enumerate(SYMBOLS)))
    resolved = run("mp", "admin", "rounds", "resolve", "1", "--returns", str(returns), env=admin)
    assert resolved.returncode == 0, resolved.stderr
    catalog = httpx.get(server.api_url + "/api/catalog", headers=headers).json()
    (entry,) = catalog["entries"]
    (model,) = entry["models"]
    assert entry["vendor"]["slug"] == "acme"
    assert entry["roundsEntered"] == [1]
    assert model["scoredRounds"] == 1
    assert -1 <= model["liveScore"] <= 1
    assert model["state"] == "DEPLOYMENT_STATE_STOPPED"


def link_infrastructure(folder: Path, env: dict[str, str], deployment_id: str) -> None:
    """`mp link-infra --add` a local receiver: signed deliveries from the marketplace, never the token."""
    assert "mp link-infra --add https://" in mp_in(folder, env, "link-infra", "--help").stdout
    receiver = Receiver()
    try:
        added = mp_in(folder, env, "link-infra", "--add", receiver.url)
        assert added.returncode == 0, added.stderr
        (secret,) = [line for line in added.stdout.splitlines() if line.startswith("mpws_")]
        assert "X-MP-Signature" in added.stderr
        first = receiver.wait_for(1)[0]
        assert "Authorization" not in first.headers
        assert b"mpdt_" not in first.body
        assert readme_verify()(secret, first.headers["X-MP-Signature"], first.body)
        assert first.delivery["signals"][0]["attribution"]["deploymentId"] == deployment_id
        status = json.loads(mp_in(folder, env, "deployments", "status", deployment_id, "--json").stdout)
        (delivery,) = status["deliveries"]
        assert delivery["url"] == receiver.url
        human = mp_in(folder, env, "deployments", "status", deployment_id).stdout
        assert "Deliveries:" in human
        assert receiver.url in human
        assert secret not in human + json.dumps(status)  # shown once, when linked
        removed = mp_in(folder, env, "link-infra", "--remove", receiver.url)
        assert removed.returncode == 0, removed.stderr
        assert "No destinations" in mp_in(folder, env, "link-infra").stdout
    finally:
        receiver.close()


def deployment_token_leaks(folder: Path, tmp_path: Path) -> str:
    """A file of the project or the CLI's state holding a deployment token, if any."""
    for root in (folder, tmp_path / "state", tmp_path / "vendor"):
        for path in root.rglob("*"):
            if path.is_file() and b"mpdt_" in path.read_bytes():
                return str(path)
    return ""


def test_deploy_refuses_a_project_without_a_trained_model(server, tmp_path):
    admin = clean_env(MP_CONFIG_DIR=str(tmp_path / "admin"), MP_API_URL=server.api_url, MP_TOKEN=server.admin_token)
    created = run("mp", "admin", "vendors", "create", "zeta", "--display-name", "Zeta", env=admin)
    assert created.returncode == 0, created.stderr
    scopes = "data:read,training:write,deploy:write"
    token = run("mp", "admin", "tokens", "create", "--vendor", "zeta", "--scopes", scopes, env=admin).stdout.strip()
    env = clean_env(MP_CONFIG_DIR=str(tmp_path / "vendor"), MP_STATE_DIR=str(tmp_path / "state"))
    logged_in = run("mp", "login", "--api-url", server.api_url, env=env, input=token + "\n")
    assert logged_in.returncode == 0, logged_in.stderr
    run("mp", "init", "--template", "runpod-signal-http", str(tmp_path / "fresh"), env=env)
    refused = mp_in(tmp_path / "fresh", env, "deploy")
    assert refused.returncode == ExitCode.NOT_FOUND
    assert "train first with mp train start" in refused.stderr


def test_a_runpod_deployment_serves_from_a_pod_with_its_own_token(server, vendor_project, tmp_path):
    from mlmp_cli.serving.local import free_port
    from tests.helpers.fake_runpod import FakeRunPod

    folder, env, _admin = vendor_project
    image, port = "ghcr.io/acme/my-model:2", free_port()
    text = (folder / "mp.yaml").read_text().replace("ghcr.io/YOUR-ORG/my-model:latest", image)
    (folder / "mp.yaml").write_text(text.replace("port: 8080", f"port: {port}"))
    assert not (folder / "artifacts").exists()  # the pod fetches the run's model itself (the fake drops .mp/)
    fake = FakeRunPod(key="rp-key-456", images={image: folder}, workdir=tmp_path / "pods", path_prefix=str(BIN)).start()
    env = {**env, "RUNPOD_API_KEY": "rp-key-456", "RUNPOD_API_BASE_URL": fake.base_url,
           "MP_RUNPOD_PROXY_URL": "http://127.0.0.1:{port}"}  # fmt: skip
    try:
        deployed = mp_in(folder, env, "deploy", "--provider", "runpod", "--gpu", "NVIDIA A40", "--signal-interval",
                         "0.5", "--json")  # fmt: skip
        assert deployed.returncode == 0, deployed.stderr
        deployment = json.loads(deployed.stdout)
        (pod_id,) = fake.pods
        assert (deployment["state"], deployment["externalId"]) == ("DEPLOYMENT_STATE_LIVE", pod_id)
        method, path, body = fake.requests[0]
        assert (method, path, body["ports"], body["imageName"]) == ("POST", "/pods", [f"{port}/http"], image)
        assert body["env"]["MP_DEPLOYMENT_TOKEN"].startswith("mpdt_")
        vendor_token = json.loads((tmp_path / "vendor" / "credentials.json").read_text())["token"]
        assert vendor_token not in json.dumps(body)
        assert "rp-key-456" not in deployed.stderr
        headers = {"Authorization": f"Bearer {server.admin_token}"}
        mine = {"deploymentId": deployment["id"]}
        signals = wait_for(
            lambda: httpx.get(server.api_url + "/api/signals", headers=headers, params=mine).json().get("signals")
        )
        assert signals[0]["attribution"]["vendorSlug"] == "acme"
        stopped = mp_in(folder, env, "deployments", "stop", deployment["id"])
        assert stopped.returncode == 0, stopped.stderr
        assert ("DELETE", f"/pods/{pod_id}", None) in fake.requests
    finally:
        fake.stop()


def test_a_server_that_dies_before_ping_fails_the_deployment_with_its_last_lines(server, vendor_project):
    folder, env, _admin = vendor_project
    (folder / "serve.py").write_text("import sys\nprint('cannot load the model: disk full', flush=True)\nsys.exit(3)\n")
    refused = mp_in(folder, env, "deploy")
    assert refused.returncode == 1
    assert "exited before answering /ping" in refused.stderr
    assert "cannot load the model: disk full" in refused.stderr
    (listed,) = json.loads(mp_in(folder, env, "deployments", "list", "--json").stdout)
    assert listed["state"] == "DEPLOYMENT_STATE_FAILED"
    assert "disk full" in listed["message"]


def test_rotating_the_token_of_a_live_local_deployment_keeps_its_signals_flowing(server, vendor_project):
    folder, env, _admin = vendor_project
    deployed = mp_in(folder, env, "deploy", "--signal-interval", "0.3", "--json")
    assert deployed.returncode == 0, deployed.stderr
    deployment_id = json.loads(deployed.stdout)["id"]

    def signal_count() -> int:
        status = json.loads(mp_in(folder, env, "deployments", "status", deployment_id, "--json").stdout)
        return int(status.get("signalCount", 0))

    try:
        wait_for(signal_count)
        rotated = mp_in(folder, env, "deployments", "rotate-token", deployment_id, "--json")
        assert rotated.returncode == 0, rotated.stderr
        assert json.loads(rotated.stdout)["localServerContinues"] is True
        at_rotation = signal_count()
        wait_for(lambda: signal_count() >= at_rotation + 2 * len(SYMBOLS))  # stored under the new token
        status = json.loads(mp_in(folder, env, "deployments", "status", deployment_id, "--json").stdout)
        assert status["state"] == "DEPLOYMENT_STATE_LIVE"
    finally:
        assert mp_in(folder, env, "deployments", "stop", deployment_id).returncode == 0
