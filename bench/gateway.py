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
                    slug = f"vendor-{index:04d}"
                    client.post("/api/admin/vendors", json={"slug": slug, "displayName": f"V{index}"})
                    vendor = client.post("/api/admin/tokens", json={"vendor": slug, "scopes": ["deploy:write"]})
                    client.post("/api/deployments", json={"provider": "local", "name": f"model-{index}"},
                                headers={"Authorization": f"Bearer {vendor.json()['secret']}"})  # fmt: skip
            time.sleep(0.5)
            url = f"{base}/api/catalog?pageSize=50"
            figures = {
                ("REST via gateway", CONCURRENCY): load_with("http-get", url, token, concurrency=CONCURRENCY,
                                                             seconds=SECONDS),
                ("direct gRPC", CONCURRENCY): load_with("grpc-catalog", f"127.0.0.1:{grpc_port}", token,
                                                        concurrency=CONCURRENCY, seconds=SECONDS),
                ("REST via gateway", 1): load_with("http-get", url, token, concurrency=1, seconds=SECONDS),
            }  # fmt: skip
        finally:
            process.terminate()
            process.wait(30)
    print(f"catalog page of 50 from {ENTRIES:,} vendors with a deployment each, {SECONDS:.0f}s each")
    for (name, clients), found in figures.items():
        print(
            f"  {name:17} {clients:2} client(s) {found['per_second']:8.0f} calls/s   p50 {found['p50_ms']:6.2f} ms"
            f"   p99 {found['p99_ms']:6.2f} ms"
        )
    rest, grpc = figures[("REST via gateway", CONCURRENCY)], figures[("direct gRPC", CONCURRENCY)]
    print(f"  ratio REST/gRPC throughput {rest['per_second'] / grpc['per_second']:.2f}   (target >= 0.5)")
    print(f"  REST p99 alone {figures[('REST via gateway', 1)]['p99_ms']:.2f} ms   (target < 10 ms)")


if __name__ == "__main__":
    main()
