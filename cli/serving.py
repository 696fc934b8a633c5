"""Where deployments run: the project's inference server on this machine, or in a RunPod pod.

A provider starts the server with the deployment's token in its environment only (never in the
project folder, mp.yaml or a log; a rotated token reaches a local server through a 0600 named pipe
in the user's state folder, which stores nothing), waits for its /ping to answer 200, and stops it again. What the
CLI needs later to stop a local deployment or show its log (pid, port, log file) is kept in the
user's state folder, outside the project.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import click
import httpx
import platformdirs

PING_TIMEOUT = 120.0
RUNPOD_PROXY = "https://{pod_id}-{port}.proxy.runpod.net"  # RunPod's public URL of a pod's HTTP port


def state_dir() -> Path:
    override = os.environ.get("MP_STATE_DIR")
    folder = Path(override) if override else Path(platformdirs.user_state_dir("ml-marketplace")) / "deployments"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@dataclass(frozen=True)
class LocalRecord:
    deployment_id: str
    pid: int
    port: int
    log: str
    project: str

    @classmethod
    def load(cls, deployment_id: str) -> LocalRecord | None:
        path = state_dir() / f"{deployment_id}.json"
        return cls(**json.loads(path.read_text())) if path.exists() else None

    def save(self) -> None:
        path = state_dir() / f"{self.deployment_id}.json"
        path.write_text(json.dumps(asdict(self)))

    def forget(self) -> None:
        (state_dir() / f"{self.deployment_id}.json").unlink(missing_ok=True)
        token_pipe(self.deployment_id).unlink(missing_ok=True)


def token_pipe(deployment_id: str) -> Path:
    return state_dir() / f"{deployment_id}.token-pipe"


def hand_over_token(deployment_id: str, token: str) -> bool:
    """Sends a rotated token to the local server's publisher through its named pipe; False when no
    publisher listens there (the server is gone, or publishes some other way)."""
    try:
        fd = os.open(token_pipe(deployment_id), os.O_WRONLY | os.O_NONBLOCK)
    except OSError:  # ENXIO: nobody reads; ENOENT: no pipe
        return False
    with os.fdopen(fd, "w") as pipe:
        pipe.write(token + "\n")
    return True


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_local(deployment_id: str, command: str, cwd: Path, port: int, env: dict[str, str]) -> LocalRecord:
    """Starts `command` detached (it outlives this CLI), its output to a log file in the state folder."""
    log = state_dir() / f"{deployment_id}.log"
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"  # our python first
    full_env = {**{k: v for k, v in os.environ.items() if not k.startswith("MP_")}, **env, "PATH": path,
                "PORT": str(port), "PYTHONUNBUFFERED": "1"}  # fmt: skip
    if "MP_DEPLOYMENT_TOKEN" in env:  # `mp deployments rotate-token` hands the running server a new one here
        pipe = token_pipe(deployment_id)
        pipe.unlink(missing_ok=True)
        os.mkfifo(pipe, 0o600)
        full_env["MP_DEPLOYMENT_TOKEN_PIPE"] = str(pipe)
    with open(log, "ab") as sink:
        process = subprocess.Popen(
            shlex.split(command), cwd=cwd, env=full_env, stdin=subprocess.DEVNULL, stdout=sink, stderr=sink,
            start_new_session=True,
        )  # fmt: skip
    record = LocalRecord(deployment_id, process.pid, port, str(log), str(cwd))
    record.save()
    return record


def alive(pid: int) -> bool:
    """Whether the process still runs. A child of this process that exited is reaped here, since
    until then it would still answer as a zombie."""
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:
        pass  # not our child (a deployment started by an earlier command)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_local(record: LocalRecord, grace: float = 10.0) -> None:
    if alive(record.pid):
        os.killpg(record.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while alive(record.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if alive(record.pid):
            os.killpg(record.pid, signal.SIGKILL)
    record.forget()


def log_tail(path: Path, lines: int = 20) -> str:
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def wait_for_ping(url: str, still_running, timeout: float = PING_TIMEOUT) -> None:
    """Until GET {url}/ping answers 200 (204: still loading). Raises ClickException on exit or timeout."""
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    while time.monotonic() < deadline:
        problem = still_running()
        if problem:
            raise click.ClickException(problem)
        try:
            response = httpx.get(url.rstrip("/") + "/ping", timeout=5)
            if response.status_code == 200:
                return
            last = f"HTTP {response.status_code}" + (" (loading)" if response.status_code == 204 else "")
        except httpx.HTTPError as error:
            last = type(error).__name__
        time.sleep(0.25)
    raise click.ClickException(f"{url}/ping did not answer 200 within {timeout:.0f} s (last: {last})")


def runpod_endpoint(pod_id: str, port: int) -> str:
    template = os.environ.get("MP_RUNPOD_PROXY_URL", RUNPOD_PROXY)  # tests point it at a local fake
    return template.format(pod_id=pod_id, port=port)
