"""The local executor: runs a project's train command for a run and reports on it.

It moves the run to running, streams the command's stdout/stderr lines to the run (and metric lines
written by mp_report.report), renews the run's lease with heartbeats, stops the command when the run
is cancelled, uploads the produced model, and marks the outcome from the exit status. The command
never sees the vendor's token: its environment has the round's folder, the hyperparameters and where
to put the model, nothing else of ours.
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

METRIC_PREFIX = "::mp-metric "
FLUSH_EVERY = 0.5
MAX_BATCH = 500
UPLOAD_CHUNK = 1024 * 1024


class LocalExecutor:
    def __init__(
        self,
        *,
        call: Callable[..., Any],
        stub: Any,
        run_id: str,
        command: str,
        python: str,
        cwd: Path,
        round_dir: Path,
        artifact_dir: Path,
        hyperparameters: dict[str, Any],
        echo: Callable[[str], None],
    ) -> None:
        self._call, self._stub, self.run_id = call, stub, run_id
        self._command, self._python, self._cwd = command, python, cwd
        self._round_dir, self._artifacts = round_dir, artifact_dir
        self._hyperparameters, self._echo = hyperparameters, echo
        self._lines: queue.Queue[tuple[str, str] | None] = queue.Queue()
        self._tail: list[str] = []

    def _request(self, name: str, **fields: Any) -> Any:
        from mlmp_marketplace.v1 import training_pb2

        return getattr(training_pb2, name)(**fields)

    def _transition(self, state: str, message: str = "", exit_code: int = 0, external_id: str = "") -> Any:
        from mlmp_marketplace.v1 import training_pb2

        request = training_pb2.TransitionTrainingRunRequest(
            run_id=self.run_id, state=training_pb2.RunState.Value(f"RUN_STATE_{state.upper()}"), message=message,
            exit_code=exit_code, external_id=external_id,
        )  # fmt: skip
        return self._call(self._stub.TransitionTrainingRun, request)

    def run(self) -> str:
        """Runs the command to its end; returns the run's final state. A command that cannot start, or an
        executor that fails, ends the run as failed with the reason: no run is left for its lease to end."""
        from mlmp_cli.project_env import CommandCannotStart, project_command

        self._artifacts.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if k not in ("MP_TOKEN", "MP_API_URL", "MP_CONFIG_DIR")}
        env.update(
            MP_RUN_ID=self.run_id, MP_ROUND_DIR=str(self._round_dir), MP_ARTIFACT_DIR=str(self._artifacts),
            MP_HYPERPARAMETERS=json.dumps(self._hyperparameters), PYTHONUNBUFFERED="1",
        )  # fmt: skip
        try:
            command = project_command(self._cwd, self._python, self._command, "train.command", env)
        except CommandCannotStart as error:
            self._transition("failed", error.message[:2000])
            return "failed"
        self._echo(f"running `{self._command}`: {command.describe()}")
        beat = self._heartbeat()
        self._transition("running", external_id=os.environ.get("RUNPOD_POD_ID", ""))  # set inside a RunPod pod
        try:
            return self._run(command.argv, command.env, beat)
        except Exception as error:
            try:
                self._transition("failed", f"the executor failed: {type(error).__name__}: {error}"[:2000])
            except Exception:  # the marketplace is out of reach too: the lease ends the run
                pass
            raise

    def _run(self, argv: list[str], env: dict[str, str], beat: Any) -> str:
        try:
            process = subprocess.Popen(
                argv, cwd=self._cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                text=True, bufsize=1, start_new_session=True, preexec_fn=_end_with_parent(),
            )  # fmt: skip
        except OSError as error:  # found, but not startable: no permission, not an executable
            self._transition("failed", f"cannot start train.command `{self._command}`: {error}"[:2000])
            return "failed"
        readers = [
            threading.Thread(target=self._read, args=(process.stdout, "stdout"), daemon=True),
            threading.Thread(target=self._read, args=(process.stderr, "stderr"), daemon=True),
        ]
        for reader in readers:
            reader.start()
        interval = self._heartbeat_interval(beat)
        next_beat = time.monotonic() + interval
        try:
            while process.poll() is None or any(r.is_alive() for r in readers) or not self._lines.empty():
                self._flush(wait=FLUSH_EVERY)
                if time.monotonic() >= next_beat:
                    beat = self._heartbeat()
                    next_beat = time.monotonic() + self._heartbeat_interval(beat)
                    if beat.cancel_requested:
                        self._echo("the run was cancelled; stopping the train command")
                        _stop(process)
                        return "cancelled"
        except KeyboardInterrupt:
            _stop(process)
            self._cancel("interrupted (Ctrl-C)")
            self._echo("interrupted: the run is cancelled")
            return "cancelled"
        code = process.wait()
        if code != 0:
            tail = " | ".join(self._tail[-5:])
            self._transition("failed", f"the train command exited with {code}: {tail}"[:2000], exit_code=code)
            return "failed"
        model = self._upload_artifact()
        self._transition("succeeded", f"model {model.name}" if model else "no model file was produced", exit_code=0)
        return "succeeded"

    def _heartbeat(self) -> Any:
        request = self._request("HeartbeatTrainingRunRequest", run_id=self.run_id)
        return self._call(self._stub.HeartbeatTrainingRun, request)

    def _cancel(self, reason: str) -> None:
        request = self._request("CancelTrainingRunRequest", run_id=self.run_id, reason=reason)
        self._call(self._stub.CancelTrainingRun, request)

    @staticmethod
    def _heartbeat_interval(beat: Any) -> float:
        left = beat.lease_expire_time.ToSeconds() - time.time() if beat.HasField("lease_expire_time") else 60
        return max(0.5, left / 3)  # three chances before the lease runs out

    def _read(self, stream: Any, name: str) -> None:
        for line in stream:
            # The marketplace takes no NUL in a log line (PostgreSQL text cannot hold one).
            self._lines.put((name, line.rstrip("\n").replace("\x00", "\ufffd")))

    def _flush(self, wait: float) -> None:
        from mlmp_marketplace.v1 import training_pb2

        logs: list[Any] = []
        metrics: list[Any] = []
        deadline = time.monotonic() + wait
        while len(logs) + len(metrics) < MAX_BATCH:
            try:
                item = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if item is None:
                break
            stream, text = item
            if text.startswith(METRIC_PREFIX):
                try:
                    point = json.loads(text[len(METRIC_PREFIX) :])
                    metrics.append(
                        training_pb2.Metric(key=point["key"], value=point["value"], step=point.get("step", 0))
                    )
                    self._echo(f"metric {point['key']}={point['value']:.6g} (step {point.get('step', 0)})")
                    continue
                except (ValueError, KeyError, TypeError):
                    pass  # not ours after all: keep it as a log line
            self._tail = (self._tail + [text])[-20:]
            logs.append(training_pb2.LogLine(stream=stream, text=text))
            self._echo(f"{stream}: {text}" if stream == "stderr" else text)
        if logs:
            self._call(self._stub.AppendRunLogs, training_pb2.AppendRunLogsRequest(run_id=self.run_id, lines=logs))
        if metrics:
            self._call(self._stub.ReportMetrics, training_pb2.ReportMetricsRequest(run_id=self.run_id, metrics=metrics))

    def _upload_artifact(self) -> Path | None:
        from mlmp_marketplace.v1 import common_pb2, training_pb2

        files = sorted(p for p in self._artifacts.iterdir() if p.is_file())
        if not files:
            return None
        model = files[0]
        data = model.read_bytes()
        header = training_pb2.UploadRunArtifactRequest.Header(
            run_id=self.run_id, file_name=model.name,
            expected=common_pb2.FileDigest(size_bytes=len(data), sha256=hashlib.sha256(data).hexdigest()),
        )  # fmt: skip

        def parts():
            yield training_pb2.UploadRunArtifactRequest(header=header)
            for start in range(0, len(data), UPLOAD_CHUNK):
                yield training_pb2.UploadRunArtifactRequest(chunk=data[start : start + UPLOAD_CHUNK])

        self._call(self._stub.UploadRunArtifact, parts())
        self._echo(f"uploaded {model.name} ({len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()[:12]}…)")
        return model


def _end_with_parent() -> Callable[[], None] | None:
    """Linux: the train command gets SIGTERM when this executor dies, even by SIGKILL, so a killed
    `mp train start` never leaves a training process behind (elsewhere: None, the lease still ends the run)."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    parent = os.getpid()
    libc = ctypes.CDLL(None, use_errno=True)

    def in_child() -> None:
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the executor died before prctl took effect
            os.kill(os.getpid(), signal.SIGTERM)

    return in_child


PR_SET_PDEATHSIG = 1


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
