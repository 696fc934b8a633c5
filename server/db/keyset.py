"""Keyset ("seek") paging in SQL: order by a sort key that ends in a unique column and continue strictly
after the last row shown. Every column of a key runs in one direction, so the continuation is one row-value
comparison, `(a, b, id) > (:a, :b, :id)`, which PostgreSQL and SQLite both answer by seeking an index on
(a, b, id) — the cost of a page is the page, whatever its number."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import Select, literal, tuple_

S = TypeVar("S", bound=Select[*tuple[Any, ...]])


def seek(query: S, key: Sequence[Any], after: Sequence[object] | None, *, descending: bool = False) -> S:
    """`query` ordered by `key` (every column ascending, or every one descending), past the row whose key is
    `after` when given."""
    if after is not None:
        row = tuple_(*key)
        last = tuple_(*(literal(value, type_=column.type) for column, value in zip(key, after, strict=True)))
        query = query.where(row < last if descending else row > last)
    return query.order_by(*(column.desc() if descending else column for column in key))
