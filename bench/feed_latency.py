"""Feed latency benchmark: from a bar's arrival to the deployment's signal on it being stored; prints figures,
asserts nothing.

An mp-server process (SQLite, the demo round without its replay) and the template's serve.py as the deployment
(its real code: FeatureStream in, SignalPublisher out, the ridge model in between). One bar at a time is pushed
over PublishBars; the time runs from just before the push to the store_time of the deployment's signal on that
symbol, which SubscribeSignals hands this process. Baseline, in the same run: the same signal stored directly
with StoreSignals by the deployment's token (the ingest path alone, without bar storage, features, the stream,
the model and the publisher's batching linger).
"""

from __future__ import annotations

import json
import os
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from bench.gateway import start_server
from bench.quick import sized
from mlmp_marketplace.v1 import (
    auth_pb2,
    auth_pb2_grpc,
    deployments_pb2,
    deployments_pb2_grpc,
    market_pb2,
    market_pb2_grpc,
    signals_pb2,
    signals_pb2_grpc,
)

BARS = sized(200, 20)
WARM_UP = 20  # bars before a symbol's first feature row (its longest window, less one)
SYMBOL = "SYNAAA"  # of the demo round
TEMPLATE = Path(__file__).resolve().parents[1] / "cli" / "templates" / "runpod-signal-http"
FEATURES = ["ret_1", "ret_5", "ret_20", "volatility_20", "volume_ratio_20", "range"]


def bearer(token: str) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {token}"),)


def deployment_token(channel: grpc.Channel, admin_token: str) -> str:
    admin = bearer(admin_token)
    auth = auth_pb2_grpc.AuthServiceStub(channel)
    auth.CreateVendor(auth_pb2.CreateVendorRequest(slug="bench", display_name="Bench"), metadata=admin)
    vendor = auth.CreateApiToken(auth_pb2.CreateApiTokenRequest(vendor="bench", scopes=["deploy:write"]),
                                 metadata=admin).secret  # fmt: skip
    created = deployments_pb2_grpc.DeploymentServiceStub(channel).CreateDeployment(
        deployments_pb2.CreateDeploymentRequest(provider="local"), metadata=bearer(vendor)
    )
    return created.token


def bar(index: int) -> market_pb2.Bar:
    """Daily bars from tomorrow on: later than the demo round's live rows, which a stream starts with."""
    when = Timestamp()
    start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    when.FromDatetime(start + timedelta(days=index))
    close = 100 + 5 * ((index * 7919) % 13) / 13
    return market_pb2.Bar(symbol=SYMBOL, time=when, open=close, high=close * 1.01, low=close * 0.99, close=close,
                          volume=1000 + index)  # fmt: skip


def start_deployment(grpc_port: int, token: str, folder: str) -> subprocess.Popen:
    model = Path(folder) / "model.json"
    model.write_text(json.dumps({"features": FEATURES, "weights": [0.0, 0.3, -0.2, 0.1, 0.05, -0.1, 0.2],
                                 "mean": [0.0] * 6, "scale": [0.02] * 6, "target_scale": 0.05}))  # fmt: skip
    env = {"PATH": os.environ.get("PATH", ""), "PORT": "0", "MP_DEPLOYMENT_TOKEN": token,
           "MP_GRPC_TARGET": f"127.0.0.1:{grpc_port}", "MP_MODEL_PATH": str(model)}  # fmt: skip
    return subprocess.Popen([sys.executable, "serve.py"], cwd=TEMPLATE, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(round(0.99 * (len(ordered) - 1))))]


def measure(grpc_port: int, admin_token: str, token: str, deploy) -> tuple[list[float], list[float], list[float]]:
    admin = bearer(admin_token)
    with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
        market = market_pb2_grpc.MarketServiceStub(channel)
        signals = signals_pb2_grpc.SignalServiceStub(channel)
        stored: queue.Queue[signals_pb2.Signal] = queue.Queue()
        subscription = signals.SubscribeSignals(signals_pb2.SubscribeSignalsRequest(symbol=SYMBOL), metadata=admin)

        def read() -> None:
            try:
                for response in subscription:  # a response holds the signals handed out together
                    for signal in response.signals:
                        stored.put(signal)
            except grpc.RpcError:
                pass  # cancelled at the end

        subscription.initial_metadata()  # subscribed: nothing stored from here on is missed
        threading.Thread(target=read, daemon=True).start()
        deploy()
        stored.get(timeout=120)  # the deployment's signal on the latest row: it is following the stream
        market.PublishBars(iter([market_pb2.PublishBarsRequest(bars=[bar(i) for i in range(WARM_UP)])]),
                           metadata=admin)  # fmt: skip
        feed, commits = [], []
        for index in range(WARM_UP, WARM_UP + BARS):
            started = time.time()
            market.PublishBars(iter([market_pb2.PublishBarsRequest(bars=[bar(index)])]), metadata=admin)
            commits.append(time.time() - started)
            signal = stored.get(timeout=60)
            feed.append(signal.store_time.ToDatetime(tzinfo=UTC).timestamp() - started)
        direct = []
        for _ in range(BARS):
            request = signals_pb2.StoreSignalsRequest(signals=[signals_pb2.Signal(symbol=SYMBOL, score=0.1,
                                                                                  confidence=0.1)])  # fmt: skip
            started = time.time()
            signals.StoreSignals(request, metadata=bearer(token))
            signal = stored.get(timeout=60)
            direct.append(signal.store_time.ToDatetime(tzinfo=UTC).timestamp() - started)
        subscription.cancel()
    return feed, direct, commits


def main() -> None:
    with tempfile.TemporaryDirectory() as data, tempfile.TemporaryDirectory() as folder:
        process, admin_token, grpc_port, _http = start_server(data, MP_DEMO_REPLAY_SPEED="0")
        deployment = None
        try:
            with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
                token = deployment_token(channel, admin_token)

            def deploy() -> None:
                nonlocal deployment
                deployment = start_deployment(grpc_port, token, folder)

            feed, direct, commits = measure(grpc_port, admin_token, token, deploy)
        finally:
            if deployment is not None:
                deployment.terminate()
                deployment.wait(30)
            process.terminate()
            process.wait(30)
    (feed_p50, feed_p99), (direct_p50, direct_p99) = percentiles(feed), percentiles(direct)
    commit_p50, commit_p99 = percentiles(commits)
    print(f"bar → features → template's signal stored, {len(feed)} bars one at a time: "
          f"p50 {feed_p50 * 1000:.1f} ms, p99 {feed_p99 * 1000:.1f} ms")  # fmt: skip
    print(f"the same signal stored directly (StoreSignals): p50 {direct_p50 * 1000:.1f} ms, "
          f"p99 {direct_p99 * 1000:.1f} ms; ratio p50 {feed_p50 / direct_p50:.1f}, p99 {feed_p99 / direct_p99:.1f}")
    print(f"of which the bar's PublishBars call (stored, committed): p50 {commit_p50 * 1000:.1f} ms, "
          f"p99 {commit_p99 * 1000:.1f} ms; the template's publisher lingers 5 ms")


if __name__ == "__main__":
    main()
