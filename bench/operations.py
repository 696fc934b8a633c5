"""What operations (issue 13) cost a call: prints figures and ratios, asserts nothing.

1. Server CPU per unary call through the full interceptor chain as it is (request id from metadata,
   call count and latency histogram, access line) vs. the same chain with the access log as it was
   before (the line only), driven from a client process, interleaved.
2. One log line formatted as text and as JSON (MP_LOG_FORMAT), µs.
3. The HTTP app's outermost middleware (request id, echo, route metrics) around a bare ASGI app, µs.
4. A /metrics scrape of that server: lines, bytes, ms.

Run: python -m bench.operations   (BENCH_QUICK=1 for a short run)
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

import grpc
from prometheus_client import REGISTRY, generate_latest

from bench.auth_overhead import CONCURRENCY, ROUND_SECONDS, ROUNDS, _serve, open_bench_platform
from bench.quick import sized
from mlmp_interceptors.access_log import AccessLog
from mlmp_server.app import interceptor_chain
from mlmp_server.core import request_ids
from mlmp_server.gateway.observability import ROUTE_KEY, Observed
from mlmp_server.logs import log_handler
from mlmp_server.settings import default_database_url


class AccessLogBefore(AccessLog):
    """The access log as it was before request ids and metrics: the line only."""

    def begin(self, method: str, context: grpc.aio.ServicerContext) -> str:
        return context.peer()

    def _observe(self, method: str, code: grpc.StatusCode, seconds: float) -> None:
        pass


async def _server_cpu_per_call(port: int, token: str) -> float:
    """µs of this process's CPU (the server's: the client is another process) per call. CPU time, not
    calls/s: on a shared machine calls/s of two identical servers differ by ±30% run to run."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.load", "grpc-whoami", f"127.0.0.1:{port}", token, str(ROUND_SECONDS),
        str(CONCURRENCY), stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    cpu = time.process_time()
    out, _ = await process.communicate()
    cpu = time.process_time() - cpu
    if process.returncode:
        raise SystemExit(f"bench.load exited with {process.returncode}")
    return cpu / (int(json.loads(out)["count"]) + 50) * 1e6  # 50: the load's warm-up calls


async def chain_now_vs_before() -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        platform, token = await open_bench_platform(default_database_url(Path(tmp)), Path(tmp))
        resources = platform.resources
        servers = []
        try:
            ports = []
            for access_log in (AccessLog(), AccessLogBefore()):
                (interceptor,) = interceptor_chain(
                    platform.introspector, resources.sessions, resources.streams, platform.settings.rate_limits,
                    resources.clock,
                )  # fmt: skip
                interceptor._log = access_log  # the one difference between the two servers
                server, port = await _serve(platform, [interceptor])
                servers.append(server)
                ports.append(port)
            now, before = [], []
            for round_ in range(ROUNDS):  # interleaved, in turn first; the median of each
                for port, figures in ((ports[0], now), (ports[1], before))[:: 1 if round_ % 2 else -1]:
                    figures.append(await _server_cpu_per_call(port, token))
            return statistics.median(now), statistics.median(before)
        finally:
            for server in servers:
                await server.stop(0)
            await platform.close()


def format_micros(log_format: str, n: int = sized(50_000, 5_000)) -> float:
    handler = log_handler(log_format, io.StringIO())
    line = {"method": "/marketplace.v1.AuthService/WhoAmI", "principal": "tok_1", "vendor": "acme", "code": "OK",
            "ms": 0.412, "peer": "ipv4:10.0.0.7:51234"}  # fmt: skip
    record = logging.LogRecord("mp.access", logging.INFO, __file__, 1, str(line), None, None)
    record.call = line
    token = request_ids.begin("0f3c2b9e5d1a4c7e9b2f1a2b3c4d5e6f", line["method"])
    try:
        started = time.perf_counter()
        for _ in range(n):
            handler.handle(record)
        return (time.perf_counter() - started) / n * 1e6
    finally:
        request_ids.end(token)


async def middleware_micros(n: int = sized(50_000, 5_000)) -> tuple[float, float]:
    async def app(scope, receive, send) -> None:
        scope[ROUTE_KEY] = "GET /api/catalog/{vendor}"
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": b"{}"})

    async def receive() -> dict:
        return {}

    async def send(_message) -> None:
        pass

    headers = [(b"host", b"x"), (b"authorization", b"Bearer x"), (b"x-request-id", b"req-1")]
    figures = []
    for target in (app, Observed(app)):
        started = time.perf_counter()
        for _ in range(n):
            await target({"type": "http", "method": "GET", "headers": headers}, receive, send)
        figures.append((time.perf_counter() - started) / n * 1e6)
    return figures[0], figures[1]


def main() -> None:
    logging.getLogger("mp.access").addHandler(log_handler("text", io.StringIO()))
    logging.getLogger("mp.access").propagate = False
    logging.getLogger("mp.access").setLevel(logging.INFO)  # the line is formatted, as in production

    now, before = asyncio.run(chain_now_vs_before())
    print(f"unary WhoAmI through the full chain from a client process, server CPU per call, median of {ROUNDS}")
    print(f"  access log as before (line only)          {before:7.1f} µs")
    print(f"  now (request id, metrics, line)           {now:7.1f} µs")
    print(f"  ratio now/before                          {now / before:7.2f}")
    text, json_ = format_micros("text"), format_micros("json")
    print(f"one access line: text {text:.1f} µs, json {json_:.1f} µs (ratio {json_ / text:.2f})")
    bare, observed = asyncio.run(middleware_micros())
    print(f"HTTP middleware: bare ASGI app {bare:.1f} µs, with Observed {observed:.1f} µs (+{observed - bare:.1f} µs)")
    started = time.perf_counter()
    scraped = generate_latest(REGISTRY)
    lines = scraped.count(b"\n")
    print(
        f"/metrics after the run: {lines} lines, {len(scraped)} bytes, "
        f"{(time.perf_counter() - started) * 1000:.1f} ms to encode (in a thread, off the event loop)"
    )


if __name__ == "__main__":
    main()
