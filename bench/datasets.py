"""Dataset benchmark against one real mp-server process; prints figures, asserts nothing.

1. GET /api/rounds/current, 32 concurrent clients, against direct gRPC GetCurrentRound and a bare Starlette
   app serving the same bytes.
2. `mp data pull` of a 200 MB round, as a throughput ratio to plain `curl` of the same signed URL.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.gateway import CONCURRENCY, SECONDS, against_starlette, line, load_with, print_cpu_ratios, start_server
from bench.quick import sized

SIZE = sized(200, 8) * 1024 * 1024


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        process, token, grpc_port, http_port = start_server(str(work / "data"))
        base = f"http://127.0.0.1:{http_port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("MP_")}
        env.update(MP_API_URL=base, MP_TOKEN=token, MP_CONFIG_DIR=str(work / "cfg"))
        mp = os.path.join(os.path.dirname(sys.executable), "mp")
        try:
            current, bare = against_starlette(f"{base}/api/rounds/current", token, work, process.pid)
            direct = load_with("grpc-round", f"127.0.0.1:{grpc_port}", token, concurrency=CONCURRENCY,
                               seconds=SECONDS, server_pid=process.pid)  # fmt: skip
            big = work / "big.csv"
            with open(big, "wb") as handle:
                for _ in range(SIZE // (1024 * 1024)):
                    handle.write(os.urandom(1024 * 1024))
            subprocess.run([mp, "admin", "rounds", "publish", "--file", str(big)], env=env, check=True,
                           capture_output=True)  # fmt: skip
            info = json.loads(subprocess.run([mp, "data", "info", "--round", "2", "--json"], env=env, check=True,
                                             capture_output=True, text=True).stdout)  # fmt: skip
            assert info["files"][0]["digest"]["sizeBytes"] == str(SIZE)

            started = time.perf_counter()
            subprocess.run([mp, "data", "pull", "--round", "2", "--dest", str(work / "pulled"), "--json"], env=env,
                           check=True, capture_output=True)  # fmt: skip
            mp_seconds = time.perf_counter() - started

            signed = json.loads(subprocess.run(
                [sys.executable, "-c", _SIGN_ONE, base, token], capture_output=True, text=True, check=True,
            ).stdout)  # fmt: skip
            curl = shutil.which("curl")
            curl_seconds = None
            if curl:
                started = time.perf_counter()
                subprocess.run([curl, "-sSf", "-o", str(work / "curl.bin"), signed["url"]], check=True)
                curl_seconds = time.perf_counter() - started
        finally:
            process.terminate()
            process.wait(30)
    print(f"GET /api/rounds/current, {CONCURRENCY} concurrent clients, {current['count']:,} calls")
    print(line("REST via gateway", current))
    print(line("direct gRPC", direct))
    print(line("starlette, same bytes", bare))
    print(f"  ratio REST/starlette throughput {current['per_second'] / bare['per_second']:.2f}   (target >= 0.3)")
    print(f"  ratio REST/gRPC throughput      {current['per_second'] / direct['per_second']:.2f}   (target >= 0.8)")
    print_cpu_ratios(current, direct, bare)
    print(f"mp data pull, one {SIZE // 2**20} MB file: {mp_seconds:.2f} s = {SIZE / mp_seconds / 2**20:.0f} MB/s"
          "  (includes CLI start-up, signing and the sha256 check)")  # fmt: skip
    if curl_seconds:
        print(f"curl of the same signed URL:  {curl_seconds:.2f} s = {SIZE / curl_seconds / 2**20:.0f} MB/s")
        print(f"  ratio mp/curl throughput {curl_seconds / mp_seconds:.2f}")
    else:
        print("curl is not installed: no baseline")


_SIGN_ONE = """
import json, sys, httpx
base, token = sys.argv[1], sys.argv[2]
response = httpx.post(base + "/api/datasets/signed-urls", json={"roundNumber": 2},
                      headers={"Authorization": "Bearer " + token})
print(json.dumps(response.json()["urls"][0]))
"""

if __name__ == "__main__":
    main()
