"""TrainingService through a real server on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import grpc
import pytest
from google.protobuf import struct_pb2
from sqlalchemy import func, select

from mlmp_marketplace.v1 import common_pb2, datasets_pb2_grpc, training_pb2, training_pb2_grpc
from mlmp_server.core.clock import ManualClock
from mlmp_server.db.models import TrainingRun
from tests.helpers.auth import bearer, create_vendor_token
from tests.helpers.rounds import publish_request
from tests.helpers.server_thread import ServerThread
from tests.helpers.training import start, value

State = training_pb2.RunState


def test_a_run_goes_through_its_lifecycle_with_typed_hyperparameters(runs, acme):
    run = start(runs, acme)
    assert (run.state, run.round_number, run.provider) == (State.RUN_STATE_QUEUED, 1, "local")
    assert run.hyperparameters["lr"].number_value == 0.001
    assert [v.number_value for v in run.hyperparameters["layers"].list_value.values] == [64, 32]
    running = runs.TransitionTrainingRun(
        training_pb2.TransitionTrainingRunRequest(run_id=run.id, state=State.RUN_STATE_RUNNING), metadata=acme
    )
    assert running.HasField("start_time")
    done = runs.TransitionTrainingRun(
        training_pb2.TransitionTrainingRunRequest(run_id=run.id, state=State.RUN_STATE_SUCCEEDED, exit_code=0),
        metadata=acme,
    )
    assert done.state == State.RUN_STATE_SUCCEEDED
    with pytest.raises(grpc.RpcError) as caught:
        runs.TransitionTrainingRun(
            training_pb2.TransitionTrainingRunRequest(run_id=run.id, state=State.RUN_STATE_RUNNING), metadata=acme
        )
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "already ended (succeeded)" in caught.value.details()


def test_another_vendors_run_does_not_exist_for_you(runs, acme, auth, admin):
    run = start(runs, acme)
    other = bearer(create_vendor_token(auth, admin, slug="other", scopes=("training:write",)).secret)
    for call, request in (
        (runs.GetTrainingRun, training_pb2.GetTrainingRunRequest(run_id=run.id)),
        (runs.CancelTrainingRun, training_pb2.CancelTrainingRunRequest(run_id=run.id)),
    ):
        with pytest.raises(grpc.RpcError) as caught:
            call(request, metadata=other)
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert runs.ListTrainingRuns(training_pb2.ListTrainingRunsRequest(), metadata=other).runs == []
    assert [r.id for r in runs.ListTrainingRuns(training_pb2.ListTrainingRunsRequest(), metadata=admin).runs] == [
        run.id
    ]


def test_concurrent_retries_of_one_create_make_one_run(server, runs, acme):
    request = training_pb2.CreateTrainingRunRequest(request_id="same-command", task="signal")
    with ThreadPoolExecutor(6) as pool:
        ids = {r.id for r in pool.map(lambda _: runs.CreateTrainingRun(request, metadata=acme), range(6))}
    assert len(ids) == 1
    changed = training_pb2.CreateTrainingRunRequest(request_id="same-command", task="other")
    with pytest.raises(grpc.RpcError) as caught:
        runs.CreateTrainingRun(changed, metadata=acme)
    assert caught.value.code() == grpc.StatusCode.ALREADY_EXISTS

    async def count():
        async with server.listening.resources.sessions() as session:
            return await session.scalar(select(func.count()).select_from(TrainingRun))

    assert server.run_in_loop(count) == 1


def test_metrics_and_logs_stream_to_a_watcher_until_the_run_ends(runs, acme):
    run = start(runs, acme)
    runs.TransitionTrainingRun(
        training_pb2.TransitionTrainingRunRequest(run_id=run.id, state=State.RUN_STATE_RUNNING), metadata=acme
    )
    seen: list[training_pb2.RunEvent] = []
    watcher = threading.Thread(
        target=lambda: seen.extend(
            runs.WatchTrainingRun(training_pb2.WatchTrainingRunRequest(run_id=run.id), metadata=acme)
        )
    )
    watcher.start()
    metrics = [training_pb2.Metric(key="corr", value=0.01 * step, step=step) for step in range(1, 4)]
    assert (
        runs.ReportMetrics(training_pb2.ReportMetricsRequest(run_id=run.id, metrics=metrics), metadata=acme).accepted
        == 3
    )
    runs.AppendRunLogs(
        training_pb2.AppendRunLogsRequest(run_id=run.id, lines=[training_pb2.LogLine(stream="stdout", text="epoch 1")]),
        metadata=acme,
    )
    runs.TransitionTrainingRun(
        training_pb2.TransitionTrainingRunRequest(run_id=run.id, state=State.RUN_STATE_FAILED, exit_code=3,
                                                  message="train.py exited with 3"), metadata=acme,
    )  # fmt: skip
    watcher.join(10)
    assert not watcher.is_alive(), "the watch stream ends with the run"
    kinds = [event.WhichOneof("event") for event in seen]
    assert kinds == ["state_change", "state_change", "metric", "metric", "metric", "log", "state_change"]
    assert [e.sequence for e in seen] == list(range(1, 8))
    assert seen[-1].state_change.to_state == State.RUN_STATE_FAILED
    got = runs.GetTrainingRun(training_pb2.GetTrainingRunRequest(run_id=run.id), metadata=acme)
    assert (got.latest_metrics["corr"], got.exit_code, got.message) == (
        pytest.approx(0.03),
        3,
        "train.py exited with 3",
    )
    replay = list(
        runs.WatchTrainingRun(training_pb2.WatchTrainingRunRequest(run_id=run.id, after_sequence=5), metadata=acme)
    )
    assert [e.sequence for e in replay] == [6, 7]


def test_a_run_whose_heartbeat_stops_becomes_lost(settings):
    clock = ManualClock(start=time.time())
    # A cache TTL far past the lease: only the run's end, not the cache, can end its token's life.
    server = ServerThread(replace(settings, introspection_ttl=600), clock=clock).start()
    try:
        with grpc.insecure_channel(server.grpc_target) as channel:
            from mlmp_marketplace.v1 import auth_pb2_grpc

            admin = bearer(server.admin_token)
            datasets_pb2_grpc.DatasetServiceStub(channel).PublishRound(publish_request({"a": b"x"}), metadata=admin)
            acme = bearer(create_vendor_token(auth_pb2_grpc.AuthServiceStub(channel), admin).secret)
            runs = training_pb2_grpc.TrainingServiceStub(channel)
            run = start(runs, acme)
            runs.TransitionTrainingRun(
                training_pb2.TransitionTrainingRunRequest(run_id=run.id, state=State.RUN_STATE_RUNNING), metadata=acme
            )
            clock.advance(50)
            beat = runs.HeartbeatTrainingRun(training_pb2.HeartbeatTrainingRunRequest(run_id=run.id), metadata=acme)
            assert not beat.cancel_requested
            clock.advance(50)  # 100 s after start, 50 s after the heartbeat: inside the 60 s lease
            assert (
                runs.GetTrainingRun(training_pb2.GetTrainingRunRequest(run_id=run.id), metadata=acme).state
                == State.RUN_STATE_RUNNING
            )
            clock.advance(11)
            lost = runs.GetTrainingRun(training_pb2.GetTrainingRunRequest(run_id=run.id), metadata=acme)
            assert lost.state == State.RUN_STATE_LOST
            assert "no heartbeat" in lost.message

            # A late report on a run whose lease ran out: refused, the verdict stays, its token dies.
            late = start(runs, acme)
            token = bearer(runs.IssueRunToken(training_pb2.IssueRunTokenRequest(run_id=late.id), metadata=acme).token)
            runs.TransitionTrainingRun(
                training_pb2.TransitionTrainingRunRequest(run_id=late.id, state=State.RUN_STATE_RUNNING), metadata=token
            )
            clock.advance(61)
            with pytest.raises(grpc.RpcError) as caught:
                runs.TransitionTrainingRun(
                    training_pb2.TransitionTrainingRunRequest(run_id=late.id, state=State.RUN_STATE_SUCCEEDED),
                    metadata=token,
                )
            assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
            assert "is lost" in caught.value.details()
            got = runs.GetTrainingRun(training_pb2.GetTrainingRunRequest(run_id=late.id), metadata=acme)
            assert got.state == State.RUN_STATE_LOST
            with pytest.raises(grpc.RpcError) as caught:
                runs.GetTrainingRun(training_pb2.GetTrainingRunRequest(run_id=late.id), metadata=token)
            assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    finally:
        server.stop()


def test_cancel_tells_the_executor_through_its_heartbeat(runs, acme):
    run = start(runs, acme)
    runs.TransitionTrainingRun(
        training_pb2.TransitionTrainingRunRequest(run_id=run.id, state=State.RUN_STATE_RUNNING), metadata=acme
    )
    cancelled = runs.CancelTrainingRun(
        training_pb2.CancelTrainingRunRequest(run_id=run.id, reason="Ctrl-C"), metadata=acme
    )
    assert (cancelled.state, cancelled.message) == (State.RUN_STATE_CANCELLED, "Ctrl-C")
    assert runs.HeartbeatTrainingRun(
        training_pb2.HeartbeatTrainingRunRequest(run_id=run.id), metadata=acme
    ).cancel_requested


def test_an_artifact_is_stored_with_its_size_and_sha256(runs, acme):
    run = start(runs, acme)
    data = b"model weights" * 10_000

    def upload(expected_sha: str):
        header = training_pb2.UploadRunArtifactRequest.Header(
            run_id=run.id, file_name="model.joblib",
            expected=common_pb2.FileDigest(size_bytes=len(data), sha256=expected_sha),
        )  # fmt: skip
        yield training_pb2.UploadRunArtifactRequest(header=header)
        for start_at in range(0, len(data), 32_768):
            yield training_pb2.UploadRunArtifactRequest(chunk=data[start_at : start_at + 32_768])

    with pytest.raises(grpc.RpcError) as caught:
        runs.UploadRunArtifact(upload("0" * 64), metadata=acme)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    stored = runs.UploadRunArtifact(upload(hashlib.sha256(data).hexdigest()), metadata=acme)
    assert (stored.artifact.size_bytes, stored.artifact.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    assert stored.artifact_uri.endswith("/model.joblib")


def test_a_run_token_reaches_its_own_run_only_and_dies_with_it(runs, acme, auth):
    from mlmp_marketplace.v1 import auth_pb2
    from mlmp_marketplace.v1.options_pb2 import PrincipalKind

    run, other = start(runs, acme), start(runs, acme)
    issued = runs.IssueRunToken(training_pb2.IssueRunTokenRequest(run_id=run.id), metadata=acme)
    assert issued.token.startswith("mprt_")
    remote = bearer(issued.token)
    me = auth.WhoAmI(auth_pb2.WhoAmIRequest(), metadata=remote)
    assert (me.kind, me.run_id, me.vendor.slug) == (PrincipalKind.PRINCIPAL_KIND_RUN, run.id, "acme")
    runs.TransitionTrainingRun(
        training_pb2.TransitionTrainingRunRequest(run_id=run.id, state=State.RUN_STATE_RUNNING), metadata=remote
    )
    runs.ReportMetrics(training_pb2.ReportMetricsRequest(
        run_id=run.id, metrics=[training_pb2.Metric(key="corr", value=0.1)]), metadata=remote)  # fmt: skip
    with pytest.raises(grpc.RpcError) as caught:
        runs.GetTrainingRun(training_pb2.GetTrainingRunRequest(run_id=other.id), metadata=remote)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    for call, request in (
        (runs.ListTrainingRuns, training_pb2.ListTrainingRunsRequest()),
        (runs.CreateTrainingRun, training_pb2.CreateTrainingRunRequest(task="signal")),
        (runs.IssueRunToken, training_pb2.IssueRunTokenRequest(run_id=run.id)),
        (auth.ListVendors, auth_pb2.ListVendorsRequest()),
    ):
        with pytest.raises(grpc.RpcError) as caught:
            call(request, metadata=remote)
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    runs.TransitionTrainingRun(
        training_pb2.TransitionTrainingRunRequest(run_id=run.id, state=State.RUN_STATE_SUCCEEDED), metadata=remote
    )
    with pytest.raises(grpc.RpcError) as caught:  # it was cached as valid; the run's end ends it at once
        runs.GetTrainingRun(training_pb2.GetTrainingRunRequest(run_id=run.id), metadata=remote)
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED


def succeeded_run_with_model(runs, who, data: bytes) -> training_pb2.TrainingRun:
    run = start(runs, who)
    for state in (State.RUN_STATE_RUNNING, State.RUN_STATE_SUCCEEDED):
        runs.TransitionTrainingRun(training_pb2.TransitionTrainingRunRequest(run_id=run.id, state=state), metadata=who)
    header = training_pb2.UploadRunArtifactRequest.Header(
        run_id=run.id, file_name="model.json",
        expected=common_pb2.FileDigest(size_bytes=len(data), sha256=hashlib.sha256(data).hexdigest()),
    )  # fmt: skip
    parts = [training_pb2.UploadRunArtifactRequest(header=header), training_pb2.UploadRunArtifactRequest(chunk=data)]
    return runs.UploadRunArtifact(iter(parts), metadata=who)


def test_a_deployment_fetches_its_own_runs_model_and_no_other(server, runs, auth, admin):
    import httpx

    from mlmp_marketplace.v1 import deployments_pb2, deployments_pb2_grpc

    vendor = bearer(create_vendor_token(auth, admin, slug="acme", scopes=("training:write", "deploy:write")).secret)
    mine, other = succeeded_run_with_model(runs, vendor, b'{"w": 1}'), succeeded_run_with_model(runs, vendor, b"{}")
    with grpc.insecure_channel(server.grpc_target) as channel:
        token = (
            deployments_pb2_grpc.DeploymentServiceStub(channel)
            .CreateDeployment(
                deployments_pb2.CreateDeploymentRequest(provider="runpod", run_id=mine.id), metadata=vendor
            )
            .token
        )
    link = runs.CreateArtifactUrl(training_pb2.CreateArtifactUrlRequest(run_id=mine.id), metadata=bearer(token))
    assert (link.file_name, link.digest.sha256) == ("model.json", hashlib.sha256(b'{"w": 1}').hexdigest())
    assert httpx.get(link.url).content == b'{"w": 1}'
    with pytest.raises(grpc.RpcError) as caught:
        runs.CreateArtifactUrl(training_pb2.CreateArtifactUrlRequest(run_id=other.id), metadata=bearer(token))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as caught:
        runs.GetTrainingRun(training_pb2.GetTrainingRunRequest(run_id=mine.id), metadata=bearer(token))
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_oversized_runs_are_refused_so_the_list_stays_readable(runs, acme):
    """One run with megabytes of hyperparameters made every page of ListTrainingRuns too big to return."""
    big = training_pb2.CreateTrainingRunRequest(task="signal")
    big.hyperparameters["weights"].CopyFrom(value(["w" * 1000] * 1000))  # about 1 MB
    many = training_pb2.CreateTrainingRunRequest(task="signal")
    for n in range(257):
        many.hyperparameters[f"p{n}"].CopyFrom(value(n))
    not_finite = training_pb2.CreateTrainingRunRequest(task="signal")
    not_finite.hyperparameters["lr"].CopyFrom(struct_pb2.Value(number_value=float("nan")))
    for request, message in [
        (big, "at most 64 KiB"),
        (many, "hyperparameters holds at most 256 entries"),  # the contract's (rule), checked first
        (not_finite, "lr"),
        (training_pb2.CreateTrainingRunRequest(task="signal", project="p" * 201), "project"),
        (training_pb2.CreateTrainingRunRequest(task="signal", gpu_type="g" * 65), "gpu_type"),
        (training_pb2.CreateTrainingRunRequest(task="signal", project="p\x00"), "project holds a NUL character"),
    ]:
        with pytest.raises(grpc.RpcError) as caught:
            runs.CreateTrainingRun(request, metadata=acme)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, caught.value.details()
        assert message in caught.value.details()
        assert len(caught.value.details()) < 300
    assert not runs.ListTrainingRuns(training_pb2.ListTrainingRunsRequest(), metadata=acme).runs


def test_a_run_reports_a_bounded_number_of_metric_names(runs, acme):
    run = start(runs, acme)
    report = training_pb2.ReportMetricsRequest(
        run_id=run.id, metrics=[training_pb2.Metric(key=f"m{n}", value=n) for n in range(256)]
    )
    assert runs.ReportMetrics(report, metadata=acme).accepted == 256
    with pytest.raises(grpc.RpcError) as caught:
        runs.ReportMetrics(
            training_pb2.ReportMetricsRequest(run_id=run.id, metrics=[training_pb2.Metric(key="one_more", value=1)]),
            metadata=acme,
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "at most 256 metric names" in caught.value.details()
    assert (
        runs.ReportMetrics(  # a known name still reports
            training_pb2.ReportMetricsRequest(run_id=run.id, metrics=[training_pb2.Metric(key="m1", value=2)]),
            metadata=acme,
        ).accepted
        == 1
    )
    assert (
        len(runs.GetTrainingRun(training_pb2.GetTrainingRunRequest(run_id=run.id), metadata=acme).latest_metrics) == 256
    )


def test_a_metric_that_is_not_a_finite_number_is_refused_on_both_databases(runs, acme):
    run = start(runs, acme)
    with pytest.raises(grpc.RpcError) as caught:
        runs.ReportMetrics(
            training_pb2.ReportMetricsRequest(
                run_id=run.id, metrics=[training_pb2.Metric(key="loss", value=float("nan"))]
            ),
            metadata=acme,
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "metric loss is nan" in caught.value.details()


def test_a_crash_message_with_nul_characters_still_ends_the_run(runs, acme):
    run = start(runs, acme)
    failed = runs.TransitionTrainingRun(
        training_pb2.TransitionTrainingRunRequest(
            run_id=run.id, state=State.RUN_STATE_FAILED, exit_code=1, message="Segfault\x00\x00 in train.py"
        ),
        metadata=acme,
    )
    assert (failed.state, failed.message) == (State.RUN_STATE_FAILED, "Segfault\ufffd\ufffd in train.py")
