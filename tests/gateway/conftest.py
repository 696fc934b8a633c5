from collections.abc import Iterator

import pytest

from tests.helpers.gateway_harness import GatewayHarness, compile_things


@pytest.fixture(scope="session")
def things(tmp_path_factory):
    """(things_pb2, things_pb2_grpc), compiled from tests/helpers/things.proto."""
    return compile_things(tmp_path_factory.mktemp("things"))


@pytest.fixture(scope="module", params=["grpc-channel", "in-process"])
def gateway(things, request) -> Iterator[GatewayHarness]:
    """The same behaviour over both kinds of channel: a gRPC one (mp-server gateway) and in-process (mp-server)."""
    harness = GatewayHarness(*things, in_process=request.param == "in-process").start()
    yield harness
    harness.stop()
