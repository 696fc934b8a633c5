"""The round snapshot reloads once per expiry, whatever the number of concurrent readers."""

import asyncio
import contextlib

from mlmp_marketplace.v1.datasets_pb2 import RoundState
from mlmp_server.datasets import round_cache
from mlmp_server.datasets.round_cache import RoundCache
from tests.helpers.clock import ManualClock


def test_concurrent_readers_of_an_expired_snapshot_cause_exactly_one_reload(monkeypatch):
    loads = []

    async def list_rounds(session, limit, **_):
        loads.append(1)
        await asyncio.sleep(0.01)  # the other readers arrive during the reload
        return []

    async def files_of(session, numbers):
        return {}

    monkeypatch.setattr(round_cache.store, "list_rounds", list_rounds)
    monkeypatch.setattr(round_cache.store, "files_of", files_of)
    clock = ManualClock()
    cache = RoundCache(lambda: contextlib.nullcontext(), clock, ttl=2.0)  # type: ignore[arg-type]

    async def main() -> None:
        await cache.latest()
        clock.now += 2.5
        await asyncio.gather(*(cache.latest() for _ in range(50)))
        await cache.latest()

    asyncio.run(main())
    assert len(loads) == 2


def test_the_current_round_is_built_once_per_snapshot_and_state(monkeypatch):
    from mlmp_server.core.clock import to_datetime
    from mlmp_server.datasets.servicer import DatasetServicer
    from mlmp_server.db.models import DatasetRound

    clock = ManualClock()
    row = DatasetRound(
        number=3, state="published", opens_at=to_datetime(clock.now - 10), closes_at=to_datetime(clock.now + 10),
        resolved_at=None, symbols=["AAA"], synthetic=False, description="", data_start=None, data_end=None,
    )  # fmt: skip

    async def list_rounds(session, limit, **_):
        return [row]

    async def files_of(session, numbers):
        return {3: []}

    monkeypatch.setattr(round_cache.store, "list_rounds", list_rounds)
    monkeypatch.setattr(round_cache.store, "files_of", files_of)
    cache = RoundCache(lambda: contextlib.nullcontext(), clock, ttl=60.0)  # type: ignore[arg-type]
    datasets = DatasetServicer(None, None, None, "", clock, cache)  # type: ignore[arg-type]

    async def main() -> None:
        first = await datasets.GetCurrentRound(None, None)
        assert await datasets.GetCurrentRound(None, None) is first  # shared, not rebuilt
        clock.now += 20  # the round closes: same snapshot, another state, another answer
        closed = await datasets.GetCurrentRound(None, None)
        assert (first.state, closed.state) == (RoundState.ROUND_STATE_OPEN, RoundState.ROUND_STATE_CLOSED)
        cache.invalidate()  # a publish on this replica
        assert await datasets.GetCurrentRound(None, None) is not closed

    asyncio.run(main())


def test_a_recent_round_is_built_once_per_snapshot_and_state(monkeypatch):
    from mlmp_marketplace.v1 import datasets_pb2
    from mlmp_server.core.clock import to_datetime
    from mlmp_server.datasets.servicer import DatasetServicer
    from mlmp_server.db.models import DatasetRound

    clock = ManualClock()
    rows = [
        DatasetRound(
            number=number, state="published", opens_at=to_datetime(clock.now - 10),
            closes_at=to_datetime(clock.now + 10 * number), resolved_at=None, symbols=["AAA"], synthetic=False,
            description="", data_start=None, data_end=None,
        )  # fmt: skip
        for number in (4, 3)
    ]

    async def list_rounds(session, limit, **filters):
        return rows

    async def files_of(session, numbers):
        return {4: [], 3: []}

    monkeypatch.setattr(round_cache.store, "list_rounds", list_rounds)
    monkeypatch.setattr(round_cache.store, "files_of", files_of)
    cache = RoundCache(lambda: contextlib.nullcontext(), clock, ttl=60.0)  # type: ignore[arg-type]
    datasets = DatasetServicer(None, None, None, "", clock, cache)  # type: ignore[arg-type]

    async def main() -> None:
        three = await datasets.GetRound(datasets_pb2.GetRoundRequest(number=3), None)
        assert three.number == 3
        assert await datasets.GetRound(datasets_pb2.GetRoundRequest(number=3), None) is three  # not rebuilt
        current = await datasets.GetCurrentRound(None, None)
        assert await datasets.GetRound(datasets_pb2.GetRoundRequest(number=0), None) is current
        clock.now += 35  # round 3 closes, round 4 stays open: another state, another answer
        closed = await datasets.GetRound(datasets_pb2.GetRoundRequest(number=3), None)
        assert (three.state, closed.state) == (RoundState.ROUND_STATE_OPEN, RoundState.ROUND_STATE_CLOSED)
        cache.invalidate()  # a publish on this replica
        assert await datasets.GetRound(datasets_pb2.GetRoundRequest(number=3), None) is not closed

    asyncio.run(main())
