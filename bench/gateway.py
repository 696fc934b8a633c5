"""Gateway benchmark: the catalog over REST (through the gateway) and over direct gRPC, against one
real mp-server process, load from separate client processes. Prints p50/p99, calls/s and the
REST/gRPC throughput ratio; asserts nothing.

GET /api/catalog?pageSize=50 over 1,000 vendors (each with a deployment), against gRPC
ListCatalog(page_size=50): under load (32 clients) and alone (1 client, for the latency itself).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.baseline import start_baseline
from bench.quick import sized

CONCURRENCY = 32
SECONDS = sized(5.0, 1.0)
ENTRIES = sized(1000, 50)

# A bench measures throughput, not the limits that protect a production server from one caller: its
# server runs with every rate limit out of reach (the defaults stay as they are).
UNLIMITED = {
    f"MP_RATE_{name}{suffix}": "1e9" for name in ("READ", "WRITE", "SIGNAL_INGEST") for suffix in ("", "_BURST")
} | {"MP_SIGNAL_RATE": "1e9", "MP_SIGNAL_RATE_BURST": "1e9"}


def start_server(data_dir: str, **extra_env: str) -> tuple[subprocess.Popen, str, int, int]:
    """An mp-server process on `data_dir` with ports of its own; returns it, the admin token and the ports."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MP_")}
    env.update(MP_DATA_DIR=data_dir, MP_GRPC_ADDR="127.0.0.1:0", MP_HTTP_ADDR="127.0.0.1:0", MP_LOG_LEVEL="WARNING")
    env.update(UNLIMITED)
    env.update(extra_env)
    process = subprocess.Popen(
        [os.path.join(os.path.dirname(sys.executable), "mp-server")], env=env, stdout=subprocess.PIPE, text=True
    )
    token, grpc_port, http_port = "", 0, 0
    assert process.stdout is not None
    while not http_port:
        line = process.stdout.readline()
        if not line:
            raise SystemExit("mp-server did not start")
        token = token or (re.findall(r"\b(mpat_\w+)", line) or [""])[0]
        if found := re.search(r"gRPC listening on [\d.]+:(\d+)", line):
            grpc_port = int(found.group(1))
        if found := re.search(r"HTTP listening on http://[\d.]+:(\d+)", line):
            http_port = int(found.group(1))
    return process, token, grpc_port, http_port


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process, all its threads (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def waiting_seconds(pid: int) -> float:
    """Seconds the process's threads have spent runnable but waiting for a CPU (Linux schedstat): on a
    shared machine, the part of a latency no code of ours can remove."""
    total = 0
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            total += int((task / "schedstat").read_text().split()[1])
        except (OSError, IndexError, ValueError):
            continue
    return total / 1e9


def load_with(
    kind: str, target: str, token: str, *, concurrency: int, seconds: float, server_pid: int | None = None
) -> dict[str, float]:
    """Runs bench/load.py in its own process and returns its figures; with `server_pid`, also the
    server's CPU milliseconds per call, which the machine's other work does not skew as it skews calls/s."""
    before = cpu_seconds(server_pid) if server_pid else 0.0
    waited = waiting_seconds(server_pid) if server_pid else 0.0
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "bench.load", kind, target, token, str(seconds), str(concurrency)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    found = json.loads(out.stdout)
    if server_pid:
        found["cpu_ms"] = (cpu_seconds(server_pid) - before) * 1000 / max(1, found["count"])
        found["wait_ms_per_s"] = (waiting_seconds(server_pid) - waited) * 1000 / (time.perf_counter() - started)
    return found


def line(name: str, found: dict[str, float], clients: int = CONCURRENCY) -> str:
    cpu = f"   server CPU {found['cpu_ms']:5.2f} ms/call" if "cpu_ms" in found else ""
    if "wait_ms_per_s" in found:
        cpu += f", waited for a CPU {found['wait_ms_per_s']:4.0f} ms/s"
    return (
        f"  {name:28} {clients:2} client(s) {found['per_second']:8.0f} calls/s   p50 {found['p50_ms']:6.2f} ms"
        f"   p99 {found['p99_ms']:6.2f} ms{cpu}"
    )


def against_starlette(
    url: str, token: str, work: Path, server_pid: int | None = None
) -> tuple[dict[str, float], dict[str, float]]:
    """`url` under load, then the bare Starlette baseline serving the same bytes; returns both figures."""
    body = httpx.get(url, headers={"Authorization": f"Bearer {token}"}).raise_for_status().content
    measured = load_with("http-get", url, token, concurrency=CONCURRENCY, seconds=SECONDS, server_pid=server_pid)
    baseline, port = start_baseline(body, work)
    try:
        bare = load_with(
            "http-get", f"http://127.0.0.1:{port}/", token, concurrency=CONCURRENCY, seconds=SECONDS,
            server_pid=baseline.pid if server_pid else None,
        )  # fmt: skip
    finally:
        baseline.terminate()
        baseline.wait(30)
    return measured, bare


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        process, token, grpc_port, http_port = start_server(str(work / "data"), MP_DEMO_ROUND="false")
        try:
            base = f"http://127.0.0.1:{http_port}"
            headers = {"Authorization": f"Bearer {token}"}
            with httpx.Client(base_url=base, headers=headers) as client:
                for index in range(ENTRIES):
                    slug = f"vendor-{index:04d}"
                    client.post("/api/admin/vendors", json={"slug": slug, "displayName": f"V{index}"})
                    vendor = client.post("/api/admin/tokens", json={"vendor": slug, "scopes": ["deploy:write"]})
                    client.post("/api/deployments", json={"provider": "local", "name": f"model-{index}"},
                                headers={"Authorization": f"Bearer {vendor.json()['secret']}"})  # fmt: skip
            time.sleep(0.5)
            url = f"{base}/api/catalog?pageSize=50"
            rest, bare = against_starlette(url, token, work, process.pid)
            grpc = load_with("grpc-catalog", f"127.0.0.1:{grpc_port}", token, concurrency=CONCURRENCY,
                             seconds=SECONDS, server_pid=process.pid)  # fmt: skip
            alone = load_with("http-get", url, token, concurrency=1, seconds=SECONDS, server_pid=process.pid)
        finally:
            process.terminate()
            process.wait(30)
    print(f"catalog page of 50 from {ENTRIES:,} vendors with a deployment each, {SECONDS:.0f}s each")
    print(line("REST via gateway", rest))
    print(line("direct gRPC", grpc))
    print(line("starlette, same bytes", bare))
    print(line("REST via gateway", alone, clients=1))
    print(f"  ratio REST/starlette throughput {rest['per_second'] / bare['per_second']:.2f}   (target >= 0.3)")
    print(f"  ratio REST/gRPC throughput      {rest['per_second'] / grpc['per_second']:.2f}   (target >= 0.8)")
    print(f"  REST p99 {rest['p99_ms']:.2f} ms, alone {alone['p99_ms']:.2f} ms   (target < 10 ms)")
    print_cpu_ratios(rest, grpc, bare)


def print_cpu_ratios(rest: dict[str, float], grpc: dict[str, float] | None, bare: dict[str, float]) -> None:
    """Calls per server CPU second, as ratios: on a shared machine calls/s follow whatever else runs."""
    print(f"  ratio REST/starlette per CPU second {bare['cpu_ms'] / rest['cpu_ms']:.2f}")
    if grpc is not None:
        print(f"  ratio REST/gRPC per CPU second      {grpc['cpu_ms'] / rest['cpu_ms']:.2f}")


if __name__ == "__main__":
    main()
