"""Gateway benchmark: the same list call over REST (through the gateway) and over direct gRPC,
against one real mp-server process, load from separate client processes. Prints p50/p99, calls/s
and the REST/gRPC throughput ratio; asserts nothing.

The catalog (GET /api/catalog) is not served yet, so the call measured is the closest one that is:
GET /api/admin/vendors?pageSize=50 over 1,000 vendors, against gRPC ListVendors(page_size=50).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time

import httpx

CONCURRENCY = 32
SECONDS = 5.0
ENTRIES = 1000


def start_server(data_dir: str, **extra_env: str) -> tuple[subprocess.Popen, str, int, int]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MP_")}
    env.update(MP_DATA_DIR=data_dir, MP_GRPC_ADDR="127.0.0.1:0", MP_HTTP_ADDR="127.0.0.1:0", MP_LOG_LEVEL="WARNING")
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


def load_with(kind: str, target: str, token: str, *, concurrency: int, seconds: float) -> dict[str, float]:
    """Runs bench/load.py in its own process and returns its figures."""
    out = subprocess.run(
        [sys.executable, "-m", "bench.load", kind, target, token, str(seconds), str(concurrency)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(out.stdout)


def main() -> None:
    with tempfile.TemporaryDirectory() as data_dir:
        process, token, grpc_port, http_port = start_server(data_dir)
        try:
            base = f"http://127.0.0.1:{http_port}"
            headers = {"Authorization": f"Bearer {token}"}
            with httpx.Client(base_url=base, headers=headers) as client:
                for index in range(ENTRIES):
                    client.post("/api/admin/vendors", json={"slug": f"vendor-{index:04d}", "displayName": f"V{index}"})
            time.sleep(0.5)
            rest = load_with("http-get", f"{base}/api/admin/vendors?pageSize=50", token, concurrency=CONCURRENCY,
                             seconds=SECONDS)  # fmt: skip
            grpc = load_with("grpc-list-vendors", f"127.0.0.1:{grpc_port}", token, concurrency=CONCURRENCY,
                             seconds=SECONDS)  # fmt: skip
        finally:
            process.terminate()
            process.wait(30)
    print(f"list of 50 from {ENTRIES:,} vendors, {CONCURRENCY} concurrent clients, {SECONDS:.0f}s each")
    for name, figures in (("REST via gateway", rest), ("direct gRPC", grpc)):
        print(
            f"  {name:17} {figures['per_second']:8.0f} calls/s   p50 {figures['p50_ms']:6.2f} ms"
            f"   p99 {figures['p99_ms']:6.2f} ms"
        )
    print(f"  ratio REST/gRPC throughput {rest['per_second'] / grpc['per_second']:.2f}   (target >= 0.5)")
    print(f"  REST p99 {rest['p99_ms']:.2f} ms   (target < 10 ms)")


if __name__ == "__main__":
    main()
