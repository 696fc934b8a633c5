"""The demo round a fresh install publishes, so a new vendor can pull data at once.

Built from synthetic prices (server/datasets/synthetic.py) and labelled synthetic everywhere it shows. No
registry package we could find ships daily OHLCV history under a licence that allows this, so
synthetic it is; operators publish real rounds with `mp admin rounds publish --from-csv`.
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cli.rounds.features import FEATURES, TARGET, build_round, encode
from server.blobs.local import BlobStore, StagedWrite
from server.core.clock import Clock, to_datetime
from server.datasets import store
from server.datasets.publishing import RoundFacts, store_round
from server.datasets.rules import PlannedFile
from server.datasets.synthetic import DESCRIPTION, synthetic_prices

log = logging.getLogger("mp.demo")


def _build() -> tuple[dict[str, bytes], RoundFacts, dict[str, int]]:
    built = build_round(synthetic_prices())
    files = {split: encode(table, "parquet") for split, table in built.tables.items()}
    facts = RoundFacts(
        number=1, opens_at=None, closes_at=None, symbols=built.symbols,
        data_start=built.start.to_pydatetime(), data_end=built.end.to_pydatetime(), synthetic=True,
        description=DESCRIPTION,
    )  # fmt: skip
    return files, facts, {split: len(table) for split, table in built.tables.items()}


async def publish_demo_round(sessions: async_sessionmaker[AsyncSession], blobs: BlobStore, clock: Clock) -> int | None:
    """Publishes round 1 from synthetic prices when the database has no round yet."""
    async with sessions() as session:
        if await store.count_rounds(session):
            return None
    files, facts, row_counts = await asyncio.to_thread(_build)
    columns = ["symbol", "time", *FEATURES, TARGET]
    staged: dict[str, StagedWrite] = {}
    planned: list[PlannedFile] = []
    committed: list[str] = []
    try:
        for name, data in files.items():
            write = staged[name] = blobs.stage()
            await asyncio.to_thread(write.write, data)
            stored = await asyncio.to_thread(write.finish)
            planned.append(PlannedFile(name, "parquet", stored.size_bytes, stored.sha256, columns, row_counts[name]))
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
