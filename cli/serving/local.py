"""The local serving provider: the project's inference server as a process on this machine.

It starts the server with the deployment's token in its environment only (never in the project
folder, mp.yaml or a log; a rotated token reaches it through a 0600 named pipe in the user's state
folder, which stores nothing), waits for its /ping to answer 200, and stops it again. What the CLI
needs later to stop a local deployment or show its log (pid, port, log file) is kept in the user's
state folder, outside the project.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sysconfig
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import platformdirs

from mlmp_cli import output
from mlmp_cli.context import Context

if TYPE_CHECKING:
    from mlmp_cli.project import Project


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


def start_local(deployment_id: str, project: Project, port: int, env: dict[str, str]) -> LocalRecord:
    """Starts the project's serve command detached (it outlives this CLI) in the project's environment
    (cli/project_env.py), its output to a log file in the state folder."""
    from mlmp_cli.project_env import project_command

    log = state_dir() / f"{deployment_id}.log"
    base_env = {**{k: v for k, v in os.environ.items() if not k.startswith("MP_")}, **env, "PORT": str(port),
                "PYTHONUNBUFFERED": "1"}  # fmt: skip
    command = project_command(project.root, project.python, project.serve_command, "serve.command", base_env)
    full_env = command.env
    # The marketplace's publisher for a project whose environment lacks it (ml-marketplace is not on the package
    # index yet): mp's own packages, which the template adds after the project's (site.addsitedir).
    full_env["MP_PUBLISHER_SITE"] = sysconfig.get_paths()["purelib"]
    if "MP_DEPLOYMENT_TOKEN" in env:  # `mp deployments rotate-token` hands the running server a new one here
        pipe = token_pipe(deployment_id)
        pipe.unlink(missing_ok=True)
        os.mkfifo(pipe, 0o600)
        full_env["MP_DEPLOYMENT_TOKEN_PIPE"] = str(pipe)
    with open(log, "ab") as sink:
        sink.write(f"mp: starting `{project.serve_command}` ({command.describe()})\n".encode())
        sink.flush()
        try:
            process = subprocess.Popen(
                command.argv, cwd=project.root, env=full_env, stdin=subprocess.DEVNULL, stdout=sink, stderr=sink,
                start_new_session=True,
            )  # fmt: skip
        except OSError as error:  # found, but not startable: no permission, not an executable
            token_pipe(deployment_id).unlink(missing_ok=True)
            raise click.ClickException(f"cannot start serve.command `{project.serve_command}`: {error}") from None
    record = LocalRecord(deployment_id, process.pid, port, str(log), str(project.root))
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


def show_log(deployment_id: str, lines: int, follow: bool) -> None:
    """The last `lines` of the server's log; with `follow`, new ones until it stops (or Ctrl-C)."""
    log = state_dir() / f"{deployment_id}.log"
    if not log.exists():
        raise click.ClickException(
            f"no log of {deployment_id} on this machine: logs are kept for local deployments started here "
            "(a RunPod deployment's logs are in RunPod's console)"
        )
    output.echo(log_tail(log, lines))
    if not follow:
        return
    with open(log, errors="replace") as source:
        source.seek(0, 2)
        try:
            while LocalRecord.load(deployment_id) is not None:
                line = source.readline()
                if line:
                    output.echo(line.rstrip("\n"))
                else:
                    time.sleep(0.2)
        except KeyboardInterrupt:
            pass


def serve_locally(ctx: Context, deployment: Any, project: Project, port: int | None, env: dict[str, str],
                  quiet: bool) -> Any:  # fmt: skip
    """Starts the project's serve command for the deployment, waits for /ping, marks it live; the
    process is stopped again if it never answers."""
    from mlmp_cli.serving.deployments import set_endpoint, transition
    from mlmp_cli.serving.ping import wait_for_ping

    port = port or free_port()
    endpoint = f"http://127.0.0.1:{port}"
    set_endpoint(ctx, deployment.id, endpoint)
    transition(ctx, deployment.id, "starting")
    record = start_local(deployment.id, project, port, env)
    if not quiet:
        output.note(
            f"deployment {deployment.id}: starting `{project.serve_command}` on port {port} (log: {record.log})"
        )

    def exited() -> str:
        if alive(record.pid):
            return ""
        return "the inference server exited before answering /ping:\n" + log_tail(Path(record.log))

    try:
        with output.waiting(f"waiting for {endpoint}/ping to answer 200 (the model is loading)", enabled=not quiet):
            wait_for_ping(endpoint, exited)
    except BaseException:
        stop_local(LocalRecord.load(deployment.id) or record)
        raise
    return transition(ctx, deployment.id, "live", external_id=f"pid:{record.pid}")
