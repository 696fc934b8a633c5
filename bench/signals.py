"""Signal ingest benchmark; prints figures, asserts nothing.

End to end: a streaming client (this process) sends batches of 1, 100 and 1,000 signals over
StreamSignals to an mp-server process on PostgreSQL and counts acknowledged signals per second (an
ack comes after the batch's commit). Baseline: the same rows written with a bare COPY, one
transaction per batch, from this process. Target: ≥ 50,000 acknowledged signals/s at batch 1,000;
ratio ≥ 0.3.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import grpc

from bench.gateway import start_server
from bench.quick import sized
from mlmp_marketplace.v1 import (
    auth_pb2,
    auth_pb2_grpc,
    datasets_pb2_grpc,
    deployments_pb2,
    deployments_pb2_grpc,
    signals_pb2,
    signals_pb2_grpc,
)

SYMBOLS = [f"B{n:04d}" for n in range(1000)]
SECONDS = sized(4.0, 1.0)
# Batches sent and not yet acknowledged. Unbounded, the client queues small batches far faster than
# the server commits them (tens of thousands sit in the HTTP/2 window), so the stream outlives SECONDS
# by minutes and the rate counts the drain: a publisher keeps a window, so does the bench.
WINDOW = 32


def bearer(token: str) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {token}"),)


def prepare(grpc_port: int, admin_token: str) -> str:
    """A round with 1,000 symbols, a vendor and a deployment; returns the deployment token."""
    from tests.helpers.rounds import publish_request

    admin = bearer(admin_token)
    with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
        datasets_pb2_grpc.DatasetServiceStub(channel).PublishRound(
            publish_request({"train": b"x"}, symbols=SYMBOLS), metadata=admin
        )
        auth = auth_pb2_grpc.AuthServiceStub(channel)
        auth.CreateVendor(auth_pb2.CreateVendorRequest(slug="bench", display_name="Bench"), metadata=admin)
        vendor = auth.CreateApiToken(auth_pb2.CreateApiTokenRequest(vendor="bench", scopes=["deploy:write"]),
                                     metadata=admin).secret  # fmt: skip
        return (
            deployments_pb2_grpc.DeploymentServiceStub(channel)
            .CreateDeployment(deployments_pb2.CreateDeploymentRequest(provider="local"), metadata=bearer(vendor))
            .token
        )


def signal_batch(sequence: int, size: int) -> signals_pb2.SignalBatch:
    signals = [signals_pb2.Signal(symbol=SYMBOLS[i], score=0.25, confidence=0.5) for i in range(size)]
    for signal in signals:
        signal.horizon.FromSeconds(3600)
        signal.generate_time.GetCurrentTime()
    return signals_pb2.SignalBatch(sequence=sequence, signals=signals)


def streamed(grpc_port: int, token: str, size: int, first_sequence: int) -> tuple[float, int]:
    """Acknowledged signals per second over SECONDS; returns (rate, next free sequence)."""
    template = signal_batch(0, size)
    sequence = first_sequence
    stop_at = time.perf_counter() + SECONDS
    window = threading.Semaphore(WINDOW)

    def batches():
        nonlocal sequence
        while time.perf_counter() < stop_at:
            window.acquire()
            template.sequence = sequence  # serialised before the next one is asked for
            sequence += 1
            yield template

    accepted, started = 0, time.perf_counter()
    with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
        for ack in signals_pb2_grpc.SignalServiceStub(channel).StreamSignals(batches(), metadata=bearer(token)):
            accepted += ack.accepted
            window.release()
    return accepted / (time.perf_counter() - started), sequence


def bare_copy(url: str, size: int) -> float:
    """The same rows, COPYed straight into the signals table, one transaction per batch."""
    import psycopg

    columns = ("deployment_id", "vendor_id", "run_id", "symbol", "action", "score", "confidence", "horizon_seconds",
               "generated_at", "round_number", "model_version", "batch_sequence", "stored_at")  # fmt: skip
    now = datetime.now(UTC)
    rows = [("dep_baseline", "vnd_baseline", None, SYMBOLS[i], 0, 0.25, 0.5, 3600.0, now, 1, "", 0, now)
            for i in range(size)]  # fmt: skip
    written, started = 0, time.perf_counter()
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as connection:
        while time.perf_counter() - started < SECONDS:
            with connection.transaction(), connection.cursor() as cursor:
                with cursor.copy(f"COPY signals ({', '.join(columns)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            written += size
    return written / (time.perf_counter() - started)


def main() -> None:
    from tests.helpers.postgres import PostgresUnavailable, fresh_database, postgres_server

    try:
        with postgres_server() as admin_url, fresh_database(admin_url) as url, tempfile.TemporaryDirectory() as data:
            env = {k: v for k, v in os.environ.items() if not k.startswith("MP_")}
            env.update(MP_DATABASE_URL=url, MP_DATA_DIR=data)
            mp_server = str(Path(sys.executable).parent / "mp-server")
            subprocess.run([mp_server, "migrate"], env=env, check=True, capture_output=True)
            process, admin_token, grpc_port, _http = start_server(data, MP_DATABASE_URL=url, MP_DEMO_ROUND="false")
            try:
                token = prepare(grpc_port, admin_token)
                sequence = 1
                for size in (1, 100, 1000):
                    rate, sequence = streamed(grpc_port, token, size, sequence)
                    baseline = bare_copy(url, size)
                    print(f"StreamSignals → PostgreSQL, batches of {size:>5}: {rate:10,.0f} acknowledged signals/s; "
                          f"bare COPY {baseline:10,.0f}/s; ratio {rate / baseline:.2f}")  # fmt: skip
            finally:
                process.terminate()
                process.wait(30)
    except PostgresUnavailable as error:
        print(f"signal ingest benchmark skipped: {error}")


if __name__ == "__main__":
    main()
