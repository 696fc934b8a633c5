"""Page tokens: they carry the last row's sort key, are bound to the request's filters, and a token a
client made up (or edited) is INVALID_ARGUMENT, never a query with values of the wrong type."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest

from mlmp_server.core.errors import InvalidArgument
from mlmp_server.core.pagination import MAX_PAGE_SIZE, read_page

KEY = (datetime, str)
AT = datetime(2026, 12, 6, 5, 0, 0, 123456, tzinfo=UTC)


def forged(key: object, filters: object = None) -> str:
    real = read_page(2, "", "acme", key=KEY)
    payload = json.dumps({"k": key, "f": real.filter_key if filters is None else filters}).encode()
    return base64.urlsafe_b64encode(payload).decode().rstrip("=")


def test_a_token_continues_after_the_last_row_shown_and_none_ends_the_walk():
    page = read_page(2, "", "acme", key=KEY)
    rows = [(AT, "a"), (AT, "b"), (AT, "c")]
    token = page.next_token(rows, lambda row: row)
    assert read_page(2, token, "acme", key=KEY).after == (AT, "b")
    assert read_page(2, page.next_token(rows, lambda row: row, shown=1), "acme", key=KEY).after == (AT, "a")
    assert page.next_token(rows[:2], lambda row: row) == ""  # no row beyond the page: the last page


def test_page_size_is_bounded():
    assert read_page(10_000, "", key=KEY).size == MAX_PAGE_SIZE
    assert read_page(0, "", key=KEY).size == 50
    with pytest.raises(InvalidArgument, match="negative"):
        read_page(-1, "", key=KEY)


def test_a_token_used_with_other_filters_is_refused():
    token = read_page(2, "", "acme", key=KEY).next_token([(AT, "a")] * 3, lambda row: row)
    with pytest.raises(InvalidArgument, match="other filters"):
        read_page(2, token, "globex", key=KEY)


@pytest.mark.parametrize(
    "token",
    [
        "not base64 at all!",
        base64.urlsafe_b64encode(b"[1, 2]").decode(),
        forged([AT.isoformat()]),  # too short
        forged([AT.isoformat(), "a", "b"]),  # too long
        forged([1733462400, "a"]),  # a number where a time goes
        forged(["2026-12-06T05:00:00", "a"]),  # a time without its zone
        forged([AT.isoformat(), 7]),  # a number where an id goes
        forged([AT.isoformat(), None]),
        forged("abc"),
    ],
)
def test_a_made_up_token_is_refused(token):
    with pytest.raises(InvalidArgument, match="not one this server issued"):
        read_page(2, token, "acme", key=KEY)


@pytest.mark.parametrize("value", [True, 2**63, 1.5, "7"])
def test_an_integer_key_takes_only_a_bigint(value):
    page = read_page(2, "", key=(int,))
    token = base64.urlsafe_b64encode(json.dumps({"k": [value], "f": page.filter_key}).encode()).decode()
    with pytest.raises(InvalidArgument):
        read_page(2, token, key=(int,))


@pytest.mark.parametrize("value", ["NaN", "Infinity", "true"])
def test_a_float_key_takes_only_a_finite_number(value):
    page = read_page(2, "", key=(float,))
    raw = f'{{"k": [{value}], "f": "{page.filter_key}"}}'
    with pytest.raises(InvalidArgument):
        read_page(2, base64.urlsafe_b64encode(raw.encode()).decode(), key=(float,))
