"""A build child (server/datasets/building.py) ends with a server killed mid-build, instead of living on."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads processes from /proc")

# A server (here a bare script) whose build is still running when it is killed.
SERVER = """
import asyncio, time
from mlmp_server.datasets.building import ChildBuilder
asyncio.run(ChildBuilder().run(time.sleep, 120))
"""


def _status(pid: int) -> dict[str, str]:
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:  # gone
        return {}
    return dict(line.split(":\t", 1) for line in lines if ":\t" in line)


def _alive(pid: int) -> bool:
    return not _status(pid).get("State", "Z").startswith("Z")  # a zombie has ended; only its reaping is left


def _build_children(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and _status(int(entry.name)).get("PPid") == str(parent):
            command = (entry / "cmdline").read_bytes()
            if b"spawn_main" in command:
                found.append(int(entry.name))
    return found


def test_a_build_child_ends_when_its_server_is_killed():
    server = subprocess.Popen([sys.executable, "-c", SERVER])
    children: list[int] = []
    try:
        deadline = time.monotonic() + 30
        while not children:
            assert time.monotonic() < deadline, "the build child never started"
            assert server.poll() is None, "the server script failed"
            time.sleep(0.1)
            children = _build_children(server.pid)
        server.kill()
        server.wait()
        deadline = time.monotonic() + 10
        while any(_alive(child) for child in children):
            assert time.monotonic() < deadline, "the build child outlived its killed server"
            time.sleep(0.1)
    finally:
        if server.poll() is None:
            server.kill()
        for child in children:
            if _alive(child):
                subprocess.run(["kill", "-9", str(child)], check=False)
