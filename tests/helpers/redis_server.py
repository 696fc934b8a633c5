"""A Redis for the tests: MP_TEST_REDIS_URL when it is set, else the local one at 127.0.0.1:6379, else a skip with
the reason — or, with MP_REQUIRE_POSTGRES=1 (CI, which runs both), a failure. Each user gets a key prefix of its
own, and its keys are deleted afterwards: the engineers and workers sharing this Redis never see each other's."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import redis

DEFAULT_URL = "redis://127.0.0.1:6379/0"


class RedisUnavailable(Exception):
    pass


def redis_url() -> str:
    """The URL of a Redis that answers PING, or RedisUnavailable saying why not."""
    url = os.environ.get("MP_TEST_REDIS_URL") or DEFAULT_URL
    try:
        with redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3) as client:
            client.ping()
    except redis.RedisError as error:
        raise RedisUnavailable(f"no Redis at {url}: {error}") from None
    return url


def delete_prefixed(url: str, prefix: str) -> int:
    """Deletes every key under `prefix`; returns how many."""
    deleted = 0
    with redis.Redis.from_url(url) as client:
        batch: list[bytes] = []
        for key in client.scan_iter(match=f"{prefix}*", count=1000):
            batch.append(key)
            if len(batch) >= 500:
                deleted += client.delete(*batch)
                batch.clear()
        if batch:
            deleted += client.delete(*batch)
    return deleted


@contextmanager
def redis_prefix(url: str) -> Iterator[str]:
    """A key prefix no other run uses; its keys are deleted at the end."""
    prefix = f"mp-test-{uuid.uuid4().hex[:12]}:"
    try:
        yield prefix
    finally:
        delete_prefixed(url, prefix)


def redis_or_skip() -> str:
    """For a test that needs Redis: its URL; else a skip, or with MP_REQUIRE_POSTGRES=1 (CI) a failure."""
    import pytest

    try:
        return redis_url()
    except RedisUnavailable as error:
        if os.environ.get("MP_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"MP_REQUIRE_POSTGRES=1, but Redis is not usable: {error}")
        pytest.skip(f"Redis tests skipped: {error}")
