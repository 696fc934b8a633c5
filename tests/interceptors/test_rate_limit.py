import asyncio
import socket
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


def _whoami_until_refused(server: ServerThread, token: str, calls: int) -> list[str]:
    with grpc.insecure_channel(server.grpc_target) as channel:
        auth = auth_pb2_grpc.AuthServiceStub(channel)
        codes = []
        for _ in range(calls):
            try:
                auth.WhoAmI(auth_pb2.WhoAmIRequest(), metadata=bearer(token))
                codes.append("OK")
            except grpc.RpcError as error:
                codes.append(error.code().name)
        return codes


def test_two_servers_on_one_redis_share_the_limit(settings, tmp_path):
    """Two processes' worth of servers (one database, one Redis prefix): the second finds the bucket the first
    emptied. Without Redis each would allow its own burst."""
    from tests.helpers.redis_server import redis_or_skip, redis_prefix

    url = redis_or_skip()
    with redis_prefix(url) as prefix:
        shared = replace(
            settings,
            rate_limits={**settings.rate_limits, "read": RateLimit(per_second=0.01, burst=3)},
            redis_url=url,
            redis_prefix=prefix,
            secret_key=b"s" * 40,
        )
        first = ServerThread(shared).start()
        second = ServerThread(replace(shared, data_dir=tmp_path / "second")).start()
        try:
            with grpc.insecure_channel(first.grpc_target) as channel:
                token = create_vendor_token(auth_pb2_grpc.AuthServiceStub(channel), bearer(first.admin_token)).secret
            assert _whoami_until_refused(first, token, 2) == ["OK", "OK"]
            assert _whoami_until_refused(second, token, 2) == ["OK", "RESOURCE_EXHAUSTED"]
        finally:
            second.stop()
            first.stop()


def test_an_unreachable_redis_leaves_the_server_serving_with_its_own_limits(settings):
    from mlmp_server.core import metrics

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    limited = replace(
        settings,
        rate_limits={**settings.rate_limits, "read": RateLimit(per_second=0.01, burst=2)},
        redis_url=f"redis://127.0.0.1:{closed}/0",
    )
    server = ServerThread(limited).start()
    try:
        with grpc.insecure_channel(server.grpc_target) as channel:
            token = create_vendor_token(auth_pb2_grpc.AuthServiceStub(channel), bearer(server.admin_token)).secret
        refused_before = metrics.rate_limit_rejections.labels("read")._value.get()
        assert _whoami_until_refused(server, token, 3) == ["OK", "OK", "RESOURCE_EXHAUSTED"]
        assert metrics.rate_limiter_shared._value.get() == 0
        assert metrics.rate_limit_rejections.labels("read")._value.get() == refused_before + 1
    finally:
        server.stop()
