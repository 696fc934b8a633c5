"""The TTL cache in front of introspection, driven by an injected clock (no sleeps)."""

import asyncio

import pytest

from mlmp_interceptors.introspection import CachingIntrospector
from mlmp_marketplace.v1.options_pb2 import PrincipalKind
from mlmp_server.core.clock import ManualClock
from mlmp_server.core.errors import Unavailable
from mlmp_server.core.principal import Principal


class CountingSource:
    def __init__(self, answers: dict[str, Principal | None], delay: float = 0.0) -> None:
        self.answers = answers
        self.calls: list[str] = []
        self.delay = delay
        self.fail = False

    async def introspect(self, token: str) -> Principal | None:
        self.calls.append(token)
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail:
            raise Unavailable("introspection endpoint down")
        return self.answers.get(token)


def principal(token_id: str = "tok_1", expires_at: float | None = None) -> Principal:
    return Principal(token_id, PrincipalKind.PRINCIPAL_KIND_VENDOR, frozenset({"data:read"}), expires_at=expires_at)


def test_a_second_call_within_the_ttl_does_not_introspect_again():
    clock = ManualClock()
    source = CountingSource({"t": principal()})
    cache = CachingIntrospector(source, ttl=60, clock=clock)

    async def scenario():
        assert await cache.introspect("t") == principal()
        clock.advance(59)
        assert await cache.introspect("t") == principal()
        assert len(source.calls) == 1
        clock.advance(2)
        await cache.introspect("t")
        assert len(source.calls) == 2

    asyncio.run(scenario())


def test_an_entry_never_outlives_the_tokens_expiry():
    clock = ManualClock()
    source = CountingSource({"t": principal(expires_at=clock.now + 10)})
    cache = CachingIntrospector(source, ttl=60, clock=clock)

    async def scenario():
        await cache.introspect("t")
        clock.advance(9)
        await cache.introspect("t")
        assert len(source.calls) == 1
        clock.advance(2)
        source.answers["t"] = None  # the source now says expired
        assert await cache.introspect("t") is None
        assert len(source.calls) == 2

    asyncio.run(scenario())


def test_negative_answers_are_cached_only_briefly():
    clock = ManualClock()
    source = CountingSource({})
    cache = CachingIntrospector(source, ttl=60, negative_ttl=5, clock=clock)

    async def scenario():
        assert await cache.introspect("unknown") is None
        clock.advance(4)
        assert await cache.introspect("unknown") is None
        assert len(source.calls) == 1
        clock.advance(2)
        source.answers["unknown"] = principal()  # e.g. created meanwhile on another replica
        assert await cache.introspect("unknown") == principal()

    asyncio.run(scenario())


def test_concurrent_misses_for_one_token_share_one_introspection():
    source = CountingSource({"t": principal()}, delay=0.05)
    cache = CachingIntrospector(source, ttl=60)

    async def scenario():
        results = await asyncio.gather(*(cache.introspect("t") for _ in range(50)))
        assert all(result == principal() for result in results)
        assert len(source.calls) == 1

    asyncio.run(scenario())


def test_forgetting_a_token_id_forces_a_fresh_introspection():
    source = CountingSource({"t": principal("tok_9"), "u": principal("tok_8")})
    cache = CachingIntrospector(source, ttl=60)

    async def scenario():
        await cache.introspect("t")
        await cache.introspect("u")
        assert cache.forget_token("tok_9") == 1
        source.answers["t"] = None  # revoked
        assert await cache.introspect("t") is None
        await cache.introspect("u")
        assert source.calls == ["t", "u", "t"]

    asyncio.run(scenario())


def test_source_failures_are_not_cached_and_reach_every_waiter():
    source = CountingSource({"t": principal()}, delay=0.02)
    source.fail = True
    cache = CachingIntrospector(source, ttl=60)

    async def scenario():
        results = await asyncio.gather(*(cache.introspect("t") for _ in range(3)), return_exceptions=True)
        assert all(isinstance(result, Unavailable) for result in results)
        source.fail = False
        assert await cache.introspect("t") == principal()
        assert len(source.calls) == 2

    asyncio.run(scenario())


def test_the_cache_keeps_no_plaintext_token():
    source = CountingSource({"mpat_secret": principal()})
    cache = CachingIntrospector(source, ttl=60)
    asyncio.run(cache.introspect("mpat_secret"))
    assert all(isinstance(key, bytes) and b"mpat_secret" not in key for key in cache._cache)


@pytest.mark.parametrize("scope", ["data:read", "training:read"])
def test_write_scopes_imply_read_and_admin_implies_all(scope: str):
    writer = Principal("t", PrincipalKind.PRINCIPAL_KIND_VENDOR, frozenset({"data:write", "training:write"}))
    assert writer.has_scope(scope)
    assert not writer.has_scope("deploy:read")
    assert Principal("a", PrincipalKind.PRINCIPAL_KIND_ADMIN, frozenset({"admin"})).has_scope("deploy:write")
    reader = Principal("r", PrincipalKind.PRINCIPAL_KIND_VENDOR, frozenset({scope}))
    assert not reader.has_scope(scope.replace("read", "write"))


def test_remote_answers_map_to_the_same_token_kinds_as_local_ones():
    from mlmp_interceptors.introspection import principal_from_rfc7662

    def kind(**body):
        return principal_from_rfc7662({"active": True, **body}).kind

    assert kind(scope="admin") == PrincipalKind.PRINCIPAL_KIND_ADMIN
    assert kind(scope="catalog:read signals:read") == PrincipalKind.PRINCIPAL_KIND_SERVICE
    assert kind(scope="data:read", vendor_id="vnd_1") == PrincipalKind.PRINCIPAL_KIND_VENDOR
    assert kind(scope="signals:write", token_type="deployment") == PrincipalKind.PRINCIPAL_KIND_DEPLOYMENT
    assert principal_from_rfc7662({"active": False, "scope": "admin"}) is None
    assert principal_from_rfc7662({"active": True, "token_type": "weird"}) is None
