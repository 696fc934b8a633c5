"""Load generator, run as its own process so the server under test keeps its own CPU and GIL.

python -m bench.load KIND TARGET TOKEN SECONDS CONCURRENCY
  KIND: grpc-whoami | grpc-list-vendors | http-get (TARGET is then a URL)
Prints one JSON line: calls/s, p50 and p99 latency in ms.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

import grpc

from mlmp_marketplace.v1 import auth_pb2, auth_pb2_grpc, catalog_pb2, catalog_pb2_grpc, datasets_pb2, datasets_pb2_grpc


async def _drive(call: Callable[[], Awaitable[object]], seconds: float, concurrency: int) -> dict[str, float]:
    for _ in range(50):  # warm: connections, caches
        await call()
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            await call()
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "count": len(latencies),
        "per_second": len(latencies) / elapsed,
        "p50_ms": latencies[len(latencies) // 2] * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
    }


async def run(kind: str, target: str, token: str, seconds: float, concurrency: int) -> dict[str, float]:
    metadata = (("authorization", f"Bearer {token}"),)
    if kind.startswith("grpc-"):
        async with grpc.aio.insecure_channel(target) as channel:
            stub = auth_pb2_grpc.AuthServiceStub(channel)
            if kind == "grpc-whoami":
                request: object = auth_pb2.WhoAmIRequest()
                method = stub.WhoAmI
            elif kind == "grpc-round":
                request = datasets_pb2.GetCurrentRoundRequest()
                method = datasets_pb2_grpc.DatasetServiceStub(channel).GetCurrentRound
            elif kind == "grpc-catalog":
                request = catalog_pb2.ListCatalogRequest(page_size=50)
                method = catalog_pb2_grpc.CatalogServiceStub(channel).ListCatalog
            else:
                request = auth_pb2.ListVendorsRequest(page_size=50)
                method = stub.ListVendors
            return await _drive(lambda: method(request, metadata=metadata), seconds, concurrency)
    return await _drive_http(target, token, seconds, concurrency)


async def _drive_http(url: str, token: str, seconds: float, concurrency: int) -> dict[str, float]:
    """Keep-alive HTTP/1.1 GETs over plain asyncio streams: a client far cheaper than httpx, so the
    figures are the server's, not the client library's."""
    parts = urlsplit(url)
    request = (
        f"GET {parts.path}{'?' + parts.query if parts.query else ''} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        f"Authorization: Bearer {token}\r\n\r\n"
    ).encode()
    connections = [await asyncio.open_connection(parts.hostname, parts.port) for _ in range(concurrency)]
    free: asyncio.Queue = asyncio.Queue()
    for connection in connections:
        free.put_nowait(connection)

    async def get() -> None:
        reader, writer = await free.get()
        try:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = int(head.lower().split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
            await reader.readexactly(length)
            if status != 200:
                raise RuntimeError(f"HTTP {status} from {url}")
        finally:
            free.put_nowait((reader, writer))

    try:
        return await _drive(get, seconds, concurrency)
    finally:
        for _reader, writer in connections:
            writer.close()


if __name__ == "__main__":
    kind, target, token, seconds, concurrency = sys.argv[1:6]
    print(json.dumps(asyncio.run(run(kind, target, token, float(seconds), int(concurrency)))))
