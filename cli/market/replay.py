"""Replaying a price history into the market feed: the files' bars, merged in time order, streamed through one
PublishBars call, paced by the bars' own time gaps divided by the speed (60x: a day of bars in 24 minutes).

Bars already in the feed (at or before each symbol's newest stored bar) are skipped, so a replay stopped with
Ctrl-C and started again continues where it stopped. Every bar is checked before the first is sent: a bad one
is named by file and time, and nothing is replayed.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

MAX_BATCH = 10_000  # bars per message: PublishBarsRequest's limit


@dataclass(frozen=True)
class Step:
    """The bars of every symbol at one time."""

    time: datetime
    bars: list[tuple[str, float, float, float, float, float]]  # symbol, open, high, low, close, volume


@dataclass
class Progress:
    total: int
    sent: int = 0
    skipped: int = 0
    bar_time: datetime | None = None  # of the last bar sent
    started: float = field(default_factory=time.monotonic)


def parse_speed(text: str) -> float:
    """`60x`, `60` or `max` (no pacing: as fast as the server stores them); `max` is math.inf."""
    value = text.strip().lower()
    if value in ("max", "inf", "0"):
        return math.inf
    try:
        speed = float(value.removesuffix("x"))
    except ValueError:
        speed = -1.0
    if not math.isfinite(speed) or speed <= 0:
        raise click.BadParameter(f"{text!r} is not a speed: use e.g. 60x (a minute of bars per second) or max")
    return speed


def read_steps(paths: list[Path]) -> tuple[list[Step], dict[str, int]]:
    """The files' bars grouped by time, oldest first, each bar checked; and the number of bars per symbol."""
    try:
        import pandas as pd

        from mlmp_cli.rounds.features import PriceDataError, read_price_file
    except ImportError:
        raise click.ClickException("replaying price files needs: pip install 'ml-marketplace[server]'") from None
    frames = []
    for path in paths:
        try:
            frame = read_price_file(path)
        except PriceDataError as error:
            raise click.ClickException(f"{error}. Nothing was replayed.") from None
        _check(frame, path.name)
        frames.append(frame)
    bars = pd.concat(frames, ignore_index=True).sort_values(["time", "symbol"], kind="stable")
    twice = bars.duplicated(["symbol", "time"], keep=False)
    if twice.any():
        first = bars[twice].iloc[0]
        raise click.ClickException(
            f"{first['symbol']} has two bars at {_shown(first['time'])} (in two files?). Nothing was replayed."
        )
    steps = []
    columns = ["symbol", "open", "high", "low", "close", "volume"]
    for moment, group in bars.groupby("time", sort=True):
        rows = [(str(s), float(o), float(h), float(lo), float(c), float(v)) for s, o, h, lo, c, v in
                group[columns].itertuples(index=False)]  # fmt: skip
        steps.append(Step(moment.to_pydatetime(), rows))
    return steps, {str(k): int(v) for k, v in bars.groupby("symbol").size().items()}


def _check(frame: Any, name: str) -> None:
    """What the marketplace refuses, found before anything is sent: named by file and time."""
    import numpy as np

    prices = frame[["open", "high", "low", "close"]].to_numpy(dtype=float)
    volume = frame["volume"].to_numpy(dtype=float)
    problems = [
        (~np.isfinite(prices).all(axis=1) | (prices <= 0).any(axis=1), "a price that is not a finite number above 0"),
        (~np.isfinite(volume) | (volume < 0), "a volume that is not a finite number of 0 or more"),
        (frame["high"] < frame["low"], "a high below its low"),
        ((frame["high"] < frame["open"]) | (frame["high"] < frame["close"]), "a high below its open or close"),
        ((frame["low"] > frame["open"]) | (frame["low"] > frame["close"]), "a low above its open or close"),
    ]
    for bad, what in problems:
        bad = np.asarray(bad)
        if bad.any():
            row = frame[bad].iloc[0]
            values = ", ".join(f"{c} {row[c]:g}" for c in ("open", "high", "low", "close", "volume"))
            raise click.ClickException(
                f"{name}: the bar at {_shown(row['time'])} has {what} ({values}); "
                f"{int(bad.sum())} bar(s) like it. Nothing was replayed."
            )


def _shown(moment: Any) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S").removesuffix(" 00:00:00")


def skip_stored(steps: list[Step], newest: dict[str, datetime]) -> tuple[list[Step], int]:
    """The steps without bars at or before their symbol's newest stored bar, and how many were left out."""
    if not newest:
        return steps, 0
    kept, skipped = [], 0
    for step in steps:
        rows = [row for row in step.bars if row[0] not in newest or step.time > newest[row[0]]]
        skipped += len(step.bars) - len(rows)
        if rows:
            kept.append(Step(step.time, rows))
    return kept, skipped


def paced_messages(
    steps: list[Step],
    speed: float,
    progress: Progress,
    stop: threading.Event,
    *,
    message: Callable[[list[Any]], Any],
    bar: Callable[..., Any],
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[Any]:
    """PublishBarsRequests: each step when its time has come (its gap from the first step ÷ speed), the steps
    already due together in one message; ends early when `stop` is set."""
    if not steps:
        return
    first, start = steps[0].time, clock()
    index = 0
    while index < len(steps) and not stop.is_set():
        due = start + (steps[index].time - first).total_seconds() / speed
        if stop.wait(max(0.0, due - clock())):
            return
        batch: list[Any] = []
        now = clock()
        while index < len(steps):
            step = steps[index]
            if batch and (start + (step.time - first).total_seconds() / speed > now or
                          len(batch) + len(step.bars) > MAX_BATCH):  # fmt: skip
                break
            batch.extend(bar(step.time, *row) for row in step.bars)
            index += 1
        progress.sent += len(batch)
        progress.bar_time = steps[index - 1].time
        yield message(batch)


def progress_line(progress: Progress, speed: float) -> str:
    elapsed = time.monotonic() - progress.started
    at = progress.bar_time.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if progress.bar_time else "-"
    pace = "max" if math.isinf(speed) else f"{speed:g}x"
    share = 100 * progress.sent / progress.total if progress.total else 100
    return f"replayed {progress.sent:,}/{progress.total:,} bars ({share:.0f}%) · at {at} · {pace} · {elapsed:.0f}s"
