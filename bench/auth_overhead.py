"""Auth-chain benchmark: prints figures and ratios, asserts nothing.

1. Unary calls/s through the full interceptor chain (cache hit) vs. the same servicer with no
   interceptors, on the same machine in the same process.
2. A cache-hit introspection's cost in µs.
3. A cache-miss introspection's cost (database look-up) on SQLite and on PostgreSQL.

Run: make bench   (PostgreSQL from MP_TEST_POSTGRES_URL or 127.0.0.1:5432; skipped if absent)
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import grpc

from bench.quick import sized
from mlmp_interceptors.introspection import CachingIntrospector
from mlmp_marketplace.v1 import auth_pb2
from mlmp_server.app import build_introspector, build_servicers, interceptor_chain, issue_admin_token
from mlmp_server.auth.introspection import DatabaseIntrospector
from mlmp_server.auth.servicer import AuthServicer
from mlmp_server.core.principal import current_principal
from mlmp_server.core.revocation import Revocations
from mlmp_server.grpc_server import build_grpc_server
from mlmp_server.resources import Resources, open_resources
from mlmp_server.settings import RateLimit, Settings, default_database_url, normalise_database_url

CONCURRENCY = 16
ROUND_SECONDS = sized(3.0, 1.0)
ROUNDS = sized(5, 1)


class BenchAuthServicer(AuthServicer):
    """WhoAmI that answers without a principal too, so the bare server runs the same code path."""

    async def WhoAmI(self, request, context):
        if current_principal() is None:
            return auth_pb2.Principal(token_id="bare")
        return await super().WhoAmI(request, context)


@dataclass
class Platform:
    """What the figures need: the settings, the infrastructure and the introspection cache."""

    settings: Settings
    resources: Resources
    introspector: CachingIntrospector

    async def close(self) -> None:
        await self.resources.close()


async def _serve(platform: Platform, interceptors: list) -> tuple[grpc.aio.Server, int]:
    resources, introspector = platform.resources, platform.introspector
    revocations = Revocations(introspector, resources.streams)
    servicer = BenchAuthServicer(resources.sessions, resources.digester, introspector, resources.clock, revocations)
    servicers = build_servicers(platform.settings, resources, introspector, public_url="http://127.0.0.1:3010")
    server = (await build_grpc_server(replace(servicers, auth=servicer), interceptors)).server
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, port


async def _calls_per_second(port: int, token: str) -> float:
    """Drives the server from a separate process (see bench/load.py) while this loop serves."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.load",
        "grpc-whoami",
        f"127.0.0.1:{port}",
        token,
        str(ROUND_SECONDS),
        str(CONCURRENCY),
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await process.communicate()
    if process.returncode:
        raise SystemExit(f"bench.load exited with {process.returncode}")
    return float(json.loads(out)["per_second"])


async def chain_vs_bare(platform: Platform, token: str) -> tuple[float, float]:
    resources = platform.resources
    interceptors = interceptor_chain(
        platform.introspector, resources.sessions, resources.streams, platform.settings.rate_limits, resources.clock
    )
    chain_server, chain_port = await _serve(platform, interceptors)
    bare_server, bare_port = await _serve(platform, [])
    try:
        chain, bare = [], []
        for _ in range(ROUNDS):  # interleaved, best of several: the machine is shared and noisy
            bare.append(await _calls_per_second(bare_port, token))
            chain.append(await _calls_per_second(chain_port, token))
        return max(chain), max(bare)
    finally:
        await chain_server.stop(0)
        await bare_server.stop(0)


async def cache_hit_micros(platform: Platform, token: str, n: int = sized(200_000, 20_000)) -> float:
    introspector = platform.introspector
    await introspector.introspect(token)
    started = time.perf_counter()
    for _ in range(n):
        await introspector.introspect(token)
    return (time.perf_counter() - started) / n * 1e6


async def cache_miss_millis(platform: Platform, token: str, n: int = sized(500, 100)) -> tuple[float, float]:
    resources = platform.resources
    source = DatabaseIntrospector(resources.sessions, resources.digester, resources.clock)
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        assert await source.introspect(token) is not None
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.99) - 1]


async def open_bench_platform(database_url: str, data_dir: Path) -> tuple[Platform, str]:
    settings = Settings(
        data_dir=data_dir,
        database_url=database_url,
        rate_limits={name: RateLimit(1e9, 1e9) for name in ("read", "write", "signal_ingest")},
    )
    if not settings.uses_default_database:
        from mlmp_server.db.engine import create_engine, migrate

        engine = create_engine(database_url)
        await migrate(engine)
        await engine.dispose()
    resources = await open_resources(settings)
    introspector, _remote = build_introspector(settings, resources)  # no introspection URL: no remote
    token = await issue_admin_token(resources, display_name="bench")
    assert token is not None
    return Platform(settings, resources, introspector), token


def main() -> None:
    import logging

    logging.getLogger("mp.access").addHandler(logging.NullHandler())
    logging.getLogger("mp.access").propagate = False
    logging.getLogger("mp.access").setLevel(logging.INFO)  # the line is formatted, as in production

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)

        async def sqlite_part() -> None:
            platform, token = await open_bench_platform(default_database_url(data), data)
            try:
                chain, bare = await chain_vs_bare(platform, token)
                rounds = f"best of {ROUNDS} interleaved rounds of {ROUND_SECONDS:.0f}s"
                print(f"unary WhoAmI from a client process, {CONCURRENCY} in flight, {rounds}")
                print(f"  bare server (no interceptors)   {bare:9.0f} calls/s")
                print(f"  full chain (log, errors, auth, rate limit; cache hit) {chain:9.0f} calls/s")
                print(f"  ratio chain/bare                {chain / bare:9.2f}   (target >= 0.80)")
                hit = await cache_hit_micros(platform, token)
                print(f"cache-hit introspection           {hit:9.2f} µs  (target <= 50 µs)")
                p50, p99 = await cache_miss_millis(platform, token)
                print(f"cache-miss introspection, SQLite  {p50:9.3f} ms p50, {p99:.3f} ms p99")
            finally:
                await platform.close()

        asyncio.run(sqlite_part())

        try:
            from tests.helpers.postgres import PostgresUnavailable, fresh_database, postgres_server
        except ImportError:
            print("cache-miss introspection, PostgreSQL: skipped (run from the repository root)")
            return
        try:
            with postgres_server() as admin_url, fresh_database(admin_url) as url:

                async def postgres_part() -> None:
                    platform, token = await open_bench_platform(normalise_database_url(url), data / "pg")
                    try:
                        p50, p99 = await cache_miss_millis(platform, token)
                        print(f"cache-miss introspection, PostgreSQL {p50:6.3f} ms p50, {p99:.3f} ms p99")
                    finally:
                        await platform.close()

                asyncio.run(postgres_part())
        except PostgresUnavailable as error:
            print(f"cache-miss introspection, PostgreSQL: skipped ({error})")


if __name__ == "__main__":
    main()
