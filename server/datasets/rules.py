"""Dataset rounds: numbering, state and the rules of publishing, closing and resolving.

A round's state is derived from stored facts and the time: resolved once realised returns are
recorded, closed once closed by an operator or past its close time, open from its open time,
upcoming before. "Current" is the open round, or else the latest round with its state.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from mlmp_marketplace.v1.datasets_pb2 import RoundState
from mlmp_server.core.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from mlmp_server.datasets import store
from mlmp_server.db import audit
from mlmp_server.db.models import DatasetFile, DatasetRound
from mlmp_server.signals import scoring

FILE_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
FORMATS = ("parquet", "csv")
DEFAULT_LENGTH = timedelta(days=7)
# A round published without its bar length (prepared files, an older mp): daily bars, a 5-bar target, what
# every round was taken to be before rounds recorded them.
DEFAULT_BAR_SECONDS = 86400
DEFAULT_HORIZON_BARS = 5
# Price CSVs a round is built from on the server, all files together; the builder holds them in memory
# several times over. Larger histories are built where the operator runs `mp admin rounds publish --from-csv`.
MAX_CSV_BYTES = 64 * 1024 * 1024
BUILT_FORMATS = ("parquet", "csv")


def state_of(row: DatasetRound, now: datetime) -> RoundState.ValueType:
    if row.resolved_at is not None:
        return RoundState.ROUND_STATE_RESOLVED
    if row.state == "closed" or now >= row.closes_at:
        return RoundState.ROUND_STATE_CLOSED
    if now >= row.opens_at:
        return RoundState.ROUND_STATE_OPEN
    return RoundState.ROUND_STATE_UPCOMING


def state_name(state: RoundState.ValueType) -> str:
    return RoundState.Name(state).removeprefix("ROUND_STATE_").lower()


@dataclass(frozen=True)
class PlannedFile:
    name: str
    format: str
    size_bytes: int
    sha256: str
    columns: list[str]
    row_count: int


def check_file_names(names: list[str]) -> None:
    """Checked as soon as a publish declares its files, before any bytes are staged under them."""
    if not names:
        raise InvalidArgument("a round needs at least one file")
    seen = set()
    for name in names:
        if not FILE_NAME.match(name):
            raise InvalidArgument(
                f"file name {name!r} is not valid: use lowercase letters, digits, '-' or '_', starting with a letter"
            )
        if name in seen:
            raise InvalidArgument(f"file {name!r} is listed twice")
        seen.add(name)


def check_planned_files(files: list[PlannedFile]) -> None:
    check_file_names([planned.name for planned in files])
    for planned in files:
        if planned.format not in FORMATS:
            raise InvalidArgument(f"file {planned.name!r}: format must be parquet or csv, not {planned.format!r}")


def check_csv_names(names: list[str]) -> None:
    """Checked as soon as the header of a publish from CSVs arrives."""
    if not names:
        raise InvalidArgument("a round needs at least one price CSV file")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise InvalidArgument(f"file {repeated[0]!r} is listed twice; each price CSV file needs its own name")


def check_csv_size(received: int) -> None:
    if received > MAX_CSV_BYTES:
        raise InvalidArgument(
            f"the price CSV files pass {MAX_CSV_BYTES // (1024 * 1024)} MiB together; build a round this large "
            "on your machine with `mp admin rounds publish --from-csv` instead. Nothing was published."
        )


def built_format(requested: str) -> str:
    if requested and requested not in BUILT_FORMATS:
        raise InvalidArgument(f"format must be parquet or csv, not {requested!r}")
    return requested or "parquet"


async def require_round(session: AsyncSession, number: int, *, for_update: bool = False) -> DatasetRound:
    row = await store.get_round(session, number, for_update=for_update)
    if row is None:
        latest = await store.latest_number(session)
        hint = f"the latest round is {latest}" if latest else "no round has been published yet"
        raise NotFound(f"no round {number}; {hint}")
    return row


def current_round(latest: list[DatasetRound], now: datetime) -> DatasetRound:
    """Among the latest rounds (newest first): the open one with the highest number, else the newest."""
    if not latest:
        raise NotFound("no round has been published yet")
    for row in latest:
        if state_of(row, now) == RoundState.ROUND_STATE_OPEN:
            return row
    return latest[0]


async def round_for(session: AsyncSession, number: int, now: datetime) -> DatasetRound:
    """Round `number`, or with 0 the current round."""
    if number:
        return await require_round(session, number)
    return current_round(await store.list_rounds(session, 50), now)


async def publish(
    session: AsyncSession,
    *,
    number: int,
    opens_at: datetime | None,
    closes_at: datetime | None,
    files: list[PlannedFile],
    key_for: Callable[[int, PlannedFile], str],
    symbols: list[str],
    data_start: datetime | None,
    data_end: datetime | None,
    synthetic: bool,
    description: str,
    actor: str,
    now: datetime,
    bar_seconds: int = 0,
    horizon_bars: int = 0,
) -> tuple[DatasetRound, list[tuple[PlannedFile, str]]]:
    """Adds the round and its file rows; returns them with the blob key each file must be stored under."""
    check_planned_files(files)
    if number < 0:
        raise InvalidArgument("round numbers are positive")
    latest = await store.latest_number(session)
    number = number or latest + 1
    if await store.get_round(session, number) is not None:
        raise AlreadyExists(f"round {number} already exists; the next free number is {latest + 1}")
    opens_at = opens_at or now
    closes_at = closes_at or opens_at + DEFAULT_LENGTH
    if closes_at <= opens_at:
        raise InvalidArgument(f"round {number} would close ({closes_at:%Y-%m-%d %H:%M}) before it opens")
    row = DatasetRound(
        number=number, state="published", opens_at=opens_at, closes_at=closes_at, resolved_at=None,
        symbols=sorted(set(symbols)), data_start=data_start, data_end=data_end, synthetic=synthetic,
        description=description, realized_returns=None, created_at=now,
        bar_seconds=bar_seconds or DEFAULT_BAR_SECONDS, horizon_bars=horizon_bars or DEFAULT_HORIZON_BARS,
    )  # fmt: skip
    keyed = [(planned, key_for(number, planned)) for planned in files]
    rows = [
        DatasetFile(
            round_number=number, name=planned.name, format=planned.format, size_bytes=planned.size_bytes,
            sha256=planned.sha256, blob_key=key, columns=planned.columns, row_count=planned.row_count,
        )
        for planned, key in keyed
    ]  # fmt: skip
    await store.add_round(session, row, rows)  # a conflict shows here, before any file moves
    audit.record(session, actor=actor, action="round.publish", target=str(number), at=now, files=len(files))
    return row, keyed


async def close(session: AsyncSession, number: int, *, actor: str, now: datetime) -> DatasetRound:
    row = await require_round(session, number)
    state = state_of(row, now)
    if state in (RoundState.ROUND_STATE_CLOSED, RoundState.ROUND_STATE_RESOLVED):
        raise FailedPrecondition(
            f"round {number} is already {state_name(state)} (closed {row.closes_at:%Y-%m-%d %H:%M} UTC)"
        )
    row.state = "closed"
    row.closes_at = min(row.closes_at, now)
    audit.record(session, actor=actor, action="round.close", target=str(number), at=now)
    return row


async def resolve(
    session: AsyncSession, number: int, returns: dict[str, float], *, actor: str, now: datetime
) -> DatasetRound:
    """Records the round's realised returns (closing it if it was still open) and scores the deployments
    that signalled in it. No returns given: they are computed from the market feed's bars."""
    row = await require_round(session, number, for_update=True)
    if row.resolved_at is not None:
        raise FailedPrecondition(f"round {number} was already resolved on {row.resolved_at:%Y-%m-%d %H:%M} UTC")
    if state_of(row, now) == RoundState.ROUND_STATE_UPCOMING:
        raise FailedPrecondition(f"round {number} has not opened yet (opens {row.opens_at:%Y-%m-%d %H:%M} UTC)")
    if not returns:
        returns = await returns_from_feed(session, row)
    unknown = sorted(set(returns) - set(row.symbols))
    if unknown:
        raise InvalidArgument(f"not symbols of round {number}: {', '.join(unknown[:10])}")
    missing = sorted(set(row.symbols) - set(returns))
    if missing:
        raise InvalidArgument(
            f"round {number} needs a realised return for every symbol; missing: {', '.join(missing[:10])}"
        )
    bad = sorted(symbol for symbol, value in returns.items() if not math.isfinite(value))
    if bad:
        raise InvalidArgument(f"realised returns must be finite numbers; not so for {', '.join(bad[:10])}")
    row.realized_returns = dict(sorted(returns.items()))
    row.resolved_at = now
    row.closes_at = min(row.closes_at, now)
    row.state = "closed"
    audit.record(session, actor=actor, action="round.resolve", target=str(number), at=now, symbols=len(returns))
    await scoring.score_round(session, row.number, returns, now)
    return row


async def returns_from_feed(session: AsyncSession, row: DatasetRound) -> dict[str, float]:
    """The round's realised returns from the feed: each symbol's, as a signal made at the round's data end
    time with the round's horizon would get it (server/signals/scoring.py); refused while any symbol's bars
    do not reach that far."""
    if row.data_end is None:
        raise FailedPrecondition(
            f"round {row.number} has no data end time to measure returns from; resolve it with --returns"
        )
    horizon = timedelta(seconds=row.bar_seconds * row.horizon_bars)
    found = await scoring.returns_from_feed(session, row.symbols, row.data_end, horizon.total_seconds())
    if found.short:
        named = ", ".join(f"{symbol} ({why})" for symbol, why in sorted(found.short.items())[:10])
        more = f" and {len(found.short) - 10} more" if len(found.short) > 10 else ""
        raise FailedPrecondition(
            f"round {row.number} cannot be resolved from the feed yet: its returns run from the data end "
            f"{row.data_end:%Y-%m-%d %H:%M} UTC over {horizon} ({row.horizon_bars} bars of {row.bar_seconds} s), "
            f"to the first bar at or after {row.data_end + horizon:%Y-%m-%d %H:%M} UTC, and the bars of "
            f"{len(found.short)} symbol(s) do not reach it: {named}{more}"
        )
    return found.returns
