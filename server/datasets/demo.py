"""The demo round a fresh install publishes, so a new vendor can pull data at once.

Built from synthetic prices (server/datasets/synthetic.py) and labelled synthetic everywhere it shows. No
registry package we could find ships daily OHLCV history under a licence that allows this, so
synthetic it is; operators publish real rounds with `mp admin rounds publish --from-csv`.

The build runs in a child process: pandas, numpy and pyarrow (about 100 MB) never load into the
server, which needs them for nothing else.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.blobs.local import BlobStore, StagedWrite
from server.core.clock import Clock, to_datetime
from server.datasets import store
from server.datasets.publishing import RoundFacts, store_round
from server.datasets.rules import PlannedFile
from server.datasets.synthetic import DESCRIPTION

log = logging.getLogger("mp.demo")


@dataclass(frozen=True)
class DemoFiles:
    """What the build process hands back: plain values, pickled across."""

    files: dict[str, bytes]
    row_counts: dict[str, int]
    columns: list[str]
    symbols: list[str]
    data_start: datetime
    data_end: datetime


def build_demo_files() -> DemoFiles:
    from cli.rounds.features import FEATURES, TARGET, build_round, encode
    from server.datasets.synthetic import synthetic_prices

    built = build_round(synthetic_prices())
    return DemoFiles(
        files={split: encode(table, "parquet") for split, table in built.tables.items()},
        row_counts={split: len(table) for split, table in built.tables.items()},
        columns=["symbol", "time", *FEATURES, TARGET],
        symbols=list(built.symbols),
        data_start=built.start.to_pydatetime(),
        data_end=built.end.to_pydatetime(),
    )


async def _build_in_child() -> DemoFiles:
    # spawn, not fork: the server's gRPC and database threads must not be copied mid-flight.
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return await asyncio.get_running_loop().run_in_executor(pool, build_demo_files)


async def publish_demo_round(sessions: async_sessionmaker[AsyncSession], blobs: BlobStore, clock: Clock) -> int | None:
    """Publishes round 1 from synthetic prices when the database has no round yet."""
    async with sessions() as session:
        if await store.count_rounds(session):
            return None
    built = await _build_in_child()
    facts = RoundFacts(
        number=1, opens_at=None, closes_at=None, symbols=built.symbols, data_start=built.data_start,
        data_end=built.data_end, synthetic=True, description=DESCRIPTION,
    )  # fmt: skip
    staged: dict[str, StagedWrite] = {}
    planned: list[PlannedFile] = []
    committed: list[str] = []
    try:
        for name, data in built.files.items():
            write = staged[name] = blobs.stage()
            await asyncio.to_thread(write.write, data)
            stored = await asyncio.to_thread(write.finish)
            rows = built.row_counts[name]
            planned.append(PlannedFile(name, "parquet", stored.size_bytes, stored.sha256, built.columns, rows))
        async with sessions.begin() as session:
            row = await store_round(
                session, blobs, facts=facts, planned=planned, staged=staged, committed=committed,
                actor="mp-server", now=to_datetime(clock()),
            )  # fmt: skip
            number = row.number
    except BaseException:
        for key in committed:
            blobs.delete(key)
        raise
    finally:
        for write in staged.values():
            write.abandon()
    log.info("published demo round %d from synthetic prices", number)
    return number
