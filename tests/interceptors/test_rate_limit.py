import asyncio
from dataclasses import replace

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2

from mlmp_interceptors.rate_limit import InMemoryRateLimiter
from mlmp_marketplace.v1 import auth_pb2, auth_pb2_grpc
from mlmp_server.core.clock import ManualClock
from mlmp_server.settings import RateLimit
from tests.helpers.auth import bearer, create_vendor_token
from tests.helpers.server_thread import ServerThread


def test_a_bucket_allows_its_burst_then_says_how_long_to_wait():
    clock = ManualClock()
    limiter = InMemoryRateLimiter(clock)
    limit = RateLimit(per_second=2, burst=3)

    async def scenario():
        assert [await limiter.acquire("k", limit) for _ in range(3)] == [0, 0, 0]
        assert await limiter.acquire("k", limit) == pytest.approx(0.5)
        clock.advance(0.5)
        assert await limiter.acquire("k", limit) == 0
        assert await limiter.acquire("other", limit) == 0  # buckets are per key

    asyncio.run(scenario())


def test_over_the_limit_is_resource_exhausted_with_the_delay(settings):
    limited = replace(settings, rate_limits={**settings.rate_limits, "read": RateLimit(per_second=0.5, burst=2)})
    server = ServerThread(limited).start()
    try:
        with grpc.insecure_channel(server.grpc_target) as channel:
            auth = auth_pb2_grpc.AuthServiceStub(channel)
            admin = bearer(server.admin_token)
            vendor = bearer(create_vendor_token(auth, admin).secret)
            for _ in range(2):
                auth.WhoAmI(auth_pb2.WhoAmIRequest(), metadata=vendor)
            with pytest.raises(grpc.RpcError) as caught:
                auth.WhoAmI(auth_pb2.WhoAmIRequest(), metadata=vendor)
            error = caught.value
            assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            trailers = dict(error.trailing_metadata())
            assert 1000 <= int(trailers["retry-after-ms"]) <= 2000
            status = status_pb2.Status.FromString(trailers["grpc-status-details-bin"])
            retry = error_details_pb2.RetryInfo()
            assert status.details[0].Unpack(retry)
            assert retry.retry_delay.seconds in (1, 2)
            for _ in range(5):  # operators are never limited
                auth.WhoAmI(auth_pb2.WhoAmIRequest(), metadata=admin)
    finally:
        server.stop()
