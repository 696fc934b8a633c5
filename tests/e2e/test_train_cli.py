"""`mp train list/status/logs/cancel` through the real CLI against a real server.

Runs are created and moved over gRPC here, as an executor would (`mp train start` is not built yet).
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import grpc
import pytest

from mlmp_cli.exit_codes import ExitCode
from mlmp_marketplace.v1 import auth_pb2_grpc, training_pb2, training_pb2_grpc
from tests.helpers.auth import bearer, create_vendor_token
from tests.helpers.processes import BIN, ServerProcess, clean_env, run

pytestmark = pytest.mark.e2e
State = training_pb2.RunState


def test_train_list_status_logs_follow_and_cancel(server: ServerProcess, tmp_path: Path):
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        vendor = create_vendor_token(auth_pb2_grpc.AuthServiceStub(channel), bearer(server.admin_token),
                                     scopes=("data:read", "training:write"))  # fmt: skip
        runs = training_pb2_grpc.TrainingServiceStub(channel)
        who = bearer(vendor.secret)
        first = runs.CreateTrainingRun(training_pb2.CreateTrainingRunRequest(task="signal"), metadata=who)
        second = runs.CreateTrainingRun(training_pb2.CreateTrainingRunRequest(task="signal"), metadata=who)
        env = clean_env(MP_CONFIG_DIR=str(tmp_path / "cfg"), MP_API_URL=server.api_url, MP_TOKEN=vendor.secret)

        listed = json.loads(run("mp", "train", "list", "--json", env=env).stdout)
        assert [r["id"] for r in listed] == [second.id, first.id]  # newest first

        runs.TransitionTrainingRun(
            training_pb2.TransitionTrainingRunRequest(run_id=first.id, state=State.RUN_STATE_RUNNING), metadata=who
        )
        follower = subprocess.Popen([str(BIN / "mp"), "train", "logs", first.id, "--follow"], env=env,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
        time.sleep(1.0)
        metrics = [training_pb2.Metric(key="corr", value=0.042, step=1)]
        runs.ReportMetrics(training_pb2.ReportMetricsRequest(run_id=first.id, metrics=metrics), metadata=who)
        runs.AppendRunLogs(training_pb2.AppendRunLogsRequest(
            run_id=first.id, lines=[training_pb2.LogLine(stream="stderr", text="boom")]), metadata=who)  # fmt: skip
        runs.TransitionTrainingRun(training_pb2.TransitionTrainingRunRequest(
            run_id=first.id, state=State.RUN_STATE_FAILED, exit_code=2, message="exit 2"), metadata=who)  # fmt: skip
        out, err = follower.communicate(timeout=30)
        assert follower.returncode == 1, err  # the run failed
        assert "metric corr=0.042 (step 1)" in out
        assert "stderr boom" in out
        assert "state  failed: exit 2" in out

        status = run("mp", "train", "status", first.id, env=env).stdout
        assert "failed (exit 2)" in status
        assert "corr=0.042" in status
        running = run("mp", "train", "list", "--status", "queued", env=env).stdout
        assert second.id in running
        assert first.id not in running
        cancelled = run("mp", "train", "cancel", second.id, env=env)
        assert f"Run {second.id} is cancelled." in cancelled.stdout
        missing = run("mp", "train", "status", "run_doesnotexist", env=env)
        assert missing.returncode == ExitCode.NOT_FOUND
        assert "no training run" in missing.stderr
