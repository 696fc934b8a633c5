"""Signal rules: which signals of a batch are stored, and why the others are not.

Each signal is judged on its own; a bad one is rejected with a reason and the rest of its batch is
stored. Only values the API can hand back are stored (protobuf's Timestamp and Duration ranges, finite
numbers, strings that fit their columns), so no stored signal can break a listing or a subscription.
Attribution (vendor, deployment, run) comes from the writer's token, never the message.
A signal goes to the round it names, which must be open, or with no round to the open round.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from mlmp_marketplace.v1 import signals_pb2
from mlmp_server.auth import store as auth_store
from mlmp_server.core.errors import InvalidArgument, PermissionDenied
from mlmp_server.core.principal import Principal
from mlmp_server.datasets.rules import state_name, state_of
from mlmp_server.db.models import DatasetRound

MAX_FUTURE = timedelta(minutes=5)  # clock skew allowed between a deployment and the server
MAX_BATCH = 10_000
MAX_MODEL_VERSION = 64
MAX_SYMBOL = 32  # the signals.symbol column
MAX_HORIZON = 3_155_760_000  # 100 years in seconds, well inside protobuf's Duration range
EARLIEST = -62_135_596_800  # 0001-01-01T00:00:00Z, the start of protobuf's Timestamp range
NANOS = 1_000_000_000
MAX_SEQUENCE = 2**53  # far from int64's end, so no batch can pin a deployment's last sequence; exact in JSON
_PUBLISHER = re.compile(r"[A-Za-z0-9_-]{1,64}")
ACTIONS = frozenset(signals_pb2.Action.values()) - {signals_pb2.ACTION_UNSPECIFIED}


@dataclass(frozen=True)
class Writer:
    """Who writes, from the token: the deployment and what it belongs to."""

    deployment_id: str
    vendor_id: str
    run_id: str


@dataclass(frozen=True)
class OpenRounds:
    symbols: dict[int, frozenset[str]]  # open round number → its symbols
    states: dict[int, str]  # every known round's state, for the reason a signal is refused
    current: int | None  # the open round a signal without a round number goes to

    @classmethod
    def of(cls, latest: Sequence[DatasetRound], now: datetime) -> OpenRounds:
        states = {row.number: state_name(state_of(row, now)) for row in latest}
        symbols = {row.number: frozenset(row.symbols) for row in latest if states[row.number] == "open"}
        return cls(symbols, states, max(symbols) if symbols else None)


@dataclass(frozen=True, slots=True)
class NewSignal:
    """A signal judged storable: the values its writer sent (who wrote it is the batch's Writer). The
    store takes each per-signal column of the signals table from the field of that name."""

    symbol: str
    action: int
    score: float | None
    confidence: float
    horizon_seconds: float
    generated_at: datetime
    round_number: int
    model_version: str


@dataclass(frozen=True)
class Judged:
    rows: list[NewSignal]
    rejections: list[signals_pb2.SignalRejection]


def check_publisher(publisher_id: str) -> None:
    if publisher_id and not _PUBLISHER.fullmatch(publisher_id):
        raise InvalidArgument(f"publisher_id {publisher_id[:70]!r} is not 1 to 64 of A-Z a-z 0-9 _ -")


def _round_problem(number: int, rounds: OpenRounds) -> str:
    if not number:
        return "no round is open, so no signal can be taken now"
    state = rounds.states.get(number)
    where = f"; signals go to the open round {rounds.current}" if rounds.current else "; no round is open now"
    return f"round {number} is {state}{where}" if state else f"there is no round {number}{where}"


def _problem(signal: signals_pb2.Signal, symbols: frozenset[str], number: int, latest: int) -> str | None:
    if not signal.symbol:
        return "symbol is required"
    if len(signal.symbol) > MAX_SYMBOL:
        return f"symbol {signal.symbol[:MAX_SYMBOL]}… is longer than {MAX_SYMBOL} characters"
    if signal.symbol not in symbols:
        return f"{signal.symbol} is not a symbol of round {number}"
    has_score = signal.HasField("score")
    if has_score and not -1.0 <= signal.score <= 1.0:  # also false for NaN
        return f"score {signal.score} is outside [-1, 1]"
    if signal.action and signal.action not in ACTIONS:
        return f"action {signal.action} is not buy, sell or hold"
    if not has_score and not signal.action:
        return "a signal needs an action (buy, sell, hold) or a score"
    if not 0.0 <= signal.confidence <= 1.0:
        return f"confidence {signal.confidence} is outside [0, 1]"
    horizon = signal.horizon
    if horizon.seconds < 0 or horizon.nanos < 0:
        return "horizon must not be negative"
    if horizon.nanos >= NANOS:
        return f"horizon.nanos {horizon.nanos} is not below 1,000,000,000"
    if horizon.seconds >= MAX_HORIZON:
        return f"horizon {horizon.seconds} s is 100 years ({MAX_HORIZON} s) or more"
    stamp = signal.generate_time
    if stamp.seconds > latest:  # compared in whole seconds: no datetime per signal
        return "generate_time is more than 5 minutes ahead of the server's clock"
    if stamp.seconds < EARLIEST:
        return f"generate_time {stamp.seconds} s is before 0001-01-01"
    if not 0 <= stamp.nanos < NANOS:
        return f"generate_time.nanos {stamp.nanos} is outside [0, 1,000,000,000)"
    version = signal.model_version
    if len(version) > MAX_MODEL_VERSION:
        return f"model_version is longer than {MAX_MODEL_VERSION} characters"
    if version and not version.isprintable():
        return "model_version has characters that are not printable"
    return None


def judge(signals: Sequence[signals_pb2.Signal], rounds: OpenRounds, now: datetime) -> Judged:
    rows: list[NewSignal] = []
    rejections: list[signals_pb2.SignalRejection] = []
    first_index: dict[tuple[int, str], int] = {}
    latest = int((now + MAX_FUTURE).timestamp())
    for index, signal in enumerate(signals):
        number = signal.round_number or rounds.current or 0
        symbols = rounds.symbols.get(number)
        problem: str | None
        if symbols is None:
            problem = _round_problem(signal.round_number, rounds)
        else:
            problem = _problem(signal, symbols, number, latest)
            if problem is None and (seen := first_index.setdefault((number, signal.symbol), index)) != index:
                problem = f"{signal.symbol} is already in this batch (index {seen})"
        if problem is not None:
            rejections.append(
                signals_pb2.SignalRejection(index=index, symbol=signal.symbol[:MAX_SYMBOL], reason=problem)
            )
            continue
        stamp = signal.generate_time
        generated = datetime.fromtimestamp(stamp.seconds + stamp.nanos / 1e9, UTC) if stamp.seconds else now
        score = signal.score if signal.HasField("score") else None
        horizon = signal.horizon.seconds + signal.horizon.nanos / 1e9
        rows.append(
            # Positional: a batch judges up to 10,000 of these, and keywords would cost a third of the time.
            NewSignal(signal.symbol, signal.action, score, signal.confidence, horizon, generated, number,
                      signal.model_version)
        )  # fmt: skip
    return Judged(rows, rejections)


def own_vendor(principal: Principal, asked: str) -> str:
    """A vendor's token reaches its own vendor's signals only."""
    if asked and asked not in (principal.vendor_id, principal.vendor_slug):
        raise PermissionDenied("a vendor's token reads only its own vendor's signals")
    return principal.vendor_id


async def vendor_filter(session: AsyncSession, principal: Principal, vendor: str) -> str | None:
    """Whose signals a listing shows: a vendor its own; operators and the platform anyone's, or one vendor's."""
    if principal.vendor_id:
        return own_vendor(principal, vendor)
    if not vendor:
        return None
    found = await auth_store.find_vendor(session, vendor)
    return found.id if found else "-"  # an unknown vendor has no signals
