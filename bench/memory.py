"""Idle memory benchmark; prints figures, asserts nothing.

Resident memory (VmRSS) of an idle `mp-server` on a fresh data directory, with the demo round off and
on (on: its first start builds and publishes the round), against a bare Starlette app under uvicorn.
Target: idle mp-server under 100 MB.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from pathlib import Path

from bench.baseline import start_baseline
from bench.gateway import start_server
from bench.quick import sized

SETTLE = sized(3.0, 1.0)  # seconds idle before reading: start-up's last tasks finish


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def idle_rss(process: subprocess.Popen) -> float:
    try:
        time.sleep(SETTLE)
        return rss_mb(process.pid)
    finally:
        process.terminate()
        process.wait(30)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        figures = {
            "mp-server, demo round off": idle_rss(start_server(str(work / "off"), MP_DEMO_ROUND="false")[0]),
            "mp-server, demo round on": idle_rss(start_server(str(work / "on"), MP_DEMO_ROUND="true")[0]),
            "mp-server, restarted": idle_rss(start_server(str(work / "on"), MP_DEMO_ROUND="true")[0]),
        }
        bare = idle_rss(start_baseline(b"{}", work)[0])
    print("idle resident memory (VmRSS), fresh data directory")
    for name, found in figures.items():
        print(f"  {name:28} {found:6.1f} MB   ratio to starlette {found / bare:.2f}")
    print(f"  {'bare starlette + uvicorn':28} {bare:6.1f} MB   (target: mp-server < 100 MB)")


if __name__ == "__main__":
    main()
