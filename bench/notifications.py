"""The notification bus between replicas, on PostgreSQL: `python -m bench.notifications` prints

- the latency (p50/p99) from a replica's send to another replica's handler (one notification at a time: what
  a revocation or a round change costs to reach the other replicas), beside its baseline, one `SELECT 1` round
  trip through a session, and their ratio;
- the throughput of a burst (sends from 8 tasks at once) until the other replica has handled them all.
"""

from __future__ import annotations

import asyncio
import statistics
import time

from sqlalchemy import text

from bench.quick import sized
from mlmp_server.db.engine import create_engine, session_factory
from mlmp_server.db.notifications import PostgresNotifications
from mlmp_server.settings import normalise_database_url

CHANNEL = "mp_bench"


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def run(url: str) -> None:
    count = sized(2_000, 100)
    engine = create_engine(url)
    sessions = session_factory(engine)
    sender, receiver = PostgresNotifications(url, sessions), PostgresNotifications(url, sessions)
    arrived: asyncio.Queue[float] = asyncio.Queue()
    receiver.on(CHANNEL, lambda _payload: arrived.put_nowait(time.perf_counter()))
    try:
        await sender.start()
        await receiver.start()
        latencies = []
        for n in range(count):
            sent = time.perf_counter()
            await sender.send(CHANNEL, str(n))
            latencies.append(await arrived.get() - sent)
        round_trips = []
        for _ in range(count):
            started = time.perf_counter()
            async with sessions() as session:
                await session.execute(text("SELECT 1"))
            round_trips.append(time.perf_counter() - started)
        p50, p99, base = percentile(latencies, 0.5), percentile(latencies, 0.99), statistics.median(round_trips)
        print(f"one notification, send → other replica's handler ({count:,}): p50 {p50 * 1000:.2f} ms, "
              f"p99 {p99 * 1000:.2f} ms")  # fmt: skip
        print(f"  baseline, SELECT 1 through a session: p50 {base * 1000:.2f} ms; ratio {p50 / base:.1f}×")

        async def send_share(first: int) -> None:
            for n in range(first, count, 8):
                await sender.send(CHANNEL, str(n))

        started = time.perf_counter()
        await asyncio.gather(*(send_share(first) for first in range(8)))
        for _ in range(count):
            await arrived.get()
        elapsed = time.perf_counter() - started
        print(f"burst of {count:,} from 8 tasks: all handled in {elapsed:.2f} s ({count / elapsed:,.0f}/s)")
    finally:
        await sender.close()
        await receiver.close()
        await engine.dispose()


def main() -> None:
    from tests.helpers.postgres import PostgresUnavailable, fresh_database, postgres_server

    try:
        with postgres_server() as admin_url, fresh_database(admin_url) as url:
            asyncio.run(run(normalise_database_url(url)))
    except PostgresUnavailable as error:
        print(f"notification benchmark skipped: {error}")


if __name__ == "__main__":
    main()
