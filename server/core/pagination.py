"""AIP-158 pagination by keyset ("seek"): opaque page tokens bound to the request's filters, carrying the sort
key of the last row shown, so the next page starts right after it through an index (never OFFSET, whose cost
grows with the page number, and which skips or repeats rows when rows are inserted during a walk)."""

from __future__ import annotations

import base64
import hashlib
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from google.protobuf.message import Message

from mlmp_server.core.errors import InvalidArgument

M = TypeVar("M", bound=Message)
T = TypeVar("T")

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
# A page also stops at this many bytes of items (at least one item), well under gRPC's 16 MiB
# message limit: stored objects of the largest allowed size can never make a page unanswerable.
MAX_PAGE_BYTES = 8 * 1024 * 1024

# What a sort key may hold: the types of the columns lists order by.
KeyValue = str | int | float | datetime
SortKey = tuple[KeyValue, ...]


@dataclass(frozen=True)
class Page:
    size: int
    filter_key: str
    after: SortKey | None  # the sort key of the previous page's last row; None on the first page

    def next_token(self, rows: Sequence[T], key: Callable[[T], Sequence[KeyValue]], shown: int | None = None) -> str:
        """`rows` fetched with `limit = size + 1` (and, when the page was cut short by its bytes, how many it
        shows): a token continuing after the last row shown, only if more remain."""
        shown = self.size if shown is None else shown
        if len(rows) <= shown:
            return ""
        payload = json.dumps({"k": [_encoded(value) for value in key(rows[shown - 1])], "f": self.filter_key})
        return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def within_page_bytes(items: list[M], limit: int = MAX_PAGE_BYTES) -> list[M]:
    """The leading items whose serialized sizes add up to at most `limit`; the first always."""
    total = 0
    for index, item in enumerate(items):
        total += item.ByteSize()
        if total > limit and index > 0:
            return items[:index]
    return items


def read_page(page_size: int, page_token: str, *filters: object, key: tuple[type, ...]) -> Page:
    """The page a request asks for. `key` gives the types of the listing's sort key: a token whose key has
    another shape is refused as one this server never issued (tokens are opaque, not secret)."""
    if page_size < 0:
        raise InvalidArgument("page_size must not be negative")
    size = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    filter_key = hashlib.sha256(json.dumps([str(f) for f in filters]).encode()).hexdigest()[:16]
    if not page_token:
        return Page(size, filter_key, None)
    try:
        payload = json.loads(base64.urlsafe_b64decode(page_token + "=" * (-len(page_token) % 4)))
        token_filters, raw = str(payload["f"]), payload["k"]
        if not isinstance(raw, list) or len(raw) != len(key):
            raise ValueError
        after = tuple(_decoded(value, kind) for value, kind in zip(raw, key, strict=True))
    except (ValueError, KeyError, TypeError):
        raise InvalidArgument("page_token is not one this server issued") from None
    if token_filters != filter_key:
        raise InvalidArgument("page_token belongs to a request with other filters; start again without it")
    return Page(size, filter_key, after)


def _encoded(value: KeyValue) -> object:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return value


def _decoded(value: object, kind: type) -> KeyValue:
    if kind is datetime:
        if not isinstance(value, str):
            raise ValueError
        found = datetime.fromisoformat(value)
        if found.tzinfo is None:
            raise ValueError
        return found
    if kind is float and type(value) is int:
        value = float(value)
    if type(value) is not kind or (kind is float and not math.isfinite(value)):  # type: ignore[arg-type]
        raise ValueError
    if kind is int and not -(2**63) <= value < 2**63:  # type: ignore[operator]
        raise ValueError  # a BIGINT holds no more
    return value  # type: ignore[return-value]
