"""Download benchmark: `mp data pull` of one big round file from one real mp-server process, against curl
on the same signed URL and against curl on `python -m http.server` serving the same file (the simplest
static server and client there are). Prints figures and ratios; asserts nothing.

Each figure is the median of ROUNDS runs, alternating, so the noise of a shared machine falls on all
of them alike. `mp data pull` includes the CLI's start-up, the signing call and the sha256 check;
`mp data info` (start-up and one call) shows that fixed part. Beside the wall time, the CPU seconds the
client and the server spent: on a busy machine they move much less than the wall time does.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from bench.gateway import start_server
from bench.quick import sized

SIZE = sized(200, 8) * 1024 * 1024
ROUNDS = sized(5, 1)


def server_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def children_cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def timed(run: Callable[[], object], server_pid: int) -> tuple[float, float, float]:
    """(wall seconds, client CPU seconds, server CPU seconds) of one run."""
    client, server = children_cpu(), server_cpu(server_pid)
    started = time.perf_counter()
    run()
    wall = time.perf_counter() - started
    return wall, children_cpu() - client, server_cpu(server_pid) - server


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def static_server(folder: Path) -> tuple[subprocess.Popen, str]:
    """`python -m http.server` on `folder`, once it answers; returns it and its URL."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(folder)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/"
    for _ in range(100):
        try:
            httpx.head(url)
            return process, url
        except httpx.TransportError:
            time.sleep(0.05)
    process.terminate()
    raise SystemExit("python -m http.server did not start")


def main() -> None:
    curl = shutil.which("curl")
    if not curl:
        print("downloads: curl is not installed, so there is no baseline; skipped")
        return
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        process, token, _grpc_port, http_port = start_server(str(work / "data"), MP_DEMO_ROUND="false")
        static = None
        base = f"http://127.0.0.1:{http_port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("MP_")}
        env.update(MP_API_URL=base, MP_TOKEN=token, MP_CONFIG_DIR=str(work / "cfg"))
        mp = os.path.join(os.path.dirname(sys.executable), "mp")
        try:
            served = work / "static"
            served.mkdir()
            big = served / "big.csv"
            with open(big, "wb") as handle:
                for _ in range(SIZE // (1024 * 1024)):
                    handle.write(os.urandom(1024 * 1024))
            subprocess.run([mp, "admin", "rounds", "publish", "--file", str(big)], env=env, check=True,
                           capture_output=True)  # fmt: skip
            info = subprocess.run([mp, "data", "info", "--round", "current", "--json"], env=env, check=True,
                                  capture_output=True, text=True)  # fmt: skip
            number = json.loads(info.stdout)["number"]
            signed = httpx.post(
                f"{base}/api/datasets/signed-urls", json={"roundNumber": number, "expiresIn": "3600s"},
                headers={"Authorization": f"Bearer {token}"},
            ).raise_for_status().json()["urls"][0]["url"]  # fmt: skip
            static, static_url = static_server(served)

            def pull() -> None:
                shutil.rmtree(work / "pulled", ignore_errors=True)
                subprocess.run([mp, "data", "pull", "--round", str(number), "--dest", str(work / "pulled"),
                                "--json"], env=env, check=True, capture_output=True)  # fmt: skip

            def curl_of(url: str) -> Callable[[], None]:
                # Into a new file, as the pull writes one: rewriting an existing file is cheaper for the kernel.
                def run() -> None:
                    (work / "curl.bin").unlink(missing_ok=True)
                    subprocess.run([curl, "-sSf", "-o", str(work / "curl.bin"), url], check=True)

                return run

            def info() -> None:
                subprocess.run([mp, "data", "info", "--round", str(number), "--json"], env=env, check=True,
                               capture_output=True)  # fmt: skip

            runs: dict[str, list[tuple[float, float, float]]] = {
                "pull": [], "curl ours": [], "curl static": [], "info": []
            }  # fmt: skip
            for _ in range(ROUNDS):
                runs["pull"].append(timed(pull, process.pid))
                runs["curl ours"].append(timed(curl_of(signed), process.pid))
                runs["curl static"].append(timed(curl_of(static_url + "big.csv"), static.pid))
                runs["info"].append(timed(info, process.pid))
        finally:
            process.terminate()
            process.wait(30)
            if static:
                static.terminate()
                static.wait(30)
    median = {name: statistics.median(wall for wall, _, _ in times) for name, times in runs.items()}
    cpu = {
        name: (statistics.median(c for _, c, _ in times), statistics.median(s for _, _, s in times))
        for name, times in runs.items()
    }
    mb = SIZE / 2**20

    def figure(label: str, name: str) -> str:
        client, server = cpu[name]
        return (f"  {label:50} {median[name]:6.3f} s = {mb / median[name]:5.0f} MB/s"
                f"   CPU client {client:5.2f} s, server {server:5.2f} s")  # fmt: skip

    print(f"downloads: one {mb:.0f} MB file, median of {ROUNDS} alternating runs")
    print(figure("mp data pull (start-up, signing, sha256 included)", "pull"))
    print(f"  {'of which mp data info (start-up and one call)':50} {median['info']:6.3f} s"
          f"              CPU client {cpu['info'][0]:5.2f} s")  # fmt: skip
    print(figure("curl of the same signed URL (our server)", "curl ours"))
    print(figure("curl of python -m http.server, same file", "curl static"))
    print(f"  ratio pull / curl on our URL (throughput)          {median['curl ours'] / median['pull']:.2f}")
    print(f"  ratio our server / http.server, both with curl     {median['curl static'] / median['curl ours']:.2f}")
    print(f"  ratio pull / curl on http.server, end to end       {median['curl static'] / median['pull']:.2f}"
          "   (target >= 0.8)")  # fmt: skip


if __name__ == "__main__":
    main()
