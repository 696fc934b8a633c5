"""Concurrent misses on an expired answer await one build."""

import asyncio

import pytest

from mlmp_server.core.single_flight import SingleFlightCache
from tests.helpers.clock import ManualClock


def counting_build(value: str = "answer"):
    calls = []

    async def build() -> str:
        calls.append(1)
        await asyncio.sleep(0.01)  # every other caller arrives while this build is in flight
        return value

    return build, calls


def test_concurrent_callers_on_an_expired_answer_cause_exactly_one_rebuild():
    clock = ManualClock()
    cache: SingleFlightCache[str, str] = SingleFlightCache(1.0, clock)
    build, calls = counting_build()

    async def main() -> None:
        assert await cache.get("k", build) == "answer"
        clock.now += 1.5  # expired
        answers = await asyncio.gather(*(cache.get("k", build) for _ in range(50)))
        assert answers == ["answer"] * 50
        assert await cache.get("k", build) == "answer"  # kept again for the next second

    asyncio.run(main())
    assert len(calls) == 2  # the first fill and the one rebuild


def test_a_failed_build_reaches_every_waiter_and_is_not_kept():
    cache: SingleFlightCache[str, str] = SingleFlightCache(1.0, ManualClock())
    calls = []

    async def failing() -> str:
        calls.append(1)
        await asyncio.sleep(0.01)
        raise LookupError("no vendor")

    async def main() -> None:
        results = await asyncio.gather(*(cache.get("k", failing) for _ in range(10)), return_exceptions=True)
        assert all(isinstance(result, LookupError) for result in results)
        with pytest.raises(LookupError):
            await cache.get("k", failing)

    asyncio.run(main())
    assert len(calls) == 2  # one for the ten concurrent callers, one for the caller after


def test_a_cancelled_waiter_leaves_the_build_to_the_others():
    cache: SingleFlightCache[str, str] = SingleFlightCache(1.0, ManualClock())
    build, calls = counting_build()

    async def main() -> None:
        first = asyncio.ensure_future(cache.get("k", build))
        second = asyncio.ensure_future(cache.get("k", build))
        await asyncio.sleep(0)
        first.cancel()
        assert await second == "answer"
        assert await cache.get("k", build) == "answer"

    asyncio.run(main())
    assert len(calls) == 1


def test_an_answer_built_across_an_invalidation_is_not_kept():
    cache: SingleFlightCache[str, str] = SingleFlightCache(60.0, ManualClock())
    old_build, old_calls = counting_build("old")
    new_build, new_calls = counting_build("new")

    async def main() -> None:
        in_flight = asyncio.ensure_future(cache.get("k", old_build))
        await asyncio.sleep(0)
        cache.invalidate()  # e.g. a publish while the snapshot was being read
        assert await cache.get("k", new_build) == "new"
        assert await in_flight == "old"  # its own waiters still get an answer
        assert await cache.get("k", new_build) == "new"

    asyncio.run(main())
    assert (len(old_calls), len(new_calls)) == (1, 1)


def test_an_expired_answer_is_served_while_its_one_rebuild_runs():
    clock = ManualClock()
    cache: SingleFlightCache[str, str] = SingleFlightCache(1.0, clock, stale_for=5.0)
    old, old_calls = counting_build("old")
    new, new_calls = counting_build("new")

    async def main() -> None:
        assert await cache.get("k", old) == "old"
        clock.now += 1.5  # expired, within stale_for
        # No caller waits for the rebuild: all get the old answer at once, and one rebuild starts.
        answers = [await asyncio.wait_for(cache.get("k", new), 0.005) for _ in range(20)]
        assert answers == ["old"] * 20
        await asyncio.sleep(0.05)  # the rebuild lands
        assert await cache.get("k", new) == "new"

    asyncio.run(main())
    assert (len(old_calls), len(new_calls)) == (1, 1)


def test_an_answer_past_its_stale_time_is_waited_for():
    clock = ManualClock()
    cache: SingleFlightCache[str, str] = SingleFlightCache(1.0, clock, stale_for=2.0)
    old, _ = counting_build("old")
    new, new_calls = counting_build("new")

    async def main() -> None:
        assert await cache.get("k", old) == "old"
        clock.now += 3.5
        assert await asyncio.gather(*(cache.get("k", new) for _ in range(5))) == ["new"] * 5

    asyncio.run(main())
    assert len(new_calls) == 1


def test_an_invalidation_drops_stale_answers_too():
    clock = ManualClock()
    cache: SingleFlightCache[str, str] = SingleFlightCache(1.0, clock, stale_for=5.0)
    old, _ = counting_build("old")
    new, _ = counting_build("new")

    async def main() -> None:
        assert await cache.get("k", old) == "old"
        cache.invalidate()
        assert await cache.get("k", new) == "new"

    asyncio.run(main())


def test_a_failed_rebuild_behind_a_stale_answer_is_tried_again():
    clock = ManualClock()
    cache: SingleFlightCache[str, str] = SingleFlightCache(1.0, clock, stale_for=5.0)
    old, _ = counting_build("old")
    calls = []

    async def failing() -> str:
        calls.append(1)
        raise LookupError("database away")

    async def main() -> None:
        assert await cache.get("k", old) == "old"
        clock.now += 1.5
        assert await cache.get("k", failing) == "old"
        await asyncio.sleep(0.01)  # the rebuild fails, quietly for the caller served the stale answer
        assert await cache.get("k", failing) == "old"
        await asyncio.sleep(0.01)

    asyncio.run(main())
    assert len(calls) == 2  # a new rebuild for the next caller
