"""`mp init` + `mp train start` through the real CLI against a real server (issue 4's local path)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.helpers.processes import BIN, ServerProcess, clean_env, interruptible, mp_in, run

pytestmark = pytest.mark.e2e


@pytest.fixture
def server_env() -> dict[str, str]:
    return {"MP_RUN_LEASE": "3s"}


@pytest.fixture
def project(server: ServerProcess, tmp_path: Path) -> tuple[Path, dict[str, str]]:
    admin = clean_env(MP_CONFIG_DIR=str(tmp_path / "admin"), MP_API_URL=server.api_url, MP_TOKEN=server.admin_token)
    assert run("mp", "admin", "vendors", "create", "acme", "--display-name", "Acme", env=admin).returncode == 0
    token = run("mp", "admin", "tokens", "create", "--vendor", "acme", "--scopes", "data:read,training:write",
                env=admin).stdout.strip()  # fmt: skip
    env = clean_env(MP_CONFIG_DIR=str(tmp_path / "vendor"), PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}")
    assert run("mp", "login", "--api-url", server.api_url, env=env, input=token + "\n").returncode == 0
    assert run("mp", "init", "--template", "runpod-signal-http", str(tmp_path / "my-model"), env=env).returncode == 0
    folder = tmp_path / "my-model"
    assert subprocess.run([sys.executable, "-m", "pytest", "-q"], cwd=folder, capture_output=True).returncode == 0
    return folder, env


def test_a_local_run_records_metrics_and_its_model(project, tmp_path):
    folder, env = project
    started = mp_in(folder, env, "train", "start", "--hp", "l2=0.5", "--hp", "layers=[64,32]", "--json")
    assert started.returncode == 0, started.stderr
    finished = json.loads(started.stdout)
    assert finished["state"] == "RUN_STATE_SUCCEEDED"
    assert finished["hyperparameters"] == {"l2": 0.5, "layers": [64.0, 32.0]}
    assert set(finished["latestMetrics"]) == {"val_corr", "val_hit_rate"}
    model = folder / ".mp" / "runs" / finished["id"] / "artifacts" / "model.json"
    assert finished["artifact"]["sha256"] == hashlib.sha256(model.read_bytes()).hexdigest()
    logs = mp_in(folder, env, "train", "logs", finished["id"]).stdout
    assert "training on" in logs
    assert "state  succeeded" in logs
    token = json.loads((tmp_path / "vendor" / "credentials.json").read_text())["token"]
    for path in folder.rglob("*"):
        if path.is_file():
            assert token[5:25].encode() not in path.read_bytes(), f"the token leaked into {path}"


def test_a_failing_train_script_fails_the_run_with_its_last_lines(project):
    folder, env = project
    script = folder / "train.py"
    script.write_text(
        script.read_text().replace(
            "    model = Model.fit(", "    raise SystemExit('no convergence')\n    model = Model.fit("
        )
    )
    result = mp_in(folder, env, "train", "start")
    assert result.returncode == 1
    listed = json.loads(mp_in(folder, env, "train", "list", "--json").stdout)
    assert listed[0]["state"] == "RUN_STATE_FAILED"
    assert "no convergence" in listed[0]["message"]
    assert listed[0]["exitCode"] == 1


def test_a_path_with_python3_but_no_python_trains_with_python3(project, tmp_path):
    folder, env = project
    only_python3 = tmp_path / "only-python3"
    only_python3.mkdir()
    python3 = only_python3 / "python3"
    python3.write_text(f'#!/bin/sh\nexec "{BIN / "python"}" "$@"\n')  # the dev venv's, which has pandas
    python3.chmod(0o755)
    started = mp_in(folder, {**env, "PATH": str(only_python3)}, "train", "start")
    assert started.returncode == 0, started.stdout + started.stderr
    assert "succeeded" in started.stdout
    assert f"python is {python3} (python3 on PATH)" in started.stderr


@pytest.mark.parametrize(
    ("setting", "value", "reason"),
    [
        ("python", ".venv", "mp.yaml names python: .venv, but {folder}/.venv does not exist; set `python:` in mp.yaml"),
        ("train", {"command": "no-such-trainer train.py"}, "`no-such-trainer` is not on PATH"),
    ],
)
def test_a_train_command_that_cannot_start_fails_the_run_saying_why(project, setting, value, reason):
    folder, env = project
    manifest = folder / "mp.yaml"
    manifest.write_text(yaml.safe_dump({**yaml.safe_load(manifest.read_text()), setting: value}))
    result = mp_in(folder, env, "train", "start")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert reason.format(folder=folder) in result.stdout + result.stderr
    listed = json.loads(mp_in(folder, env, "train", "list", "--json").stdout)
    assert listed[0]["state"] == "RUN_STATE_FAILED"
    assert reason.format(folder=folder) in listed[0]["message"]


def test_a_killed_executor_leaves_a_lost_run(project):
    folder, env = project
    script = folder / "train.py"
    script.write_text(
        "import os, time\n"
        "open('train.pid', 'w').write(str(os.getpid()))\n"
        "print('working', flush=True)\n"
        "time.sleep(60)\n"
    )
    detached = mp_in(folder, env, "train", "start", "--detach")
    assert detached.returncode == 0, detached.stderr
    run_id = detached.stdout.strip()
    assert run_id.startswith("run_")
    deadline = time.monotonic() + 20
    while json.loads(mp_in(folder, env, "train", "status", run_id, "--json").stdout)["state"] != "RUN_STATE_RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    executor = subprocess.run(["pgrep", "-f", f"_execute {run_id}"], capture_output=True, text=True).stdout.split()
    assert executor, "the background executor is running"
    for pid in executor:
        os.kill(int(pid), signal.SIGKILL)
    deadline = time.monotonic() + 20
    while (
        state := json.loads(mp_in(folder, env, "train", "status", run_id, "--json").stdout)["state"]
    ) == "RUN_STATE_RUNNING":
        assert time.monotonic() < deadline, "the run should be lost once its lease runs out"
        time.sleep(0.5)
    assert state == "RUN_STATE_LOST"
    train_pid = int((folder / "train.pid").read_text())
    deadline = time.monotonic() + 10
    while _alive(train_pid):
        if time.monotonic() > deadline:
            os.kill(train_pid, signal.SIGKILL)
            pytest.fail("the train command outlived its killed executor")
        time.sleep(0.1)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_runpod_run_trains_in_a_pod_with_a_token_of_its_own(project, tmp_path):
    from tests.helpers.fake_runpod import FakeRunPod

    folder, env = project
    image = "ghcr.io/acme/my-model:1"
    (folder / "mp.yaml").write_text((folder / "mp.yaml").read_text().replace("ghcr.io/YOUR-ORG/my-model:latest", image))
    fake = FakeRunPod(key="rp-secret-key-123", images={image: folder}, workdir=tmp_path / "pods", path_prefix=str(BIN))
    fake.start()
    try:
        env = {**env, "RUNPOD_API_KEY": "rp-secret-key-123", "RUNPOD_API_BASE_URL": fake.base_url}
        result = mp_in(folder, env, "train", "start", "--provider", "runpod", "--gpu", "NVIDIA A40", "--hp", "l2=2")
        assert result.returncode == 0, result.stdout + result.stderr
        assert "rp-secret-key-123" not in result.stdout + result.stderr
        method, path, body = fake.requests[0]
        assert (method, path) == ("POST", "/pods")
        assert body["imageName"] == image
        assert body["gpuTypeIds"] == ["NVIDIA A40"]
        assert body["env"]["MP_TOKEN"].startswith("mprt_")  # the run's own token, not the vendor's
        vendor_token = json.loads((tmp_path / "vendor" / "credentials.json").read_text())["token"]
        assert vendor_token not in json.dumps(body)
        assert ("DELETE", f"/pods/{next(iter(fake.pods))}", None) in fake.requests  # terminated at the end
        listed = json.loads(mp_in(folder, env, "train", "list", "--json").stdout)[0]
        assert listed["state"] == "RUN_STATE_SUCCEEDED"
        assert listed["provider"] == "runpod"
        assert listed["externalId"] == next(iter(fake.pods))
        assert "val_corr" in listed["latestMetrics"]
        assert listed["artifact"]["sha256"]
        # The key can live in the CLI's own credentials instead of the environment.
        login = subprocess.run(
            [str(BIN / "mp"), "login", "--api-url",
             json.loads((tmp_path / "vendor" / "credentials.json").read_text())["api_url"],
             "--runpod-api-key", "rp-secret-key-123"],
            env={k: v for k, v in env.items() if k != "RUNPOD_API_KEY"}, input=vendor_token + "\n",
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert login.returncode == 0, login.stderr
        env = {k: v for k, v in env.items() if k != "RUNPOD_API_KEY"}
        refused = mp_in(folder, env, "train", "start", "--provider", "runpod", "--gpu", "NVIDIA H999")
        assert refused.returncode == 1
        assert "unknown GPU type" in refused.stderr
        assert "is marked failed" in refused.stderr
    finally:
        fake.stop()


def test_ctrl_c_cancels_the_run_and_stops_the_train_command(project):
    folder, env = project
    (folder / "train.py").write_text(
        "import os, time\n"
        "open('train.pid', 'w').write(str(os.getpid()))\n"
        "print('working', flush=True)\n"
        "time.sleep(60)\n"
    )
    started = subprocess.Popen(interruptible([str(BIN / "mp"), "train", "start"]), cwd=folder, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    deadline = time.monotonic() + 30
    while not (folder / "train.pid").exists():
        assert time.monotonic() < deadline, "the train command should have started"
        time.sleep(0.1)
    time.sleep(0.5)
    started.send_signal(signal.SIGINT)
    out, err = started.communicate(timeout=30)
    assert started.returncode == 130, err
    listed = json.loads(mp_in(folder, env, "train", "list", "--json").stdout)[0]
    assert listed["state"] == "RUN_STATE_CANCELLED"
    assert listed["message"] == "interrupted (Ctrl-C)"
    pid = int((folder / "train.pid").read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # the train command is gone too
