"""Revocation reaches open streams: a revoked, rotated or expired token, a deleted deployment or an
ended run ends every open stream standing on it within 1 s, UNAUTHENTICATED, saying why."""

from __future__ import annotations

import asyncio
import json
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import grpc
import httpx
import pytest
from google.protobuf.duration_pb2 import Duration

from mlmp_interceptors.introspection import CachingIntrospector
from mlmp_marketplace.v1 import (
    auth_pb2,
    auth_pb2_grpc,
    datasets_pb2_grpc,
    deployments_pb2,
    deployments_pb2_grpc,
    signals_pb2,
    signals_pb2_grpc,
    training_pb2,
    training_pb2_grpc,
)
from mlmp_marketplace.v1.options_pb2 import PrincipalKind
from mlmp_server.core.errors import Unauthenticated
from mlmp_server.core.principal import CallPrincipal, Principal
from mlmp_server.core.revocation import Revocations
from mlmp_server.core.streams import OpenStreams
from tests.helpers.auth import bearer, create_vendor_token
from tests.helpers.market import batch, signal, stored_count
from tests.helpers.rounds import publish_request
from tests.helpers.server_thread import ServerThread

BOUND = 1.0  # the issue's promise: seconds from the revoking call's return to the stream's end
VENDOR_SCOPES = ("deploy:write", "signals:read", "catalog:read", "training:write")


@dataclass
class Market:
    server: ServerThread
    auth: auth_pb2_grpc.AuthServiceStub
    deployments: deployments_pb2_grpc.DeploymentServiceStub
    signals: signals_pb2_grpc.SignalServiceStub
    runs: training_pb2_grpc.TrainingServiceStub
    admin: tuple
    vendor: auth_pb2.CreateApiTokenResponse

    @property
    def acme(self) -> tuple:
        return bearer(self.vendor.secret)


@pytest.fixture
def market(server, channel, auth, admin) -> Market:
    datasets_pb2_grpc.DatasetServiceStub(channel).PublishRound(
        publish_request({"train": b"x"}, symbols=["AAA", "BBB"]), metadata=admin
    )
    return Market(
        server, auth, deployments_pb2_grpc.DeploymentServiceStub(channel), signals_pb2_grpc.SignalServiceStub(channel),
        training_pb2_grpc.TrainingServiceStub(channel), admin, create_vendor_token(auth, admin, scopes=VENDOR_SCOPES),
    )  # fmt: skip


def ended_at(call: grpc.Future, limit: float = 5.0) -> float:
    """Polls until the call is over (at most `limit` seconds); returns when it was seen over."""
    deadline = time.monotonic() + limit
    while not call.done():
        assert time.monotonic() < deadline, f"the stream was still open {limit:.0f} s later"
        time.sleep(0.01)
    return time.monotonic()


def assert_ended_unauthenticated(call, since: float, says: str) -> None:
    elapsed = ended_at(call) - since
    assert call.code() == grpc.StatusCode.UNAUTHENTICATED, call.details()
    assert says in call.details()
    assert elapsed < BOUND, f"the stream ended {elapsed:.2f} s after the revocation"


class Outbox:
    """A client stream's messages, sent as the test puts them (bounded: it gives up after 20 s)."""

    def __init__(self) -> None:
        self._queue: queue.Queue = queue.Queue()

    def put(self, message) -> None:
        self._queue.put(message)

    def close(self) -> None:
        self._queue.put(None)

    def __iter__(self) -> Iterator:
        while True:
            try:
                message = self._queue.get(timeout=20)
            except queue.Empty:
                return
            if message is None:
                return
            yield message


def open_signal_stream(market: Market, run_id: str = "") -> tuple[str, Outbox, grpc.Future]:
    """A new deployment's StreamSignals with one batch stored and acknowledged."""
    deployment = market.deployments.CreateDeployment(
        deployments_pb2.CreateDeploymentRequest(provider="local", run_id=run_id), metadata=market.acme
    )
    outbox = Outbox()
    call = market.signals.StreamSignals(iter(outbox), metadata=bearer(deployment.token), timeout=30)
    outbox.put(batch(1, signal("AAA")))
    assert next(call).sequence == 1
    return deployment.deployment.id, outbox, call


def test_revoking_a_vendor_token_ends_its_open_subscription(market):
    call = market.signals.SubscribeSignals(signals_pb2.SubscribeSignalsRequest(), metadata=market.acme, timeout=30)
    call.initial_metadata()  # subscribed
    market.auth.RevokeApiToken(auth_pb2.RevokeApiTokenRequest(token_id=market.vendor.token.id), metadata=market.admin)
    assert_ended_unauthenticated(call, time.monotonic(), "the token this stream used was revoked")
    with pytest.raises(grpc.RpcError) as retried:
        market.signals.ListSignals(signals_pb2.ListSignalsRequest(), metadata=market.acme)
    assert retried.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_revoking_a_vendor_token_ends_its_open_ndjson_subscription(market):
    lines: list[dict] = []
    opened, over = threading.Event(), threading.Event()
    ended: list[float] = []

    def follow() -> None:
        headers = {"Authorization": f"Bearer {market.vendor.secret}"}
        try:
            with httpx.stream("GET", market.server.http_url + "/api/signals:subscribe", headers=headers,
                              timeout=10) as response:  # fmt: skip
                assert response.status_code == 200
                opened.set()
                lines.extend(json.loads(line) for line in response.iter_lines())
        finally:
            ended.append(time.monotonic())
            over.set()

    reader = threading.Thread(target=follow, daemon=True)
    reader.start()
    assert opened.wait(10)
    market.auth.RevokeApiToken(auth_pb2.RevokeApiTokenRequest(token_id=market.vendor.token.id), metadata=market.admin)
    revoked = time.monotonic()
    assert over.wait(5), "the subscription was still open 5 s after the revocation"
    assert lines == [{"error": {"code": 16, "message": "the token this stream used was revoked", "details": []}}]
    assert ended[0] - revoked < BOUND


def test_rotating_a_deployment_token_ends_its_open_stream_and_stores_nothing_more(market):
    deployment_id, outbox, call = open_signal_stream(market)
    market.deployments.RotateDeploymentToken(
        deployments_pb2.RotateDeploymentTokenRequest(deployment_id=deployment_id), metadata=market.acme
    )
    rotated = time.monotonic()
    outbox.put(batch(2, signal("BBB")))  # the publisher carries on with the token it holds
    try:
        assert_ended_unauthenticated(call, rotated, "the token this stream used was rotated")
    finally:
        outbox.close()
    assert stored_count(market.server) == 1


def test_deleting_a_deployment_ends_its_open_stream(market):
    deployment_id, outbox, call = open_signal_stream(market)
    market.deployments.DeleteDeployment(
        deployments_pb2.DeleteDeploymentRequest(deployment_id=deployment_id), metadata=market.acme
    )
    deleted = time.monotonic()
    try:  # a quiet stream ends too, not only at its next batch
        assert_ended_unauthenticated(call, deleted, f"the deployment {deployment_id} was deleted")
    finally:
        outbox.close()
    assert stored_count(market.server) == 1


def test_suspending_a_vendor_ends_the_open_streams_of_its_tokens(market):
    _deployment_id, outbox, call = open_signal_stream(market)
    # Subscribed after the batch above, so it has no message waiting to be read before its status.
    subscription = market.signals.SubscribeSignals(
        signals_pb2.SubscribeSignalsRequest(), metadata=market.acme, timeout=30
    )
    subscription.initial_metadata()
    market.auth.SuspendVendor(auth_pb2.SuspendVendorRequest(vendor="acme"), metadata=market.admin)
    suspended = time.monotonic()
    try:  # the vendor's own token's stream and its deployment's, both quiet
        assert_ended_unauthenticated(subscription, suspended, "was suspended by an operator")
        assert_ended_unauthenticated(call, suspended, "was suspended by an operator")
    finally:
        outbox.close()
    assert stored_count(market.server) == 1  # what it stored stays


def upload_open(server: ServerThread) -> bool:
    async def look() -> bool:
        streams = server.listening.resources.streams._open  # type: ignore[union-attr]
        return any(s.method.endswith("/UploadRunArtifact") and s.principal is not None for s in streams)

    return server.run_in_loop(look)


@pytest.mark.parametrize("trainer", ["uploading", "quiet"])
def test_ending_a_run_ends_the_upload_its_run_token_has_open(market, trainer):
    # WatchTrainingRun does not take run tokens; a run token's one stream is the artifact upload.
    run = market.runs.CreateTrainingRun(training_pb2.CreateTrainingRunRequest(task="signal"), metadata=market.acme)
    token = market.runs.IssueRunToken(training_pb2.IssueRunTokenRequest(run_id=run.id), metadata=market.acme).token
    outbox = Outbox()
    upload = market.runs.UploadRunArtifact.future(iter(outbox), metadata=bearer(token), timeout=30)
    header = training_pb2.UploadRunArtifactRequest.Header(run_id=run.id, file_name="model.bin")
    outbox.put(training_pb2.UploadRunArtifactRequest(header=header))
    outbox.put(training_pb2.UploadRunArtifactRequest(chunk=b"w" * 1024))
    deadline = time.monotonic() + 10
    while not upload_open(market.server):
        assert time.monotonic() < deadline, "the upload never opened"
        time.sleep(0.01)
    market.runs.CancelTrainingRun(training_pb2.CancelTrainingRunRequest(run_id=run.id), metadata=market.acme)
    cancelled = time.monotonic()
    if trainer == "uploading":
        outbox.put(training_pb2.UploadRunArtifactRequest(chunk=b"w" * 1024))
    try:
        assert_ended_unauthenticated(upload, cancelled, f"the run {run.id} ended")
    finally:
        outbox.close()
    got = market.runs.GetTrainingRun(training_pb2.GetTrainingRunRequest(run_id=run.id), metadata=market.acme)
    assert not got.HasField("artifact")


def test_a_token_expiring_ends_its_open_subscription_at_expiry(market):
    short = create_vendor_token(market.auth, market.admin, scopes=VENDOR_SCOPES, ttl=Duration(seconds=3))
    call = market.signals.SubscribeSignals(
        signals_pb2.SubscribeSignalsRequest(), metadata=bearer(short.secret), timeout=30
    )
    call.initial_metadata()
    expires = short.token.expire_time.ToNanoseconds() / 1e9
    assert time.time() < expires, "the subscription opened after its token expired: this machine is too slow"
    ended_at(call, limit=expires - time.time() + 5)
    late = time.time() - expires
    assert call.code() == grpc.StatusCode.UNAUTHENTICATED, call.details()
    assert "the token this stream used expired" in call.details()
    assert -0.1 < late < BOUND, f"the stream ended {late:.2f} s after its token expired"


def test_a_deployment_of_a_run_keeps_its_stream_when_the_run_is_told_it_ended(market):
    # A deployment's principal carries its run's id, and calls on a finished run report it ended
    # again: only the run's own tokens die with it.
    run = market.runs.CreateTrainingRun(training_pb2.CreateTrainingRunRequest(task="signal"), metadata=market.acme)
    for state in (training_pb2.RUN_STATE_RUNNING, training_pb2.RUN_STATE_SUCCEEDED):
        market.runs.TransitionTrainingRun(
            training_pb2.TransitionTrainingRunRequest(run_id=run.id, state=state), metadata=market.acme
        )
    _deployment_id, outbox, call = open_signal_stream(market, run_id=run.id)
    heartbeat = market.runs.HeartbeatTrainingRun(
        training_pb2.HeartbeatTrainingRunRequest(run_id=run.id), metadata=market.acme
    )
    assert heartbeat.cancel_requested  # the server looked at the run and found it ended
    outbox.put(batch(2, signal("BBB")))
    try:
        assert next(call).sequence == 2
    finally:
        outbox.close()


class RevokedWhileAsked:
    """A token source whose first answer was read just before the token's revocation committed."""

    def __init__(self) -> None:
        self.answers: list[Principal | None] = [
            Principal("tok_1", PrincipalKind.PRINCIPAL_KIND_VENDOR, frozenset()),
            None,
        ]
        self.reading, self.release = asyncio.Event(), asyncio.Event()

    async def introspect(self, token: str) -> Principal | None:
        answer = self.answers.pop(0)
        if answer is not None:
            self.reading.set()
            await self.release.wait()
        return answer


def test_an_answer_read_while_its_token_was_revoked_does_not_let_the_call_in():
    async def scenario() -> None:
        source = RevokedWhileAsked()
        cache = CachingIntrospector(source)
        lookup = asyncio.ensure_future(cache.introspect("mpat_x"))
        await source.reading.wait()
        cache.forget_token("tok_1")  # the revocation committed and is forgotten meanwhile
        source.release.set()
        assert await lookup is None
        assert await cache.introspect("mpat_x") is None

    asyncio.run(scenario())


def test_removing_a_vendor_ends_the_streams_of_all_its_tokens_and_no_others():
    # No RPC removes a vendor yet; the hook is there for the one that will.
    async def scenario() -> None:
        streams = OpenStreams()
        revocations = Revocations(CachingIntrospector(RevokedWhileAsked()), streams)

        def opened(kind: PrincipalKind.ValueType, vendor_id: str):
            principal = Principal(f"tok_{kind}_{vendor_id}", kind, frozenset(), vendor_id=vendor_id)
            return streams.open("/m", CallPrincipal(principal), client_stream=True)

        kinds = (PrincipalKind.PRINCIPAL_KIND_VENDOR, PrincipalKind.PRINCIPAL_KIND_DEPLOYMENT,
                 PrincipalKind.PRINCIPAL_KIND_RUN)  # fmt: skip
        acme = [opened(kind, "ven_acme") for kind in kinds]
        other = opened(PrincipalKind.PRINCIPAL_KIND_VENDOR, "ven_other")
        assert revocations.vendor_removed("ven_acme") == 3
        assert all(isinstance(stream.ending, Unauthenticated) for stream in acme)
        assert other.ending is None

    asyncio.run(scenario())
