"""Load generator run as its own process, so the server under test keeps its own CPU and GIL.

python -m bench.load HOST:PORT TOKEN SECONDS CONCURRENCY  → prints calls/s
"""

from __future__ import annotations

import asyncio
import sys
import time

import grpc

from marketplace.v1 import auth_pb2, auth_pb2_grpc


async def calls_per_second(target: str, token: str, seconds: float, concurrency: int) -> float:
    async with grpc.aio.insecure_channel(target) as channel:
        stub = auth_pb2_grpc.AuthServiceStub(channel)
        metadata = (("authorization", f"Bearer {token}"),)
        request = auth_pb2.WhoAmIRequest()
        for _ in range(50):  # warm: connection, caches
            await stub.WhoAmI(request, metadata=metadata)
        done = 0
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal done
            while time.perf_counter() < deadline:
                await stub.WhoAmI(request, metadata=metadata)
                done += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return done / (time.perf_counter() - started)


if __name__ == "__main__":
    target, token, seconds, concurrency = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
    print(f"{asyncio.run(calls_per_second(target, token, seconds, concurrency)):.1f}")
