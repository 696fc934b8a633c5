"""The catalog's one-second answers: concurrent misses on an expired page cause one rebuild."""

import asyncio
import contextlib

from mlmp_marketplace.v1 import catalog_pb2
from mlmp_server.catalog import store as catalog_store
from mlmp_server.catalog.servicer import FRESHNESS, STALE_FOR, CatalogServicer
from tests.helpers.clock import ManualClock


def test_concurrent_callers_on_an_expired_catalog_page_cause_exactly_one_rebuild(monkeypatch):
    queries = []

    async def list_vendors(session, vendor, live_only, offset, limit, **filters):
        queries.append(1)
        await asyncio.sleep(0.01)  # the other callers arrive during the rebuild
        return []

    monkeypatch.setattr(catalog_store, "list_vendors", list_vendors)
    clock = ManualClock()
    catalog = CatalogServicer(lambda: contextlib.nullcontext(), clock, heartbeat_timeout=90)  # type: ignore[arg-type]
    request = catalog_pb2.ListCatalogRequest(page_size=20)

    async def main() -> None:
        await catalog.ListCatalog(request, None)
        clock.now += FRESHNESS + 0.5
        pages = await asyncio.gather(*(catalog.ListCatalog(request, None) for _ in range(32)))
        assert all(page == pages[0] for page in pages)
        await catalog.ListCatalog(request, None)

    asyncio.run(main())
    assert len(queries) == 2  # the first fill and the one rebuild


def test_callers_on_an_expired_catalog_page_get_it_at_once_while_it_is_rebuilt(monkeypatch):
    rebuilt = asyncio.Event()
    listed: list[int] = []

    async def list_vendors(session, vendor, live_only, offset, limit, **filters):
        listed.append(1)
        if len(listed) > 1:
            await rebuilt.wait()  # a slow rebuild: held until the test lets it go
        return []

    monkeypatch.setattr(catalog_store, "list_vendors", list_vendors)
    clock = ManualClock()
    catalog = CatalogServicer(lambda: contextlib.nullcontext(), clock, heartbeat_timeout=90)  # type: ignore[arg-type]
    request = catalog_pb2.ListCatalogRequest(page_size=20)

    async def main() -> None:
        first = await catalog.ListCatalog(request, None)
        clock.now += FRESHNESS + 0.5
        served = [await asyncio.wait_for(catalog.ListCatalog(request, None), 1.0) for _ in range(32)]
        assert all(page == first for page in served)
        rebuilt.set()
        await asyncio.sleep(0.01)  # the rebuild lands
        clock.now += FRESHNESS + STALE_FOR  # past its stale time too: a caller waits for a build again
        await asyncio.wait_for(catalog.ListCatalog(request, None), 1.0)

    asyncio.run(main())
    assert len(listed) == 3  # the first fill, the one rebuild behind the stale page, the one after
