"""Keyset ("seek") paging in SQL: order by a sort key that ends in a unique column and continue strictly
after the last row shown. Every column of a key runs in one direction, so the continuation is one row-value
comparison, `(a, b, id) > (:a, :b, :id)`, which PostgreSQL and SQLite both answer by seeking an index on
(a, b, id) — the cost of a page is the page, whatever its number."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import Select, literal, tuple_

S = TypeVar("S", bound=Select[*tuple[Any, ...]])


def equal_if(column: Any, value: object) -> list[tuple[Any, object]]:
    """An `equal` filter for `seek` when `value` is given (not None)."""
    return [] if value is None else [(column, value)]


def seek(
    query: S,
    key: Sequence[Any],
    after: Sequence[object] | None,
    *,
    descending: bool = False,
    equal: Sequence[tuple[Any, object]] = (),
) -> S:
    """`query` ordered by `key` (every column ascending, or every one descending), past the row whose key is
    `after` when given.

    `equal` holds (column, value) filters that lead the index meant to serve the listing, as in (vendor_id,
    id). They are written as a one-value range and lead the ORDER BY: PostgreSQL drops a column held equal to
    a constant from the order it must produce, and then may prefer walking the key's own index and filtering,
    as its estimates assume the column's values are spread evenly over the key — wrong for an old vendor or
    an old round, whose rows all lie far back (seconds instead of a millisecond). With the range the order
    still names the column, and only the intended index yields it without a sort."""
    for column, value in equal:
        query = query.where(column >= value, column <= value)
    key = [*(column for column, _ in equal), *key]
    if after is not None:
        after = [*(value for _, value in equal), *after]
        row = tuple_(*key)
        last = tuple_(*(literal(value, type_=column.type) for column, value in zip(key, after, strict=True)))
        query = query.where(row < last if descending else row > last)
    return query.order_by(*(column.desc() if descending else column for column in key))
