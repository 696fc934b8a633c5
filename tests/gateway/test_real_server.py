"""Hostile input against a real mp-server: garbage protobuf straight to gRPC, and answers larger than
gRPC's 4 MiB default through the gateway's loopback channel."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import grpc
import httpx
import pytest

from mlmp_marketplace.v1 import training_pb2
from mlmp_server.settings import RateLimit, Settings, default_database_url
from tests.helpers.auth import bearer
from tests.helpers.server_thread import ServerThread
from tests.helpers.training import start

NESTED_GROUPS = b"\x7b" * 200 + b"\x7c" * 200  # field 15 as groups, 200 deep: past protobuf's limit of 100
GARBAGE = (b"\xff\xff\xff", b"\x0a\x05ab", NESTED_GROUPS)


@pytest.fixture(scope="module")
def mp_server(tmp_path_factory) -> Iterator[ServerThread]:
    data = tmp_path_factory.mktemp("mp")
    server = ServerThread(Settings(data_dir=data, database_url=default_database_url(data))).start()
    yield server
    server.stop()


@pytest.mark.parametrize("payload", GARBAGE)
@pytest.mark.parametrize(
    "method",
    [
        "/marketplace.v1.AuthService/WhoAmI",
        "/marketplace.v1.DatasetService/ListRounds",
        "/marketplace.v1.TrainingService/GetTrainingRun",  # its ownership check reads the request first
        "/grpc.health.v1.Health/Check",
    ],
)
def test_undecodable_unary_requests_are_invalid_argument(mp_server, method, payload):
    with grpc.insecure_channel(mp_server.grpc_target) as channel:
        call = channel.unary_unary(method, request_serializer=None, response_deserializer=None)
        with pytest.raises(grpc.RpcError) as refused:
            call(payload, metadata=bearer(mp_server.admin_token), timeout=10)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT, refused.value.details()
    assert "not a valid" in refused.value.details()


@pytest.mark.parametrize("payload", GARBAGE)
def test_undecodable_stream_requests_are_invalid_argument(mp_server, payload):
    with grpc.insecure_channel(mp_server.grpc_target) as channel:
        # PublishRound's servicer reads the stream; UploadRunArtifact's ownership check reads it first.
        for method in (
            "/marketplace.v1.DatasetService/PublishRound",
            "/marketplace.v1.TrainingService/UploadRunArtifact",
        ):
            upload = channel.stream_unary(method, request_serializer=None)
            with pytest.raises(grpc.RpcError) as refused:
                upload(iter([payload]), metadata=bearer(mp_server.admin_token), timeout=10)
            assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT, refused.value.details()
        watch = channel.unary_stream("/grpc.health.v1.Health/Watch", request_serializer=None)
        with pytest.raises(grpc.RpcError) as refused:
            list(watch(payload, timeout=10))
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT, refused.value.details()


def test_well_formed_requests_still_pass(mp_server):
    with grpc.insecure_channel(mp_server.grpc_target) as channel:
        call = channel.unary_unary("/marketplace.v1.AuthService/WhoAmI", request_serializer=None)
        assert call(b"", metadata=bearer(mp_server.admin_token), timeout=10)


def test_a_list_answer_over_4_mib_is_returned_through_the_gateway(settings, tmp_path: Path):
    """Runs with hyperparameters of the largest allowed size: their list page is several MiB, which
    gRPC's 4 MiB default would have refused on the gateway's side as RESOURCE_EXHAUSTED (a 429)."""
    from mlmp_marketplace.v1 import auth_pb2_grpc, datasets_pb2_grpc, training_pb2_grpc
    from tests.helpers.auth import create_vendor_token
    from tests.helpers.rounds import publish_request

    unlimited = {kind: RateLimit(per_second=100_000, burst=100_000) for kind in settings.rate_limits}
    api = ServerThread(replace(settings, rate_limits=unlimited)).start()
    try:
        with grpc.insecure_channel(api.grpc_target) as channel:
            admin = bearer(api.admin_token)
            datasets_pb2_grpc.DatasetServiceStub(channel).PublishRound(publish_request({"train": b"x"}), metadata=admin)
            vendor = bearer(create_vendor_token(auth_pb2_grpc.AuthServiceStub(channel), admin).secret)
            runs = training_pb2_grpc.TrainingServiceStub(channel)
            for index in range(80):
                request = training_pb2.CreateTrainingRunRequest(task="signal", request_id=f"big-{index}")
                request.hyperparameters["notes"].string_value = "n" * 60_000
                runs.CreateTrainingRun(request, metadata=vendor)
        listed = httpx.get(api.http_url + "/api/training/runs", params={"pageSize": "100"},
                           headers={"Authorization": vendor[0][1]}, timeout=60)  # fmt: skip
        assert listed.status_code == 200, listed.text[:300]
        assert len(listed.content) > 4 * 1024 * 1024
        assert len(listed.json()["runs"]) == 80
    finally:
        api.stop()


def test_a_list_page_stops_short_of_the_message_limit():
    """However large the stored objects allowed, a page stays answerable: it is cut by bytes too, and
    its token leads on to the rest."""
    from mlmp_server.core import pagination

    runs_pb = [training_pb2.TrainingRun(id=f"run_{i}", message="m" * 1000) for i in range(10)]
    shown = pagination.within_page_bytes(runs_pb, limit=3_500)
    assert [run.id for run in shown] == ["run_0", "run_1", "run_2"]
    assert pagination.within_page_bytes(runs_pb[:1], limit=10) == runs_pb[:1]  # never an empty page
    page = pagination.read_page(10, "", key=(str,))
    token = page.next_token(runs_pb + [runs_pb[0]], lambda run: (run.id,), len(shown))
    assert pagination.read_page(10, token, key=(str,)).after == ("run_2",)  # continues after the last shown


def test_reflection_still_answers(mp_server):
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    with grpc.insecure_channel(mp_server.grpc_target) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        [answer] = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
    assert "marketplace.v1.AuthService" in {s.name for s in answer.list_services_response.service}
    with grpc.insecure_channel(mp_server.grpc_target) as channel:
        info = channel.stream_stream("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo")
        with pytest.raises(grpc.RpcError) as refused:
            list(info(iter([NESTED_GROUPS]), timeout=10))
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_a_huge_metric_key_is_400_with_a_bounded_message(server, runs, acme):
    """The server's message quotes the key: unbounded, it overflowed gRPC's metadata limit (seen as 429)."""
    run = start(runs, acme)
    key = "k" * 100_000
    response = httpx.post(
        f"{server.http_url}/api/training/runs/{run.id}/metrics",
        json={"metrics": [{"key": key, "value": 1.0, "step": "1"}]},
        headers={"Authorization": acme[0][1]},
    )
    assert response.status_code == 400, response.text[:300]
    assert "metric name" in response.json()["message"]
    assert len(response.content) < 2048
    with pytest.raises(grpc.RpcError) as refused:
        runs.ReportMetrics(
            training_pb2.ReportMetricsRequest(run_id=run.id, metrics=[training_pb2.Metric(key=key, value=1.0)]),
            metadata=acme,
        )
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_a_refused_streamed_body_gets_its_own_status_every_time(mp_server):
    """The gateway streams a whole NDJSON body; the server refuses after the first message. grpc.aio
    clients lose that status to "Internal error from Core" when a write is still in flight
    (grpc/grpc#36066), so the server reads what is in flight before refusing."""
    headers = {"Authorization": f"Bearer {mp_server.admin_token}"}  # an admin may not stream signals
    with httpx.Client(base_url=mp_server.http_url, timeout=30) as client:
        codes = [
            client.post("/api/signals:stream", content=b"{}\n" * (1 + attempt % 7), headers=headers).status_code
            for attempt in range(100)
        ]
    assert set(codes) == {403}
