"""StreamFeatures through a real server, on SQLite and PostgreSQL: who may read it, what a new subscriber gets at
once, each new bar pushed through MarketService as a feature row equal to the round builder's, the open round
followed, and a subscriber that leaves."""

from __future__ import annotations

import time
from dataclasses import dataclass

import grpc
import pytest

from mlmp_cli.rounds.features import FEATURES, build_round
from mlmp_marketplace.v1 import (
    datasets_pb2_grpc,
    deployments_pb2,
    deployments_pb2_grpc,
    features_pb2,
    features_pb2_grpc,
    training_pb2,
    training_pb2_grpc,
)
from tests.helpers.auth import bearer, create_vendor_token
from tests.helpers.bar_history import price_files, prices_of
from tests.helpers.rounds import csv_publish_request

TOLERANCE = 1e-12


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
