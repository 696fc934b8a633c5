"""The library's FeatureStream against a gRPC server on a real port that breaks its streams: it reconnects with
back-off, with the current token each time, and says plainly when the marketplace has no feature stream."""

from __future__ import annotations

import threading
from concurrent import futures

import grpc
import pytest

from mlmp_cli.publisher import FeatureStream, FeatureStreamUnsupported
from mlmp_cli.publisher.retry import Backoff
from mlmp_marketplace.v1 import features_pb2, features_pb2_grpc


class BreakingFeatures(features_pb2_grpc.FeatureServiceServicer):
    """Each call sends one row of round `call number`, then ends UNAVAILABLE (a replica going away)."""

    def __init__(self, code: grpc.StatusCode = grpc.StatusCode.UNAVAILABLE) -> None:
        self.code, self.tokens, self.lock = code, [], threading.Lock()

    def StreamFeatures(self, request, context):
        with self.lock:
            self.tokens.append(dict(context.invocation_metadata()).get("authorization", ""))
            number = len(self.tokens)
        if self.code == grpc.StatusCode.UNIMPLEMENTED:
            context.abort(self.code, "no such method")
        row = features_pb2.FeatureRow(symbol="AAA", round_number=number, latest=number == 1,
                                      features=[features_pb2.Feature(name="ret_1", value=0.5 * number)])  # fmt: skip
        row.horizon.FromSeconds(432000)
        yield row
        context.abort(self.code, "going away")


@pytest.fixture
def serving():
    servers = []

    def start(servicer) -> str:
        server = grpc.server(futures.ThreadPoolExecutor(4))
        features_pb2_grpc.add_FeatureServiceServicer_to_server(servicer, server)
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        servers.append(server)
        return f"127.0.0.1:{port}"

    yield start
    for server in servers:
        server.stop(0)


def test_a_broken_stream_is_reconnected_with_the_current_token(serving):
    servicer = BreakingFeatures()
    tokens = iter(["Bearer one", "Bearer two", "Bearer three"])
    stream = FeatureStream(serving(servicer), lambda: (("authorization", next(tokens)),),
                           backoff=Backoff(first=0.01, ceiling=0.05))  # fmt: skip
    rows = []
    for row in stream:
        rows.append(row)
        if len(rows) == 3:
            stream.close()
    assert [(row.round_number, row.latest) for row in rows] == [(1, True), (2, False), (3, False)]
    assert rows[1].features == {"ret_1": 1.0}
    assert rows[0].horizon.total_seconds() == 432000
    assert servicer.tokens == ["Bearer one", "Bearer two", "Bearer three"]
    assert stream.connects == 3


def test_a_marketplace_without_the_feature_stream_is_said_so(serving):
    stream = FeatureStream(serving(BreakingFeatures(grpc.StatusCode.UNIMPLEMENTED)), lambda: ())
    with pytest.raises(FeatureStreamUnsupported, match="upgrade mp-server"):
        next(iter(stream))
