"""Signal rows: batched writes (PostgreSQL COPY, SQLite executemany), batch de-duplication, reads;
and the rows of live scores.

A batch is one transaction: its (deployment, publisher, sequence) row, its signals and the deployment's
counters commit together or not at all, so an acknowledged batch is whole and a resent one is
recognised by its batch row.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import UTC, datetime, timedelta
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from mlmp_server.db.keyset import seek
from mlmp_server.db.models import Deployment, DeploymentScore, Signal, SignalBatch, Vendor

if TYPE_CHECKING:
    from mlmp_server.signals.rules import NewSignal, Writer

# A row's columns: the batch's (who wrote it, in which batch), then every other column of the table but
# the two the store fills, each read from the new signal's field of that name.
_BATCH = ("deployment_id", "vendor_id", "run_id", "batch_sequence")
_PER_SIGNAL = tuple(
    column.name for column in Signal.__table__.columns if column.name not in ("id", "stored_at", *_BATCH)
)
_signal_values = attrgetter(*_PER_SIGNAL)
_COLUMNS = ("id", *_BATCH, *_PER_SIGNAL, "stored_at")
_COPY = f"COPY signals ({', '.join(_COLUMNS)}) FROM STDIN"
_COPY_NUMBERED_BY_THE_DATABASE = f"COPY signals ({', '.join(_COLUMNS[1:])}) FROM STDIN"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NEXT_IDS = "SELECT nextval(pg_get_serial_sequence('signals', 'id')) FROM generate_series(1, %(n)s)"


# The indexes of signal listings (server/db/models.py), most selective first, each followed by id.
_LISTING_INDEXES = (("deployment_id",), ("vendor_id", "symbol"), ("vendor_id",), ("symbol",), ("round_number",))
SIGNAL_KEY = (int,)  # the sort key of signal listings: (id,), newest first


def signal_key(row: tuple[Signal, Vendor]) -> tuple[int]:
    return (row[0].id,)


def _dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


async def claim_batch(
    session: AsyncSession,
    deployment_id: str,
    publisher_id: str,
    sequence: int,
    accepted: int,
    rejected: int,
    now: datetime,
) -> bool:
    """Records the batch; False when (deployment, publisher, sequence) is already stored."""
    upsert = postgresql.insert if _dialect(session) == "postgresql" else sqlite.insert
    statement = (
        upsert(SignalBatch)
        .values(
            deployment_id=deployment_id,
            publisher_id=publisher_id,
            sequence=sequence,
            accepted=accepted,
            rejected=rejected,
            stored_at=now,
        )  # fmt: skip
        .on_conflict_do_nothing()
        .returning(SignalBatch.sequence)
    )
    return (await session.execute(statement)).first() is not None


async def stored_batch(
    session: AsyncSession, deployment_id: str, publisher_id: str, sequence: int
) -> SignalBatch | None:
    return await session.get(SignalBatch, (deployment_id, publisher_id, sequence))


async def get_deployment(session: AsyncSession, deployment_id: str) -> Deployment | None:
    """Deleted ones too: ingest says why a deployment takes no signals."""
    return await session.get(Deployment, deployment_id)


async def count_batch(
    session: AsyncSession, deployment_id: str, sequence: int, accepted: int, now: datetime, writable: tuple[str, ...]
) -> bool:
    """Adds the batch to the deployment's counters (and its vendor's activity rank, the catalog's order by
    activity); False when the deployment no longer takes signals."""
    values = {
        "signal_count": Deployment.signal_count + accepted,
        "last_sequence": _greatest(session, Deployment.last_sequence, sequence),
    }
    if accepted:
        values["last_signal_at"] = now
    result = await session.execute(
        update(Deployment)
        .where(Deployment.id == deployment_id, Deployment.deleted_at.is_(None), Deployment.state.in_(writable))
        .values(**values)
        .returning(Deployment.vendor_id)
    )
    vendor_id = result.scalar()
    if vendor_id is not None and accepted:
        rank = activity_rank(now)
        await session.execute(
            update(Vendor).where(Vendor.id == vendor_id, Vendor.activity_rank > rank).values(activity_rank=rank)
        )
    return vendor_id is not None


def activity_rank(latest_signal_at: datetime) -> int:
    """Vendor.activity_rank for a vendor whose latest signal was stored at `latest_signal_at`."""
    return -((latest_signal_at - _EPOCH) // timedelta(microseconds=1))


async def models_of(session: AsyncSession, vendor_ids: Collection[str]) -> dict[str, list[str]]:
    """Vendor → the ids of its deployments but the deleted ones."""
    rows = await session.execute(
        select(Deployment.vendor_id, Deployment.id).where(
            Deployment.vendor_id.in_(vendor_ids), Deployment.deleted_at.is_(None)
        )
    )
    found: dict[str, list[str]] = {vendor_id: [] for vendor_id in vendor_ids}
    for vendor_id, deployment_id in rows:
        found[vendor_id].append(deployment_id)
    return found


async def owners_of(session: AsyncSession, deployment_ids: Collection[str]) -> set[str]:
    rows = await session.scalars(select(Deployment.vendor_id).where(Deployment.id.in_(deployment_ids)))
    return set(rows)


async def set_score_ranks(session: AsyncSession, ranks: dict[str, float]) -> None:
    if ranks:
        await session.execute(update(Vendor), [{"id": key, "score_rank": rank} for key, rank in ranks.items()])


def _greatest(session: AsyncSession, column, value: int):
    # PostgreSQL spells it GREATEST, SQLite a two-argument MAX.
    return func.greatest(column, value) if _dialect(session) == "postgresql" else func.max(column, value)


async def insert_rows(
    session: AsyncSession,
    writer: Writer,
    sequence: int,
    rows: Sequence[NewSignal],
    stored_at: datetime,
    *,
    want_ids: bool,
) -> list[int]:
    """Writes the batch's rows; returns their new ids when asked (subscribers need them; without
    subscribers PostgreSQL numbers the rows itself)."""
    if not rows:
        return []
    batch = (writer.deployment_id, writer.vendor_id, writer.run_id or None, sequence)
    if _dialect(session) == "postgresql":
        connection = await session.connection()
        raw = (await connection.get_raw_connection()).driver_connection
        assert raw is not None
        async with raw.cursor() as cursor:
            ids: list[int] = []
            if want_ids:
                await cursor.execute(_NEXT_IDS, {"n": len(rows)})
                ids = [found for (found,) in await cursor.fetchall()]
                async with cursor.copy(_COPY) as copy:
                    for new_id, row in zip(ids, rows, strict=True):
                        await copy.write_row((new_id, *batch, *_signal_values(row), stored_at))
            else:
                async with cursor.copy(_COPY_NUMBERED_BY_THE_DATABASE) as copy:
                    for row in rows:
                        await copy.write_row((*batch, *_signal_values(row), stored_at))
        return ids
    # SQLite: the batch row above already holds the write lock, so nobody else takes these ids.
    first = int(await session.scalar(select(func.coalesce(func.max(Signal.id), 0))) or 0) + 1
    ids = list(range(first, first + len(rows)))
    records = [
        dict(zip(_COLUMNS, (new_id, *batch, *_signal_values(row), stored_at), strict=True))
        for new_id, row in zip(ids, rows, strict=True)
    ]
    await session.execute(insert(Signal), records)
    return ids


async def list_signals(
    session: AsyncSession,
    *,
    symbol: str,
    vendor_id: str | None,
    deployment_id: str,
    round_number: int,
    after: Sequence[object] | None,
    limit: int,
) -> list[tuple[Signal, Vendor]]:
    """Newest first (by id), past the signal whose `signal_key` is `after`. Each filter, and vendor with
    symbol, has an index ending in id (models.py), so a page reads its rows and no others however old they
    are; other combinations seek the most selective of those and filter the rest."""
    query = select(Signal, Vendor).join(Vendor, Signal.vendor_id == Vendor.id)
    given = {"symbol": symbol, "vendor_id": vendor_id, "deployment_id": deployment_id, "round_number": round_number}
    # The index that serves them: the first of these whose columns are all filtered (each ends in id).
    columns = next((names for names in _LISTING_INDEXES if all(given[name] for name in names)), ())
    equal = [(getattr(Signal, name), given[name]) for name in columns]
    query = query.where(
        *(getattr(Signal, name) == value for name, value in given.items() if value and name not in columns)
    )
    rows = await session.execute(seek(query, [Signal.id], after, descending=True, equal=equal).limit(limit))
    return [(signal, vendor) for signal, vendor in rows]


async def symbol_views(
    session: AsyncSession, round_number: int, view: ColumnElement[float]
) -> list[tuple[str, str, float]]:
    """(deployment, symbol, `view`) over the round's signals, `view` aggregating each deployment's
    signals of a symbol (server/signals/scoring.py says how)."""
    rows = await session.execute(
        select(Signal.deployment_id, Signal.symbol, view)
        .where(Signal.round_number == round_number)
        .group_by(Signal.deployment_id, Signal.symbol)
    )
    return [(deployment, symbol, float(value)) for deployment, symbol, value in rows]


def add_scores(session: AsyncSession, scores: Sequence[DeploymentScore]) -> None:
    session.add_all(scores)


async def round_score_summaries(
    session: AsyncSession, deployment_ids: list[str], summary: ColumnElement[float]
) -> dict[str, tuple[float, int]]:
    """Deployment → (`summary` of its round scores, number of scored rounds), for those with any."""
    rows = await session.execute(
        select(DeploymentScore.deployment_id, summary, func.count())
        .where(DeploymentScore.deployment_id.in_(deployment_ids))
        .group_by(DeploymentScore.deployment_id)
    )
    return {deployment_id: (float(value), int(count)) for deployment_id, value, count in rows}


async def signals_after(
    session: AsyncSession, *, after_id: int, symbol: str, vendor_id: str | None, limit: int
) -> list[tuple[Signal, Vendor]]:
    """Oldest first (by id), those with an id above `after_id`: a subscription's replay."""
    query = select(Signal, Vendor).join(Vendor, Signal.vendor_id == Vendor.id).where(Signal.id > after_id)
    if symbol:
        query = query.where(Signal.symbol == symbol)
    if vendor_id is not None:
        query = query.where(Signal.vendor_id == vendor_id)
    rows = await session.execute(query.order_by(Signal.id).limit(limit))
    return [(signal, vendor) for signal, vendor in rows]


async def signal_rows_in_ranges(session: AsyncSession, ranges: Sequence[tuple[int, int]]) -> Sequence[Any]:
    """The signals with ids in these (first, last) ranges, as plain rows (every column of signals, and the
    vendor's slug and display_name): what another replica said it stored, read without the ORM's cost."""
    if not ranges:
        return []
    within = or_(*(Signal.id.between(first, last) for first, last in ranges))
    query = select(*Signal.__table__.columns, Vendor.slug, Vendor.display_name).join(
        Vendor, Signal.vendor_id == Vendor.id
    )
    return (await session.execute(query.where(within))).all()
