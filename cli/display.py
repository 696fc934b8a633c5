"""How marketplace values read on a terminal: enum values as words, times, sizes.

An enum value's word comes from its descriptor: the protos prefix every value with the enum's
name (RunState → RUN_STATE_SUCCEEDED), so the word is what follows, lowercased ("succeeded").
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from google.protobuf.internal.enum_type_wrapper import _EnumTypeWrapper

Value = TypeVar("Value", bound=int)

MINUTES = "%Y-%m-%d %H:%M"
SECONDS = "%Y-%m-%d %H:%M:%S"


def _prefix(enum: Any) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", enum.DESCRIPTOR.name).upper() + "_"


def enum_word(enum: Any, value: int) -> str:
    """`enum_word(training_pb2.RunState, run.state)` → "succeeded"."""
    return str(enum.Name(value)).removeprefix(_prefix(enum)).lower()


def enum_value(enum: _EnumTypeWrapper[Value], word: str) -> Value:
    """`enum_value(training_pb2.RunState, "failed")` → RUN_STATE_FAILED."""
    return enum.Value(_prefix(enum) + word.upper())


def enum_words(enum: _EnumTypeWrapper[Value]) -> dict[str, Value]:
    """Every value but the unspecified one, by its word: {"buy": ACTION_BUY, …}."""
    return {enum_word(enum, value): value for value in enum.values() if value}


def when(stamp: Any, *, seconds: bool = False) -> str:
    """A UTC time as 2026-12-01 09:30 (with :ss when `seconds`); "-" for a time not set (zero)."""
    if not (stamp.seconds or stamp.nanos):
        return "-"
    return str(stamp.ToDatetime().strftime(SECONDS if seconds else MINUTES))


def clock(stamp: Any) -> str:
    """The time of day, 09:30:15 (UTC), for lines of a stream."""
    return str(stamp.ToDatetime().strftime("%H:%M:%S"))


def size(count: int) -> str:
    """A byte count as 812 B, 1.5 KB, 3.2 MB, 1.1 GB."""
    value = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{count} B"
