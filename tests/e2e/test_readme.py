"""The README's vendor path, run as written: the shell lines between its `vendor-path` markers, in order, by
`mp` installed from the wheel the way pipx installs it, against a real mp-server.

A reader fills in what the server printed and what earlier commands printed; so does this test, and nothing
else: `<admin token>` (printed at the first start), `<vendor token>` (printed by `mp admin tokens create`),
`DEPLOYMENT_ID` (printed by `mp deploy`) and the HTTP port (free, instead of 3010). `mp signals tail` follows
until Ctrl-C: it is read until it shows a signal, then interrupted as a reader would.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.helpers.processes import ServerProcess
from tests.helpers.wheel import REPO

pytestmark = pytest.mark.e2e

SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"
START, END = "<!-- vendor-path", "<!-- /vendor-path -->"
README_URL = "http://localhost:3010"
CWD_MARK = "@@cwd@@"


def vendor_path_lines(readme: str) -> list[str]:
    """The shell lines of the fenced blocks between the markers, comments and blank lines dropped."""
    section = readme[readme.index(START) : readme.index(END)]
    lines: list[str] = []
    for block in re.findall(r"^```[^\n]*\n(.*?)^```", section, flags=re.M | re.S):
        for line in block.splitlines():
            command = re.sub(r"\s+#.*$", "", line).strip()
            if command and not command.startswith("#"):
                lines.append(command)
    return lines


def test_the_vendor_path_section_is_found_and_whole():
    lines = vendor_path_lines((REPO / "README.md").read_text())
    assert lines[0].startswith("mp login ")
    assert "<admin token>" in lines[0]
    assert any(line.startswith("mp deploy") for line in lines)
    assert lines[-1].endswith("DEPLOYMENT_ID")


class Reader:
    """Runs the lines one by one in bash, as a reader pastes them, keeping the working directory across lines."""

    def __init__(self, server: ServerProcess, home: Path, path: str) -> None:
        self.cwd = home
        self.filled = {"<admin token>": server.admin_token, README_URL: server.api_url}
        self.env = {"HOME": str(home), "PATH": path, "LANG": "C.UTF-8", "MP_CONFIG_DIR": str(home / ".config" / "mp"),
                    "MP_STATE_DIR": str(home / ".local" / "state" / "mp")}  # fmt: skip
        for name in ("PIP_CONFIG_FILE", "PIP_FIND_LINKS", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "TMPDIR"):
            if name in os.environ:  # how this machine reaches the package registry, as the reader's would
                self.env[name] = os.environ[name]

    def fill(self, line: str) -> str:
        for placeholder, value in self.filled.items():
            line = line.replace(placeholder, value)
        missing = re.findall(r"<[a-z ]+>|\b[A-Z]+_ID\b", line)
        assert not missing, f"nothing printed so far fills {missing} in: {line}"
        return line

    def run(self, line: str, timeout: float = 300) -> str:
        script = f"set -e\n{self.fill(line)}\necho {CWD_MARK}\"$PWD\""
        done = subprocess.run(["bash", "-c", script], cwd=self.cwd, env=self.env, capture_output=True, text=True,
                              timeout=timeout)  # fmt: skip
        assert done.returncode == 0, f"`{line}` exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
        out, _, cwd = done.stdout.rpartition(CWD_MARK)
        self.cwd = Path(cwd.strip())
        return out

    def follow_until_a_signal(self, line: str, timeout: float = 90) -> str:
        process = subprocess.Popen(["bash", "-c", f"exec {self.fill(line)}"], cwd=self.cwd, env=self.env,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
        assert process.stdout is not None
        lines: queue.Queue[str] = queue.Queue()
        pump = threading.Thread(target=lambda: [lines.put(got) for got in process.stdout], daemon=True)  # type: ignore[union-attr]
        pump.start()
        seen: list[str] = []
        deadline = time.monotonic() + timeout
        try:
            while not any("acme/" in got for got in seen) and time.monotonic() < deadline:
                try:
                    seen.append(lines.get(timeout=max(0.01, deadline - time.monotonic())))
                except queue.Empty:
                    break
        finally:
            process.send_signal(signal.SIGINT)  # Ctrl-C, as the reader stops it
            process.wait(timeout=10)
            pump.join(10)
            process.stdout.close()
        return "".join(seen)


@pytest.mark.timeout(900)  # a wheel build and the template's requirements from the package index
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the README's embedded default
def test_the_readmes_vendor_path_runs_as_written(server: ServerProcess, pipx_bin: Path, tmp_path: Path):
    reader = Reader(server, tmp_path, f"{pipx_bin}:{SYSTEM_PATH}")
    deployment = ""
    try:
        for line in vendor_path_lines((REPO / "README.md").read_text()):
            if line.startswith("mp signals tail"):
                shown = reader.follow_until_a_signal(line)
                if f"acme/{deployment}" not in shown:  # attributed: the vendor and its deployment
                    log = reader.run(f"mp deployments logs {deployment}")
                    pytest.fail(f"`{line}` showed no signal of {deployment}:\n{shown}\nits log:\n{log}")
                continue
            out = reader.run(line)
            if line.startswith("mp admin tokens create"):
                reader.filled["<vendor token>"] = out.strip()
            if line.startswith("mp deploy"):
                deployment = re.search(r"\b(dep_\w+)", out).group(1)  # type: ignore[union-attr]
                reader.filled["DEPLOYMENT_ID"] = deployment
            if line.startswith("mp deployments list"):
                deployment = ""  # the path's own last line stops it
    finally:
        if deployment:
            subprocess.run(["mp", "deployments", "stop", deployment], cwd=reader.cwd, env=reader.env,
                           capture_output=True, timeout=60)  # fmt: skip
