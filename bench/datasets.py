"""Dataset benchmark against one real mp-server process; prints figures, asserts nothing.

GET /api/rounds/current, 32 concurrent clients, against a bare Starlette app serving the same bytes.
(`mp data pull` against curl and `python -m http.server` is bench/downloads.py.)
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from bench.gateway import CONCURRENCY, against_starlette, line, start_server


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        process, token, _grpc_port, http_port = start_server(str(work / "data"))
        base = f"http://127.0.0.1:{http_port}"
        try:
            current, bare = against_starlette(f"{base}/api/rounds/current", token, work)
        finally:
            process.terminate()
            process.wait(30)
    print(f"GET /api/rounds/current, {CONCURRENCY} concurrent clients, {current['count']:,} calls")
    print(line("REST via gateway", current))
    print(line("starlette, same bytes", bare))
    print(f"  ratio REST/starlette throughput {current['per_second'] / bare['per_second']:.2f}   (target >= 0.3)")


if __name__ == "__main__":
    main()
