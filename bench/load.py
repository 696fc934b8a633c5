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

import grpc
import httpx

from marketplace.v1 import auth_pb2, auth_pb2_grpc


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
            else:
                request = auth_pb2.ListVendorsRequest(page_size=50)
                method = stub.ListVendors
            return await _drive(lambda: method(request, metadata=metadata), seconds, concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}, limits=limits) as client:

        async def get() -> object:
            response = await client.get(target)
            response.raise_for_status()
            return response

        return await _drive(get, seconds, concurrency)


if __name__ == "__main__":
    kind, target, token, seconds, concurrency = sys.argv[1:6]
    print(json.dumps(asyncio.run(run(kind, target, token, float(seconds), int(concurrency)))))
