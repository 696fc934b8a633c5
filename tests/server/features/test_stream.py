"""StreamFeatures through a real server, on SQLite and PostgreSQL: who may read it, what a new subscriber gets at
once, each new bar pushed through MarketService as a feature row equal to the round builder's, the open round
followed, and a subscriber that leaves."""

from __future__ import annotations

import json
import queue
import threading
import time
from dataclasses import dataclass

import grpc
import httpx
import pandas as pd
import pytest

from mlmp_cli.rounds.features import FEATURES, build_round
from mlmp_marketplace.v1 import (
    datasets_pb2,
    datasets_pb2_grpc,
    deployments_pb2,
    deployments_pb2_grpc,
    features_pb2,
    features_pb2_grpc,
    market_pb2,
    market_pb2_grpc,
    training_pb2,
    training_pb2_grpc,
)
from mlmp_server.db.models import DatasetRound
from tests.helpers.auth import bearer, create_vendor_token
from tests.helpers.bar_history import bar_batches, price_files, prices_of
from tests.helpers.rounds import csv_publish_request, publish_request

TOLERANCE = 1e-12
EXTRA = 30  # bars pushed past the history a round was built from


@dataclass
class FeatureMarket:
    features: features_pb2_grpc.FeatureServiceStub
    datasets: datasets_pb2_grpc.DatasetServiceStub
    admin: tuple
    acme: tuple  # a vendor token with data:read
    deployment: tuple  # acme's deployment token
    files: dict[str, bytes]  # the price files round 1 was built from

    def stream(self, who: tuple, symbols=(), timeout: float = 30):
        request = features_pb2.StreamFeaturesRequest(symbols=list(symbols))
        return self.features.StreamFeatures(request, metadata=who, timeout=timeout)


def deploy(channel, who) -> str:
    created = deployments_pb2_grpc.DeploymentServiceStub(channel).CreateDeployment(
        deployments_pb2.CreateDeploymentRequest(provider="local"), metadata=who
    )
    return created.token


@pytest.fixture
def feature_market(server, channel, auth, admin) -> FeatureMarket:
    """Round 1 built on the server from price files (so it has a live file), and vendor acme with a deployment."""
    datasets = datasets_pb2_grpc.DatasetServiceStub(channel)
    files = price_files()
    datasets.PublishRoundFromCsv(csv_publish_request(files, format="csv"), metadata=admin, timeout=120)
    acme = bearer(create_vendor_token(auth, admin, scopes=("data:read", "deploy:write", "training:write")).secret)
    return FeatureMarket(
        features_pb2_grpc.FeatureServiceStub(channel), datasets, admin, acme, bearer(deploy(channel, acme)), files
    )


def values(row: features_pb2.FeatureRow) -> dict[str, float]:
    return {feature.name: feature.value for feature in row.features}


def test_a_deployment_starts_with_the_newest_live_row_of_each_symbol_of_the_open_round(feature_market):
    live = build_round([prices_of(feature_market.files)]).tables["live"]
    newest = live.sort_values("time").groupby("symbol").tail(1).set_index("symbol")
    call = feature_market.stream(feature_market.deployment)
    try:
        rows = [next(call) for _ in range(3)]
    finally:
        call.cancel()
    assert [row.symbol for row in rows] == ["AAA", "BBB", "CCC"]
    for row in rows:
        assert row.round_number == 1
        assert row.latest
        assert [feature.name for feature in row.features] == list(FEATURES)  # the round's column order
        assert row.horizon.ToTimedelta().total_seconds() == 5 * 86400
        assert row.bar_time.ToDatetime().isoformat() == newest.loc[row.symbol, "time"].tz_localize(None).isoformat()
        for name, value in values(row).items():
            assert value == pytest.approx(newest.loc[row.symbol, name], rel=TOLERANCE, abs=TOLERANCE)


def test_a_subscriber_may_ask_for_some_symbols_only(feature_market):
    call = feature_market.stream(feature_market.acme, symbols=["BBB"])
    try:
        row = next(call)
    finally:
        call.cancel()
    assert row.symbol == "BBB"


def test_deployments_of_any_vendor_and_data_readers_may_stream_but_run_tokens_may_not(
    feature_market, channel, auth, admin
):
    zeta = bearer(create_vendor_token(auth, admin, slug="zeta", scopes=("deploy:write", "training:write")).secret)
    others = {"another vendor's deployment": bearer(deploy(channel, zeta)), "a data:read token": feature_market.acme}
    for who, metadata in others.items():
        call = feature_market.stream(metadata)
        try:
            assert next(call).round_number == 1, who
        finally:
            call.cancel()
    runs = training_pb2_grpc.TrainingServiceStub(channel)
    run = runs.CreateTrainingRun(training_pb2.CreateTrainingRunRequest(task="signal"), metadata=zeta)
    run_token = runs.IssueRunToken(training_pb2.IssueRunTokenRequest(run_id=run.id), metadata=zeta).token
    refused = {"a run token": bearer(run_token), "a token without data:read": zeta}
    for who, metadata in refused.items():
        with pytest.raises(grpc.RpcError) as raised:
            next(feature_market.stream(metadata))
        assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED, who


def test_a_subscriber_that_cancels_mid_stream_leaves_no_stream_open(feature_market, server):
    streams = server.listening.resources.streams
    call = feature_market.stream(feature_market.deployment)
    next(call)
    assert len(streams) == 1
    call.cancel()
    deadline = time.monotonic() + 10
    while len(streams) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(streams) == 0
    with pytest.raises(grpc.RpcError) as raised:
        next(call)
    assert raised.value.code() == grpc.StatusCode.CANCELLED


def test_with_no_round_open_the_stream_waits_with_nothing_to_send(server, channel, admin):
    stub = features_pb2_grpc.FeatureServiceStub(channel)
    call = stub.StreamFeatures(features_pb2.StreamFeaturesRequest(), metadata=admin, timeout=1.5)
    with pytest.raises(grpc.RpcError) as raised:
        next(call)
    assert raised.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED


class Reader:
    """Reads a stream in a thread of its own (so the server never waits on flow control while bars are pushed)."""

    def __init__(self, call) -> None:
        self.call, self.rows, self.error = call, queue.Queue(), None
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            for row in self.call:
                self.rows.put(row)
        except grpc.RpcError as error:
            self.error = error

    def take(self, count: int, timeout: float = 60) -> list[features_pb2.FeatureRow]:
        deadline = time.monotonic() + timeout
        taken = []
        try:
            for _ in range(count):
                taken.append(self.rows.get(timeout=max(0.1, deadline - time.monotonic())))
        except queue.Empty:
            raise AssertionError(f"{len(taken)} rows of {count} arrived; the stream: {self.error}") from None
        return taken


def test_each_new_bar_pushed_through_market_service_arrives_as_the_round_builders_row(feature_market, channel):
    """Round 1 was built from the history up to its live file's end; the history and EXTRA more bars pushed a time
    at a time: each new bar's row equals the row the builder makes from the longer history."""
    longer = prices_of(price_files(extra=EXTRA))
    published = pd.concat(list(build_round([longer]).tables.values())).set_index(["symbol", "time"])
    reader = Reader(feature_market.stream(feature_market.deployment, timeout=120))
    try:
        assert all(row.latest for row in reader.take(3))
        market = market_pb2_grpc.MarketServiceStub(channel)
        requests = (market_pb2.PublishBarsRequest(bars=batch) for batch in bar_batches(longer))
        stored = market.PublishBars(requests, metadata=feature_market.admin, timeout=120)
        assert stored.stored == len(longer)
        rows = reader.take(EXTRA * 3)  # bars up to the live file's end are older than the rows the stream began with
    finally:
        reader.call.cancel()
    assert not any(row.latest for row in rows)
    live_end = prices_of(feature_market.files).groupby("symbol")["time"].max()
    compared = 0
    for row in rows:
        assert row.round_number == 1
        when = pd.Timestamp(row.bar_time.ToDatetime(), tz="UTC")
        assert when > live_end[row.symbol]
        if (row.symbol, when) not in published.index:
            continue  # an embargoed row of the longer history: computed the same, left out of its files
        expected = published.loc[(row.symbol, when)]
        for name, value in values(row).items():
            assert value == pytest.approx(expected[name], rel=TOLERANCE, abs=TOLERANCE), (row.symbol, when, name)
        compared += 1
    assert compared >= EXTRA * 3 - 3 * 5


def test_when_the_open_round_changes_the_stream_continues_with_the_new_round(feature_market, channel, server):
    market = market_pb2_grpc.MarketServiceStub(channel)
    history = list(bar_batches(prices_of(price_files(histories=(("AAA", "2025-01-01", 25),)))))
    reader = Reader(feature_market.stream(feature_market.deployment, symbols=["AAA"], timeout=120))
    try:
        assert reader.take(1)[0].latest
        market.PublishBars(iter(market_pb2.PublishBarsRequest(bars=b) for b in history[:22]),
                           metadata=feature_market.admin, timeout=60)  # fmt: skip
        first = reader.take(2)  # bars 21 and 22
        feature_market.datasets.CloseRound(datasets_pb2.CloseRoundRequest(number=1), metadata=feature_market.admin)
        feature_market.datasets.PublishRound(
            publish_request({"train": b"x"}, symbols=["AAA", "BBB"], bar_seconds=3600, horizon_bars=4),
            metadata=feature_market.admin,
        )
        market.PublishBars(iter([market_pb2.PublishBarsRequest(bars=history[22])]), metadata=feature_market.admin)
        (after,) = reader.take(1)
    finally:
        reader.call.cancel()
    assert [row.round_number for row in first] == [1, 1]
    assert first[0].horizon.ToTimedelta().total_seconds() == 5 * 86400
    assert after.round_number == 2
    stored = server.run_in_loop(lambda: stored_round(server, 2))
    assert after.horizon.ToTimedelta().total_seconds() == stored.bar_seconds * stored.horizon_bars
    assert after.bar_time.ToDatetime() > first[1].bar_time.ToDatetime()
    assert [feature.name for feature in after.features] == list(FEATURES)


async def stored_round(server, number: int) -> DatasetRound:
    async with server.listening.resources.sessions() as session:
        return await session.get(DatasetRound, number)


def test_over_rest_the_stream_is_ndjson_and_a_run_token_gets_403(feature_market, server, channel):
    token = feature_market.deployment[0][1]
    with httpx.stream("GET", server.http_url + "/api/features:stream", params={"symbols": "CCC"},
                      headers={"Authorization": token}, timeout=30) as response:  # fmt: skip
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/x-ndjson")
        first = json.loads(next(response.iter_lines()))["result"]
    assert (first["symbol"], first["roundNumber"], first["latest"], first["horizon"]) == ("CCC", 1, True, "432000s")
    assert [feature["name"] for feature in first["features"]] == list(FEATURES)
    runs = training_pb2_grpc.TrainingServiceStub(channel)
    run = runs.CreateTrainingRun(training_pb2.CreateTrainingRunRequest(task="signal"), metadata=feature_market.acme)
    run_token = runs.IssueRunToken(training_pb2.IssueRunTokenRequest(run_id=run.id), metadata=feature_market.acme)
    refused = httpx.get(server.http_url + "/api/features:stream",
                        headers={"Authorization": f"Bearer {run_token.token}"})  # fmt: skip
    assert refused.status_code == 403
