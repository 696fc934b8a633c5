"""Dataset benchmark against one real mp-server process; prints figures, asserts nothing.

GET /api/rounds/current, 32 concurrent clients, against direct gRPC GetCurrentRound and a bare Starlette app
serving the same bytes. (`mp data pull` against curl and `python -m http.server` is bench/downloads.py.)
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from bench.gateway import CONCURRENCY, SECONDS, against_starlette, line, load_with, print_cpu_ratios, start_server


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        process, token, grpc_port, http_port = start_server(str(work / "data"))
        base = f"http://127.0.0.1:{http_port}"
        try:
            current, bare = against_starlette(f"{base}/api/rounds/current", token, work, process.pid)
            direct = load_with("grpc-round", f"127.0.0.1:{grpc_port}", token, concurrency=CONCURRENCY,
                               seconds=SECONDS, server_pid=process.pid)  # fmt: skip
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


if __name__ == "__main__":
    main()
