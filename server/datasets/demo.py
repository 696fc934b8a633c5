"""The demo round a fresh install publishes, so a new vendor can pull data at once.

Built from synthetic prices (server/datasets/synthetic.py) and labelled synthetic everywhere it shows. No
registry package we could find ships daily OHLCV history under a licence that allows this, so
synthetic it is; operators publish real rounds with `mp admin rounds publish --from-csv`.

The build runs in a child process: pandas, numpy and pyarrow (about 100 MB) never load into the
server, which needs them for nothing else.
"""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mlmp_server.blobs.local import BlobStore, StagedWrite
from mlmp_server.core.clock import Clock, to_datetime
from mlmp_server.datasets import store
from mlmp_server.datasets.building import ChildBuilder, build_synthetic
from mlmp_server.datasets.publishing import facts_of, stage_built, store_round
from mlmp_server.datasets.synthetic import DESCRIPTION
from mlmp_server.db.locks import one_replica_at_a_time_for

log = logging.getLogger("mp.demo")


async def publish_demo_round(sessions: async_sessionmaker[AsyncSession], blobs: BlobStore, clock: Clock) -> int | None:
    """Publishes round 1 from synthetic prices when the database has no round yet.

    Replicas starting together on a fresh database take turns (an advisory lock held across the check,
    the build and the commit): the first publishes, the others then find round 1 and do nothing. Without
    it each built the round and all but one died on round 1's duplicate key. Inserting only if absent
    would not do: each replica would still build, and store the round's files, for nothing."""
    async with one_replica_at_a_time_for(sessions, "mp:demo-round"):
        return await _publish_if_none(sessions, blobs, clock)


async def _publish_if_none(sessions: async_sessionmaker[AsyncSession], blobs: BlobStore, clock: Clock) -> int | None:
    async with sessions() as session:
        if await store.count_rounds(session):
            return None
    built = await ChildBuilder().run(build_synthetic)
    facts = facts_of(built, number=1, opens_at=None, closes_at=None, synthetic=True, description=DESCRIPTION)
    staged: dict[str, StagedWrite] = {}
    committed: list[str] = []
    try:
        planned = await stage_built(blobs, built, staged)
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
