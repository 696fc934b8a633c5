"""A request id is kept only when it is safe to put in a log line; otherwise one is made up."""

from __future__ import annotations

import asyncio
import logging
import re

import pytest

from mlmp_server.core import request_ids

MADE_UP = re.compile(r"[0-9a-f]{32}")


@pytest.mark.parametrize("value", ["abc", "req-1.2:3_x", "A" * 128, "0f3c2b9e-5d1a-4c7e-9b2f-1a2b3c4d5e6f"])
def test_a_safe_request_id_is_kept(value):
    assert request_ids.accepted(value) == value


@pytest.mark.parametrize(
    "value",
    [None, "", "A" * 129, "two words", "line\nbreak", "abc\n", "quote\"d", "ümlaut", "{json}", b"bytes", 42],
)
def test_an_unsafe_or_missing_request_id_is_replaced_by_a_new_one(value):
    made = request_ids.accepted(value)
    assert MADE_UP.fullmatch(made)
    assert made != request_ids.accepted(value)  # each one new


def test_the_id_comes_from_the_x_request_id_metadata():
    assert request_ids.from_metadata([("authorization", "x"), ("x-request-id", "r-1")]) == "r-1"
    assert MADE_UP.fullmatch(request_ids.from_metadata([("x-request-id", "no spaces allowed")]))
    assert MADE_UP.fullmatch(request_ids.from_metadata(None))


def test_the_filter_adds_the_calls_ids_to_records_and_none_outside_a_call():
    def record() -> logging.LogRecord:
        made = logging.LogRecord("x", logging.INFO, __file__, 1, "hello", None, None)
        request_ids.RequestIdFilter().filter(made)
        return made

    async def in_a_call() -> tuple[logging.LogRecord, logging.LogRecord]:
        request_ids.begin("r-7", "/marketplace.v1.AuthService/WhoAmI")
        inside = record()
        return inside, await asyncio.to_thread(record)  # work handed to a thread keeps the call's context

    inside, in_a_thread = asyncio.run(in_a_call())
    for made in (inside, in_a_thread):
        assert (made.request_id, made.method) == ("r-7", "/marketplace.v1.AuthService/WhoAmI")  # type: ignore[attr-defined]
    outside = record()
    assert (outside.request_id, outside.method) == (None, None)  # type: ignore[attr-defined]
