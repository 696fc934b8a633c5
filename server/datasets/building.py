"""Round files built from prices with the CLI's round builder (mlmp_cli.rounds.features), in a child process.

The builder needs pandas, numpy and pyarrow (about 100 MB); they load only in the child, never in the
server, which needs them for nothing else. The demo round of a fresh install and a round published from
uploaded CSVs are built this way, so both give the files `mp admin rounds publish --from-csv` would.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class BuiltFiles:
    """What the build process hands back: plain values, pickled across."""

    files: dict[str, bytes]  # split name → encoded file
    file_format: str
    row_counts: dict[str, int]
    columns: list[str]
    symbols: list[str]
    data_start: datetime
    data_end: datetime
    bar_seconds: int = 86400
    horizon_bars: int = 5


def built_files(built: Any, file_format: str) -> BuiltFiles:
    """A BuiltRound of mlmp_cli.rounds.features encoded as files (runs in the child)."""
    from mlmp_cli.rounds.features import encode

    tables = built.tables
    return BuiltFiles(
        files={split: encode(table, file_format) for split, table in tables.items()},
        file_format=file_format,
        row_counts={split: len(table) for split, table in tables.items()},
        columns=list(next(iter(tables.values())).columns),
        symbols=list(built.symbols),
        data_start=built.start.to_pydatetime(),
        data_end=built.end.to_pydatetime(),
        bar_seconds=built.bar_seconds,
        horizon_bars=built.horizon_bars,
    )


def build_from_csv(csvs: list[tuple[str, bytes]], file_format: str) -> BuiltFiles | str:
    """The round's files from OHLCV CSVs (name, bytes), or the message naming the bad file, line and column.

    Runs in the child: the builder's PriceDataError is turned into its message here, so the server never
    imports the module that defines it.
    """
    from mlmp_cli.rounds.features import PriceDataError, build_round, read_price_bytes

    try:
        return built_files(build_round([read_price_bytes(name, data) for name, data in csvs]), file_format)
    except PriceDataError as error:
        return str(error)


def build_synthetic() -> BuiltFiles:
    """The demo round's files, from synthetic prices."""
    from mlmp_cli.rounds.features import build_round
    from mlmp_server.datasets.synthetic import synthetic_prices

    return built_files(build_round(synthetic_prices()), "parquet")


PARENT_CHECK_SECONDS = 0.5


def _exit_with_parent(parent: int) -> None:
    """Runs first in the child. A server killed (SIGKILL) mid-build leaves its child orphaned, and the child
    would wait forever to hand back its result: it holds its result pipe's reading end too, so nothing tells
    it that no one reads. It watches for its parent's end instead, and ends with it."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


class ChildBuilder:
    """Runs builds in a spawned child process, one at a time: each child loads ~100 MB of libraries."""

    def __init__(self, concurrency: int = 1) -> None:
        self._slots = asyncio.Semaphore(concurrency)

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        async with self._slots:
            # spawn, not fork: the server's gRPC and database threads must not be copied mid-flight.
            with ProcessPoolExecutor(
                1, mp_context=multiprocessing.get_context("spawn"), initializer=_exit_with_parent,
                initargs=(os.getpid(),),
            ) as pool:  # fmt: skip
                return await asyncio.get_running_loop().run_in_executor(pool, function, *args)
