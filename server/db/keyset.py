"""Keyset ("seek") paging in SQL: order by a sort key that ends in a unique column and continue strictly
after the last row shown. Every column of a key runs in one direction, so the continuation is one row-value
comparison, `(a, b, id) > (:a, :b, :id)`, which PostgreSQL and SQLite both answer by seeking an index on
(a, b, id) — the cost of a page is the page, whatever its number."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, and_, literal, tuple_
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.visitors import InternalTraversal
from sqlalchemy.types import NullType

S = TypeVar("S", bound=Select[*tuple[Any, ...]])


def equal_if(column: Any, value: object) -> list[tuple[Any, object]]:
    """An `equal` filter for `seek` when `value` is given (not None)."""
    return [] if value is None else [(column, value)]


class _HeldEqual(ColumnElement[bool]):
    """`column = value`, spelled for PostgreSQL as a one-value range (see `seek`)."""

    # Part of the statement cache's key: the column, and the value as a bound parameter of each execution.
    _traverse_internals = [
        ("column", InternalTraversal.dp_clauseelement),
        ("value", InternalTraversal.dp_clauseelement),
    ]
    inherit_cache = True

    def __init__(self, column: Any, value: object) -> None:
        self.column = column
        self.value = literal(value, type_=column.type)
        self.type = NullType()  # type: ignore[assignment]  # not Boolean: SQLite would compare it with 1


@compiles(_HeldEqual)
def _equal(element: _HeldEqual, compiler: Any, **kw: Any) -> str:
    return compiler.process(element.column == element.value, **kw)


@compiles(_HeldEqual, "postgresql")
def _one_value_range(element: _HeldEqual, compiler: Any, **kw: Any) -> str:
    return compiler.process(and_(element.column >= element.value, element.column <= element.value), **kw)


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
    id); they lead the ORDER BY too. PostgreSQL drops a column held equal to a constant from the order it must
    produce, and then may prefer walking the key's own index and filtering, as its estimates assume the
    column's values are spread evenly over the key — wrong for an old vendor or an old round, whose rows all
    lie far back (seconds instead of a millisecond). So for PostgreSQL the filter is written as a one-value
    range: the order still names the column, and only the intended index yields it without a sort. SQLite
    keeps the equality, which it needs to seek on the columns after it.

    Besides the row comparison, the key's first column gets its own bound: SQLite seeks an index on an
    expression (the catalog's lower(name)) only through such a bound, not through a row value."""
    query = query.where(*(_HeldEqual(column, value) for column, value in equal))
    if after is not None:
        first, bound = key[0], literal(after[0], type_=key[0].type)
        row = tuple_(*key)
        last = tuple_(*(literal(value, type_=column.type) for column, value in zip(key, after, strict=True)))
        query = query.where(first <= bound, row < last) if descending else query.where(first >= bound, row > last)
    ordered = [*(column for column, _ in equal), *key]
    return query.order_by(*(column.desc() if descending else column for column in ordered))
