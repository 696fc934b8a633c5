"""Replicas agree on MP_SECRET_KEY: the first leaves its key's fingerprint in Redis, one with another key refuses."""

from __future__ import annotations

import asyncio

import pytest

from mlmp_server.keys import agree_on_secret_key, secret_key_fingerprint
from mlmp_server.limits.shared import redis_client
from tests.helpers.redis_server import redis_or_skip, redis_prefix


def test_a_replica_with_another_secret_key_refuses_to_start():
    url = redis_or_skip()

    async def scenario(prefix: str) -> list[str]:
        client = redis_client(url)
        try:
            said = [await agree_on_secret_key(client, prefix, b"a" * 40) for _ in range(2)]
            with pytest.raises(SystemExit, match="MP_SECRET_KEY is not the key the other replicas use"):
                await agree_on_secret_key(client, prefix, b"b" * 40)
            stored = await client.get(f"{prefix}secret-key-fingerprint")
            assert b"a" * 40 not in stored  # only a fingerprint of the key is kept
            return said
        finally:
            await client.aclose()

    with redis_prefix(url) as prefix:
        assert asyncio.run(scenario(prefix)) == ["first", "agreed"]


def test_an_unreachable_redis_leaves_the_key_unchecked():
    async def scenario() -> str:
        client = redis_client("redis://127.0.0.1:1/0")
        try:
            return await agree_on_secret_key(client, "mp:", b"a" * 40)
        finally:
            await client.aclose()

    assert asyncio.run(scenario()) == "unchecked"


def test_fingerprints_tell_keys_apart():
    assert secret_key_fingerprint(b"a" * 40) != secret_key_fingerprint(b"b" * 40)
    assert len(secret_key_fingerprint(b"a" * 40)) == 32
