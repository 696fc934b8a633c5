"""Signal fan-out benchmark; prints figures, asserts nothing.

One replica: an mp-server process (SQLite) takes 1,000 signals/s over StreamSignals (batches of 10 every
10 ms) while 1, 10 and 100 subscribers (SubscribeSignals, in a client process of their own) read them.
Per row: the delivered share (signals received by the end of the run, 2 s after the last was sent,
over sent × subscribers), the lag from a signal's store time to its arrival (p50/p99), and the server's
CPU (ingest included; with the ratio to the one-subscriber run, what the other subscribers cost) and the
readers' process's, which shows when the readers rather than the server set the pace.

Across replicas (PostgreSQL; skipped with a note when it is unreachable): two mp-server processes on one
database, 10,000 signals/s (batches of 100) stored through the first, one subscriber on the second:
delivered share and lag p50/p99 (store time on A to arrival from B; one machine, one clock).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc

from bench.gateway import cpu_seconds, start_server
from bench.quick import sized
from bench.signals import SYMBOLS, bearer, prepare
from mlmp_marketplace.v1 import signals_pb2, signals_pb2_grpc

SECONDS = sized(6.0, 1.5)
GRACE = sized(2.0, 1.0)  # after the last signal is sent, what arrives within this still counts as delivered
RATE = 1000
BATCH = 10
SUBSCRIBERS = sized((1, 10, 100), (1, 10))
CROSS_RATE = sized(10_000, 2_000)
CROSS_BATCH = 100


def _signals_of(message) -> list[signals_pb2.Signal]:
    return list(message.signals) if hasattr(message, "signals") else [message]


def publish(target: str, token: str, rate: int, batch: int, seconds: float, first_sequence: int) -> tuple[int, int]:
    """Sends `rate` signals/s in batches of `batch`, paced; returns (accepted, next free sequence)."""
    template = signals_pb2.SignalBatch(
        signals=[signals_pb2.Signal(symbol=SYMBOLS[i], score=0.25, confidence=0.5) for i in range(batch)]
    )
    for signal in template.signals:
        signal.horizon.FromSeconds(3600)
    interval = batch / rate
    sequence = first_sequence

    def batches():
        nonlocal sequence
        started = time.perf_counter()
        sent = 0
        while (now := time.perf_counter()) < started + seconds:
            due = started + sent * interval
            if due > now:
                time.sleep(due - now)
            for signal in template.signals:
                signal.generate_time.GetCurrentTime()
            template.sequence = sequence
            sequence += 1
            sent += 1
            yield template

    accepted = 0
    with grpc.insecure_channel(target) as channel:
        for ack in signals_pb2_grpc.SignalServiceStub(channel).StreamSignals(batches(), metadata=bearer(token)):
            accepted += ack.accepted
    return accepted, sequence


async def _subscribe(target: str, token: str, count: int) -> None:
    """The subscriber process: `count` subscriptions; says "ready" once all are open, reads until stdin
    closes, then prints what arrived as JSON."""
    received = [0] * count
    lags: list[float] = []
    async with grpc.aio.insecure_channel(target) as channel:
        stub = signals_pb2_grpc.SignalServiceStub(channel)
        calls = [stub.SubscribeSignals(signals_pb2.SubscribeSignalsRequest(), metadata=bearer(token))
                 for _ in range(count)]  # fmt: skip
        for call in calls:
            await call.initial_metadata()

        async def read(index: int, call) -> None:
            try:
                async for message in call:
                    now = time.time()
                    for signal in _signals_of(message):
                        received[index] += 1
                        lags.append(now - signal.store_time.ToNanoseconds() / 1e9)
            except asyncio.CancelledError:
                pass  # cancelled at the end of the run
            except grpc.aio.AioRpcError as error:
                if error.code() != grpc.StatusCode.CANCELLED:
                    print(f"subscriber {index} ended: {error.code().name} {error.details()}", file=sys.stderr)

        readers = [asyncio.create_task(read(index, call)) for index, call in enumerate(calls)]
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        for call in calls:
            call.cancel()
        await asyncio.gather(*readers)
    print(json.dumps({"received": received, "lags": lags}), flush=True)


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def measure(
    target: str, deployment_token: str, reader_token: str, subscribers: int, sequence: int, server_pid: int,
    *, read_from: str = "", rate: int = RATE, batch: int = BATCH,
) -> tuple[dict[str, float], int]:
    """One run: `subscribers` readers in a process of their own (on `read_from`, else `target`) while a
    deployment publishes `rate` signals/s to `target`; server_pid's CPU is measured."""  # fmt: skip
    reader = subprocess.Popen(
        [sys.executable, "-m", "bench.fanout", "subscribe", read_from or target, reader_token, str(subscribers)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert reader.stdout is not None
    assert reader.stdin is not None
    if reader.stdout.readline().strip() != "ready":
        raise SystemExit("the subscriber process did not start")
    cpu_before, readers_before, started = cpu_seconds(server_pid), cpu_seconds(reader.pid), time.perf_counter()
    sent, sequence = publish(target, deployment_token, rate, batch, SECONDS, sequence)
    time.sleep(GRACE)
    elapsed = time.perf_counter() - started
    cpu = (cpu_seconds(server_pid) - cpu_before) / elapsed
    readers_cpu = (cpu_seconds(reader.pid) - readers_before) / elapsed
    reader.stdin.close()
    found = json.loads(reader.stdout.read())
    reader.wait(30)
    delivered = sum(found["received"])
    return {
        "share": delivered / max(1, sent * subscribers),
        "p50": percentile(found["lags"], 0.5),
        "p99": percentile(found["lags"], 0.99),
        "cpu": cpu,
        "sent_rate": sent / SECONDS,
        "readers_cpu": readers_cpu,
    }, sequence


def one_replica() -> None:
    with tempfile.TemporaryDirectory() as data:
        process, admin_token, grpc_port, _http = start_server(data, MP_DEMO_ROUND="false")
        try:
            target = f"127.0.0.1:{grpc_port}"
            token = prepare(grpc_port, admin_token)
            sequence, baseline = 1, None
            for subscribers in SUBSCRIBERS:
                found, sequence = measure(target, token, admin_token, subscribers, sequence, process.pid)
                baseline = baseline or found
                p50, p99 = found["p50"] * 1000, found["p99"] * 1000
                print(f"fan-out, one replica, {RATE:,} signals/s to {subscribers:>3} subscribers: delivered "
                      f"{found['share']:6.1%}, lag p50 {p50:6.0f} ms p99 {p99:6.0f} ms, "
                      f"server CPU {found['cpu']:4.0%} of a core (×{found['cpu'] / baseline['cpu']:.1f} of one "
                      f"subscriber's), readers' {found['readers_cpu']:4.0%}")  # fmt: skip
        finally:
            process.terminate()
            process.wait(30)


def across_replicas() -> None:
    from tests.helpers.postgres import PostgresUnavailable, fresh_database, postgres_server

    try:
        with postgres_server() as admin_url, fresh_database(admin_url) as url, \
                tempfile.TemporaryDirectory() as data_a, tempfile.TemporaryDirectory() as data_b:  # fmt: skip
            env = {k: v for k, v in os.environ.items() if not k.startswith("MP_")}
            env.update(MP_DATABASE_URL=url, MP_DATA_DIR=data_a)
            mp_server = str(Path(sys.executable).parent / "mp-server")
            subprocess.run([mp_server, "migrate"], env=env, check=True, capture_output=True)
            secret = {"MP_SECRET_KEY": "b" * 64}  # replicas share their secret key
            a, admin_token, port_a, _ = start_server(data_a, MP_DATABASE_URL=url, MP_DEMO_ROUND="false", **secret)
            b, _, port_b, _ = start_server(data_b, MP_DATABASE_URL=url, MP_DEMO_ROUND="false", **secret)
            try:
                token = prepare(port_a, admin_token)
                sequence = 1
                # Baseline: the subscriber on A, where the signals are stored.
                for where, port, pid in (("A", port_a, a.pid), ("B", port_b, b.pid)):
                    found, sequence = measure(
                        f"127.0.0.1:{port_a}", token, admin_token, 1, sequence, pid,
                        read_from=f"127.0.0.1:{port}", rate=CROSS_RATE, batch=CROSS_BATCH,
                    )  # fmt: skip
                    p50, p99 = found["p50"] * 1000, found["p99"] * 1000
                    print(f"fan-out across replicas, {found['sent_rate']:,.0f} signals/s stored on A, one subscriber "
                          f"on {where}: delivered {found['share']:6.1%}, lag p50 {p50:4.0f} ms p99 {p99:4.0f} ms, "
                          f"{where}'s CPU {found['cpu']:4.0%} of a core")  # fmt: skip
            finally:
                for process in (a, b):
                    process.terminate()
                    process.wait(30)
    except PostgresUnavailable as error:
        print(f"fan-out across replicas skipped (two servers need PostgreSQL): {error}")


def main() -> None:
    if sys.argv[1:2] == ["subscribe"]:
        target, token, count = sys.argv[2], sys.argv[3], int(sys.argv[4])
        asyncio.run(_subscribe(target, token, count))
        return
    if sys.argv[1:2] != ["across"]:  # `python -m bench.fanout across`: that part alone
        one_replica()
    across_replicas()


if __name__ == "__main__":
    main()
