from collections.abc import Iterator

import pytest

from tests.helpers.gateway_harness import GatewayHarness, compile_things


@pytest.fixture(scope="session")
def things(tmp_path_factory):
    """(things_pb2, things_pb2_grpc), compiled from tests/helpers/things.proto."""
    return compile_things(tmp_path_factory.mktemp("things"))


@pytest.fixture(scope="module")
def gateway(things) -> Iterator[GatewayHarness]:
    harness = GatewayHarness(*things).start()
    yield harness
    harness.stop()
