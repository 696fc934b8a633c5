"""Progress bars for transfers (rich, on stderr so stdout stays clean): one per file and a total.

rich is imported only when bars are wanted: with --json a pull's fixed cost is the CLI's start-up, and
rich was about a tenth of it (30 ms of ~300)."""

from __future__ import annotations

import threading
import time
from types import TracebackType
from typing import Any

REDRAW_EVERY = 0.1  # seconds: the bars are redrawn 10 times a second anyway


class TransferProgress:
    def __init__(self, sizes: dict[str, int], enabled: bool = True) -> None:
        self._lock = threading.Lock()
        self._done = dict.fromkeys(sizes, 0)
        self._shown = dict.fromkeys(sizes, 0.0)
        self._progress: Any = None
        if not enabled:
            self._enabled = False
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        console = Console(stderr=True)
        self._enabled = console.is_terminal
        self._progress = Progress(
            TextColumn("{task.description:>12}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
            TimeRemainingColumn(), console=console, disable=not self._enabled,
        )  # fmt: skip
        self._total = self._progress.add_task("total", total=sum(sizes.values()))
        self._tasks = {name: self._progress.add_task(name, total=size) for name, size in sizes.items()}

    def update(self, name: str, done: int, total: int) -> None:
        """Records `done`; the bars move at most every REDRAW_EVERY seconds per file, and at the end."""
        if not self._enabled:
            return
        now = time.monotonic()
        if done < total and now - self._shown[name] < REDRAW_EVERY:
            self._done[name] = done
            return
        self._shown[name] = now
        with self._lock:
            self._done[name] = done
            self._progress.update(self._tasks[name], completed=done)
            self._progress.update(self._total, completed=sum(self._done.values()))

    def __enter__(self) -> TransferProgress:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None):
        if self._progress is not None:
            self._progress.stop()
