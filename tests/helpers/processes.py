"""The real programs as a user runs them: `mp-server` and `mp` as subprocesses."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

BIN = Path(sys.executable).parent


# An ignored signal stays ignored across exec, and a shell starts background jobs with SIGINT ignored
# (`make test &`): without this, the program under test never sees the test's Ctrl-C.
_SIGINT_AT_DEFAULT = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])"
)


def interruptible(argv: list[str]) -> list[str]:
    """`argv` started with SIGINT at its default action, for a test that sends it Ctrl-C."""
    return [sys.executable, "-c", _SIGINT_AT_DEFAULT, *argv]


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MP_")}
    env.update(extra)
    return env


class ServerProcess:
    """`mp-server` (or `mp-server gateway …` with args) running until stop(); its output is parsed."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        self.env = env
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self.process = subprocess.Popen(
            [str(BIN / "mp-server"), *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._pump_thread = threading.Thread(target=self._pump, daemon=True)
        self._pump_thread.start()
        self.admin_token = ""
        self.grpc_port = self.http_port = 0
        try:
            self._wait_until_listening()
        except BaseException:
            self.process.kill()
            self.process.wait()
            self._pump_thread.join(5)
            assert self.process.stdout is not None
            self.process.stdout.close()  # no pipe left for the garbage collector to complain about later
            raise

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._queue.put(line)
        self._queue.put(None)

    def _wait_until_listening(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not self.http_port:
            try:
                line = self._queue.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise TimeoutError("mp-server did not start:\n" + "".join(self.lines)) from None
            if line is None:
                raise RuntimeError("mp-server exited:\n" + "".join(self.lines))
            self.lines.append(line)
            if token := re.search(r"\b(mpat_\w+)", line):
                self.admin_token = self.admin_token or token.group(1)
            if grpc_port := re.search(r"gRPC listening on [\d.]+:(\d+)", line):
                self.grpc_port = int(grpc_port.group(1))
            if http_port := re.search(r"HTTP listening on http://[\d.]+:(\d+)", line):
                self.http_port = int(http_port.group(1))

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def output(self) -> str:
        while True:
            try:
                line = self._queue.get_nowait()
            except queue.Empty:
                return "".join(self.lines)
            if line is None:
                return "".join(self.lines)
            self.lines.append(line)

    def stop(self, timeout: float = 20) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise
        finally:
            self._pump_thread.join(5)
            # Closing the pipe while the pump still reads it would block for good (the reader holds its lock).
            assert not self._pump_thread.is_alive(), (
                "a process mp-server started outlived it and still holds its output:\n" + "".join(self.lines)
            )
            assert self.process.stdout is not None
            self.process.stdout.close()


def run(program: str, *args: str, env: dict[str, str], input: str | None = None, timeout: float = 60):
    return subprocess.run(
        [str(BIN / program), *args], env=env, input=input, capture_output=True, text=True, timeout=timeout
    )


def mp_in(folder: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """`mp` run inside a project folder, as a vendor runs it there."""
    return subprocess.run([str(BIN / "mp"), *args], cwd=folder, env=env, capture_output=True, text=True, timeout=120)


def mp_server_env(data_dir: Path, database_url: str = "", **extra_env: str) -> dict[str, str]:
    """The environment of an mp-server on free ports (unless `extra_env` names its addresses) with its data in
    `data_dir`: over the embedded database, or over `database_url` when it is PostgreSQL, migrated here first."""
    env = clean_env(
        **{"MP_DATA_DIR": str(data_dir), "MP_GRPC_ADDR": "127.0.0.1:0", "MP_HTTP_ADDR": "127.0.0.1:0", **extra_env}
    )
    if database_url.startswith("postgresql"):
        env["MP_DATABASE_URL"] = database_url
        migrated = run("mp-server", "migrate", env=env)
        assert migrated.returncode == 0, migrated.stderr
        assert "migrated from empty" in migrated.stdout
    return env


def start_server(database_url: str, data_dir: Path, **extra_env: str) -> ServerProcess:
    """mp-server on free ports over the test's database (migrated first when it is PostgreSQL)."""
    return ServerProcess(mp_server_env(data_dir, database_url, **extra_env))
