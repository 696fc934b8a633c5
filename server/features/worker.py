"""The feature worker: a long-lived child process that answers each new bar with its symbol's feature row, computed
by the round builder's own code (server/features/child.py), so a feature has one definition and pandas never loads
into the server.

The parent keeps a copy of the last bars of each symbol (as many as the child says its features need), so a child
that dies is started again and given them back before the request that found it dead is retried: its answers
continue as if it had never stopped.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger("mp.features")

CHILD = "mlmp_server.features.child"
# A line the child writes can hold a whole round's latest rows; asyncio's default line limit is 64 KiB.
LINE_LIMIT = 64 * 1024 * 1024


class FeatureWorkerError(RuntimeError):
    """The child refused a request (an unreadable live file) or could not be started."""


@dataclass(frozen=True)
class Bar:
    symbol: str
    time: datetime
    open: float
    high: float
    low: float
    close: float
    volume: float

    def wire(self) -> list[Any]:
        return [self.symbol, self.time.isoformat(), self.open, self.high, self.low, self.close, self.volume]


@dataclass(frozen=True)
class FeatureRow:
    symbol: str
    time: datetime
    values: dict[str, float]  # feature name → value, in the builder's order (FEATURES)


def _time(text: str) -> datetime:
    when = datetime.fromisoformat(text)
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


class FeatureWorker:
    """Feature rows from bars, one request at a time through one child process."""

    def __init__(self, command: Sequence[str] | None = None) -> None:
        self._command = list(command) if command is not None else [sys.executable, "-m", CHILD]
        self._process: asyncio.subprocess.Process | None = None
        self._lock = asyncio.Lock()
        self.features: list[str] = []
        self.window = 0
        self._history: dict[str, deque[Bar]] = {}
        self.starts = 0  # how many children were started: 1 plus the restarts

    async def start(self) -> None:
        async with self._lock:
            await self._ensure()

    async def close(self) -> None:
        async with self._lock:
            process, self._process = self._process, None
            if process is not None:
                await _stop(process)

    async def forget(self) -> None:
        """Drops every symbol's bars and the child with them (the feed missed bars: its windows have a gap)."""
        self._history.clear()
        await self.close()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    async def add_bars(self, bars: Sequence[Bar]) -> list[FeatureRow]:
        """The feature row of each bar whose symbol has enough history (warm-up bars give none)."""
        if not bars:
            return []
        async with self._lock:
            answer = await self._ask({"bars": [bar.wire() for bar in bars]}, replay=True)
            for bar in bars:
                kept = self._history.setdefault(bar.symbol, deque(maxlen=self.window))
                if kept and bar.time < kept[-1].time:
                    continue
                if kept and bar.time == kept[-1].time:
                    kept.pop()
                kept.append(bar)
            return _rows(answer, self.features)

    async def live_rows(self, source: str, file_format: str) -> list[FeatureRow]:
        """The newest row of each symbol of a round's live file (parquet or csv), read by the child from a path
        or URL."""
        async with self._lock:
            request = {"live": source, "format": file_format}
            return _rows(await self._ask(request, replay=False), self.features)

    async def _ask(self, request: dict[str, Any], *, replay: bool) -> dict[str, Any]:
        line = (json.dumps(request) + "\n").encode()
        for attempt in (1, 2):
            process = await self._ensure()
            try:
                assert process.stdin is not None
                assert process.stdout is not None
                process.stdin.write(line)
                await process.stdin.drain()
                answer_line = await process.stdout.readline()
            except (BrokenPipeError, ConnectionResetError):
                answer_line = b""
            if answer_line:
                answer = json.loads(answer_line)
                if "error" in answer:
                    raise FeatureWorkerError(answer["error"])
                return answer  # type: ignore[no-any-return]
            log.warning("the feature worker (pid %s) ended; starting another", process.pid)
            self._process = None
            await _stop(process)
            if attempt == 2:
                raise FeatureWorkerError("the feature worker ended twice on the same request")
        raise AssertionError("unreachable")

    async def _ensure(self) -> asyncio.subprocess.Process:
        """The running child, or a new one given the history back."""
        if self._process is not None and self._process.returncode is None:
            return self._process
        process = await asyncio.create_subprocess_exec(
            *self._command, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, limit=LINE_LIMIT
        )
        assert process.stdout is not None
        assert process.stdin is not None
        hello = await process.stdout.readline()
        if not hello:
            await _stop(process)
            raise FeatureWorkerError("the feature worker did not start (see the server's log for its error)")
        announced = json.loads(hello)
        self.features, self.window = list(announced["features"]), int(announced["window"])
        self.starts += 1
        bars = [bar.wire() for kept in self._history.values() for bar in kept]
        if bars:
            process.stdin.write((json.dumps({"bars": bars}) + "\n").encode())
            await process.stdin.drain()
            await process.stdout.readline()
        self._process = process
        return process


def _rows(answer: dict[str, Any], features: list[str]) -> list[FeatureRow]:
    return [
        FeatureRow(symbol, _time(when), dict(zip(features, values, strict=True)))
        for symbol, when, values in answer["rows"]
    ]


async def _stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        if process.stdin is not None:
            process.stdin.close()
        try:
            await asyncio.wait_for(process.wait(), 5)
        except TimeoutError:
            process.kill()
            await process.wait()
