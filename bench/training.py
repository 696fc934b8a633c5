"""Training benchmark; prints figures, asserts nothing.

1. `mp train start --detach` to run id: the median of 20 (BENCH_QUICK: 4), against a real mp-server process.
2. ReportMetrics throughput into PostgreSQL: metric points/s in batches of 1, 100 and 1,000.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.gateway import start_server
from bench.quick import sized

STARTS = sized(20, 4)
SECONDS = sized(3.0, 0.5)


def start_latency(work: Path) -> tuple[list[float], list[float]]:
    """Timings of `mp train start --detach`, interleaved with `mp whoami` (the CLI's start-up and one
    authenticated call: the floor any command pays)."""
    process, token, _grpc, http_port = start_server(str(work / "data"))
    base = f"http://127.0.0.1:{http_port}"
    mp = os.path.join(os.path.dirname(sys.executable), "mp")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MP_")}
    env.update(MP_API_URL=base, MP_TOKEN=token, MP_CONFIG_DIR=str(work / "cfg"))
    try:
        subprocess.run([mp, "admin", "vendors", "create", "bench", "--display-name", "Bench"], env=env, check=True,
                       capture_output=True)  # fmt: skip
        env["MP_TOKEN"] = subprocess.run(
            [mp, "admin", "tokens", "create", "--vendor", "bench", "--scopes", "data:read,training:write"], env=env,
            check=True, capture_output=True, text=True,
        ).stdout.strip()  # fmt: skip
        subprocess.run([mp, "init", str(work / "proj")], env=env, check=True, capture_output=True)
        (work / "proj" / "train.py").write_text("print('ok')\n")
        timings: list[float] = []
        floor: list[float] = []
        for _ in range(STARTS):
            for command, into in ((["train", "start", "--detach"], timings), (["whoami"], floor)):
                started = time.perf_counter()
                subprocess.run([mp, *command], cwd=work / "proj", env=env, check=True, capture_output=True)
                into.append(time.perf_counter() - started)
        return timings, floor
    finally:
        process.terminate()
        process.wait(30)


async def metrics_throughput(url: str) -> dict[int, float]:
    from mlmp_server.core.clock import system_clock, to_datetime
    from mlmp_server.db.engine import create_engine, migrate
    from mlmp_server.db.models import DatasetRound, Vendor
    from mlmp_server.resources import open_resources
    from mlmp_server.settings import Settings, normalise_database_url
    from mlmp_server.training import rules as domain

    url = normalise_database_url(url)
    engine = create_engine(url)
    await migrate(engine)
    await engine.dispose()
    with tempfile.TemporaryDirectory() as data:
        platform = await open_resources(Settings(data_dir=Path(data), database_url=url, demo_round=False))
        now = to_datetime(system_clock())
        async with platform.sessions.begin() as session:
            session.add(Vendor(id="vnd_bench", slug="bench", display_name="Bench", created_at=now))
            session.add(
                DatasetRound(number=1, state="published", opens_at=now, closes_at=now, symbols=[], synthetic=True,
                             description="", created_at=now)
            )  # fmt: skip
            await session.flush()
            run = await domain.create_run(
                session, vendor_id="vnd_bench", task="signal", round_number=1, provider="local",
                hyperparameters={}, gpu_type="", project="", actor="bench", now=now,
            )  # fmt: skip
            await domain.transition(session, run, "running", now)
        figures = {}
        for batch in (1, 100, 1000):
            points = [(f"m{i % 10}", float(i), i, now) for i in range(batch)]
            total, started = 0, time.perf_counter()
            while time.perf_counter() - started < SECONDS:
                async with platform.sessions.begin() as session:
                    locked = await domain.require_run(session, run.id, for_update=True)
                    total += await domain.report_metrics(session, locked, points, to_datetime(system_clock()))
            figures[batch] = total / (time.perf_counter() - started)
        await platform.close()
    return figures


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        timings, floor = start_latency(Path(tmp))
    median, floor_median = statistics.median(timings), statistics.median(floor)
    print(f"mp train start --detach → run id: median {median * 1000:.0f} ms over {STARTS} "
          f"(min {min(timings) * 1000:.0f}, max {max(timings) * 1000:.0f}; target < 1 s, seed limit 5 s)")  # fmt: skip
    print(f"  mp whoami, same server: median {floor_median * 1000:.0f} ms; ratio train start/whoami "
          f"{median / floor_median:.2f}")  # fmt: skip
    try:
        from tests.helpers.postgres import PostgresUnavailable, fresh_database, postgres_server
    except ImportError:
        print("ReportMetrics into PostgreSQL: skipped (run from the repository root)")
        return
    try:
        with postgres_server() as admin_url, fresh_database(admin_url) as url:
            figures = asyncio.run(metrics_throughput(url))
    except PostgresUnavailable as error:
        print(f"ReportMetrics into PostgreSQL: skipped ({error})")
        return
    for batch, per_second in figures.items():
        print(f"ReportMetrics into PostgreSQL, batches of {batch:>5}: {per_second:10,.0f} metric points/s")


if __name__ == "__main__":
    main()
