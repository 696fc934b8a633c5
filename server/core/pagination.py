"""AIP-158 pagination: opaque page tokens bound to the request's filters."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import TypeVar

from google.protobuf.message import Message

from server.core.errors import InvalidArgument

M = TypeVar("M", bound=Message)

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
# A page also stops at this many bytes of items (at least one item), well under gRPC's 16 MiB
# message limit: stored objects of the largest allowed size can never make a page unanswerable.
MAX_PAGE_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class Page:
    offset: int
    size: int
    filter_key: str

    def next_token(self, rows_fetched: int, shown: int | None = None) -> str:
        """Call with the number of rows fetched with `limit = size + 1` (and, when the page was cut
        short by its bytes, how many it shows): a token only if more remain."""
        shown = self.size if shown is None else shown
        if rows_fetched <= shown:
            return ""
        payload = json.dumps({"o": self.offset + shown, "f": self.filter_key}).encode()
        return base64.urlsafe_b64encode(payload).decode().rstrip("=")


def within_page_bytes(items: list[M], limit: int = MAX_PAGE_BYTES) -> list[M]:
    """The leading items whose serialized sizes add up to at most `limit`; the first always."""
    total = 0
    for index, item in enumerate(items):
        total += item.ByteSize()
        if total > limit and index > 0:
            return items[:index]
    return items


def read_page(page_size: int, page_token: str, *filters: object) -> Page:
    if page_size < 0:
        raise InvalidArgument("page_size must not be negative")
    size = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    filter_key = hashlib.sha256(json.dumps([str(f) for f in filters]).encode()).hexdigest()[:16]
    if not page_token:
        return Page(0, size, filter_key)
    try:
        payload = json.loads(base64.urlsafe_b64decode(page_token + "=" * (-len(page_token) % 4)))
        offset, token_filters = int(payload["o"]), str(payload["f"])
    except (ValueError, KeyError, TypeError):
        raise InvalidArgument("page_token is not one this server issued") from None
    if token_filters != filter_key or offset < 0:
        raise InvalidArgument("page_token belongs to a request with other filters; start again without it")
    return Page(offset, size, filter_key)


def keyset_token(filter_key: str, last_id: int) -> str:
    """A token continuing after `last_id`, for listings that page by id rather than by offset."""
    return base64.urlsafe_b64encode(f"{filter_key}:{last_id}".encode()).decode().rstrip("=")


def read_keyset_token(page_token: str, filter_key: str) -> int | None:
    if not page_token:
        return None
    try:
        raw = base64.urlsafe_b64decode(page_token + "=" * (-len(page_token) % 4)).decode()
        key, _, last_id = raw.partition(":")
        if key != filter_key:
            raise ValueError
        return int(last_id)
    except ValueError:
        raise InvalidArgument("page_token is not one this server issued for these filters") from None
