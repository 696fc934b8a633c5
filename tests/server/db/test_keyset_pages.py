"""Keyset paging through the real store functions, on SQLite and PostgreSQL: a walk of every page returns
every row exactly once and in order, ties in the sort key included, and rows written during the walk neither
repeat nor hide the rows that were there before it."""

from __future__ import annotations

import asyncio
import itertools
from datetime import timedelta

from mlmp_server.auth import store as auth_store
from mlmp_server.catalog import store as catalog_store
from mlmp_server.datasets import rules as round_rules
from mlmp_server.datasets import store as round_store
from mlmp_server.db.models import DatasetRound, Deployment, TrainingRun
from mlmp_server.deployments import store as deployment_store
from mlmp_server.signals import store as signal_store
from mlmp_server.training import store as run_store
from tests.helpers.lists import T0, opened, signals, vendors, walk

ORDERS = {
    "": lambda v: (v.created_at, v.id),
    "name": lambda v: (v.display_name.lower(), v.created_at, v.id),
    "activity": lambda v: (v.activity_rank, v.created_at, v.id),
    "score": lambda v: (v.score_rank, v.created_at, v.id),
}


def test_every_catalog_order_walks_each_vendor_once_in_order_with_ties(settings):
    async def scenario() -> None:
        async with opened(settings.database_url) as sessions:
            async with sessions.begin() as session:
                session.add_all(vendors(23))
            for order in ORDERS:
                await walk_catalog(sessions, order)

    asyncio.run(scenario())


async def walk_catalog(sessions, order: str) -> None:
    async def more(page: int) -> None:  # new vendors sort among the old ones in every order
        async with sessions.begin() as session:
            session.add_all(vendors(2, prefix=f"n{order}", start=2 * page))

    async def fetch(after, limit):
        async with sessions() as session:
            return await catalog_store.list_vendors(session, "", False, after, limit, order=order)

    found = await walk(fetch, lambda row: row[1], size=4, between_pages=more)
    shown = [vendor for vendor, _ in found]
    assert len({v.id for v in shown}) == len(shown), "a vendor was shown twice"
    old = [v.id for v in shown if v.id.startswith("v")]
    expected = sorted(vendors(23), key=ORDERS[order])
    assert old == [v.id for v in expected]  # every vendor there before the walk, in order
    assert [ORDERS[order](v) for v in shown] == sorted(ORDERS[order](v) for v in shown)


def test_admin_vendor_listing_walks_each_vendor_once(settings):
    async def scenario() -> None:
        async with opened(settings.database_url) as sessions:
            async with sessions.begin() as session:
                session.add_all(vendors(17, distinct_times=2))

            async def fetch(after, limit):
                async with sessions() as session:
                    return await auth_store.list_vendors(session, after, limit)

            found = await walk(fetch, auth_store.vendor_key, size=3)
            assert [v.id for v in found] == [v.id for v in sorted(vendors(17, distinct_times=2), key=ORDERS[""])]

    asyncio.run(scenario())


FILTERS = [
    {},
    {"vendor_id": "v00001"},
    {"vendor_id": "v00002"},  # the same statement with another vendor: never the cached one's rows
    {"symbol": "BBB"},
    {"deployment_id": "dep_v00002_0"},
    {"round_number": 2},
    {"vendor_id": "v00000", "symbol": "AAA"},
    {"vendor_id": "v00001", "round_number": 1, "symbol": "AAA"},
]


def test_signal_listings_walk_newest_first_without_repeats_while_signals_arrive(settings):
    ids = ["v00000", "v00001", "v00002"]
    arrived = itertools.count(1000, 10)

    async def scenario() -> None:
        async with opened(settings.database_url) as sessions:
            async with sessions.begin() as session:
                session.add_all(vendors(3))
                await session.flush()
                session.add_all(signals(90, ids))

            async def more(page: int) -> None:
                async with sessions.begin() as session:
                    session.add_all(signals(6, ids, first_id=next(arrived)))

            for filters in FILTERS:
                await walk_signals(sessions, filters, more)

    asyncio.run(scenario())


async def walk_signals(sessions, filters, more) -> None:
    ids = ["v00000", "v00001", "v00002"]

    async def fetch(after, limit):
        async with sessions() as session:
            query = {"symbol": "", "vendor_id": None, "deployment_id": "", "round_number": 0, **filters}
            return await signal_store.list_signals(session, **query, after=after, limit=limit)

    found = [signal.id for signal, _ in await walk(fetch, signal_store.signal_key, size=7, between_pages=more)]
    wanted = [s for s in signals(90, ids) if all(getattr(s, k) == v for k, v in filters.items())]
    assert len(set(found)) == len(found), filters
    old = [found_id for found_id in found if found_id < 1000]  # signals arrived during the walks are newer
    assert old == sorted((s.id for s in wanted), reverse=True), filters


def test_runs_and_deployments_walk_newest_first_with_ties(settings):
    async def scenario() -> None:
        async with opened(settings.database_url) as sessions:
            async with sessions.begin() as session:
                session.add_all(vendors(2))
                session.add(DatasetRound(number=1, state="open", opens_at=T0, closes_at=T0 + timedelta(days=7),
                                         created_at=T0))  # fmt: skip
                await session.flush()
                for n in range(19):
                    at = T0 + timedelta(seconds=n % 3)
                    session.add(TrainingRun(id=f"run_{n:03d}", vendor_id="v00000", task="t", round_number=1,
                                            provider="local", state="queued", created_at=at))  # fmt: skip
                    session.add(Deployment(id=f"dep_{n:03d}", vendor_id="v00000", name="m", provider="local",
                                           state="pending", created_at=at, updated_at=at))  # fmt: skip

            async def runs(after, limit):
                async with sessions() as session:
                    return await run_store.list_runs(session, "v00000", None, 0, after, limit)

            async def deployments(after, limit):
                async with sessions() as session:
                    return await deployment_store.list_deployments(session, "v00000", None, T0, after, limit)

            newest_first = sorted(((T0 + timedelta(seconds=n % 3), f"{n:03d}") for n in range(19)), reverse=True)
            assert [r.id for r in await walk(runs, run_store.run_key, 4)] == [f"run_{n}" for _, n in newest_first]
            found = await walk(deployments, deployment_store.deployment_key, 4)
            assert [d.id for d in found] == [f"dep_{n}" for _, n in newest_first]

    asyncio.run(scenario())


def test_round_state_filter_applies_before_the_limit_and_agrees_with_state_of(settings):
    now = T0 + timedelta(days=100)
    made = []
    for number in range(1, 31):  # every fifth round open, the others closed, resolved or upcoming
        kind = number % 5
        opens = now + timedelta(days=1) if kind == 4 else now - timedelta(days=2)
        closes = now - timedelta(days=1) if kind in (1, 2) else now + timedelta(days=3)
        made.append(DatasetRound(number=number, state="closed" if kind == 3 else "open", opens_at=opens,
                                 closes_at=closes, resolved_at=now if kind == 2 else None, created_at=T0))  # fmt: skip

    async def scenario() -> None:
        async with opened(settings.database_url) as sessions:
            async with sessions.begin() as session:
                session.add_all(made)
            for state in ("open", "closed", "resolved", "upcoming"):

                async def fetch(after, limit, state=state):
                    async with sessions() as session:
                        return await round_store.list_rounds(session, limit, state=state, now=now, after=after)

                async with sessions() as session:
                    first = await round_store.list_rounds(session, 3, state=state, now=now)
                assert len(first) == 3  # a full page, not the page's matches among all rounds
                found = [r.number for r in await walk(fetch, round_store.round_key, 2)]
                wanted = [r.number for r in made if round_rules.state_name(round_rules.state_of(r, now)) == state]
                assert found == sorted(wanted, reverse=True)

    asyncio.run(scenario())
