"""Suspending a vendor through a real server, SQLite and PostgreSQL: every token of it is refused from
the next call on (cached answers included), it leaves the catalog, nothing of it is deleted, and
resuming it gives its tokens back."""

from __future__ import annotations

import time

import grpc
import pytest
from sqlalchemy import func, select

from mlmp_marketplace.v1 import auth_pb2, catalog_pb2
from mlmp_server.db.models import AuditEvent, Deployment, Signal, Vendor
from tests.helpers.auth import bearer, create_vendor_token
from tests.helpers.market import batch, signal

WHOAMI = auth_pb2.WhoAmIRequest()


def code_of(call, *args, **kwargs) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as caught:
        call(*args, **kwargs)
    return caught.value.code()


def listed_slugs(market) -> set[str]:
    response = market.catalog.ListCatalog(catalog_pb2.ListCatalogRequest(), metadata=market.admin)
    return {entry.vendor.slug for entry in response.entries}


def eventually(check, limit: float = 3.0) -> None:
    """The catalog answers from a 1 s cache: polls until `check()` holds (at most `limit` seconds)."""
    deadline = time.monotonic() + limit
    while not check():
        assert time.monotonic() < deadline, "still not so after the catalog's freshness"
        time.sleep(0.05)


def test_a_suspended_vendors_tokens_are_refused_at_once_and_work_again_after_resuming(server, auth, admin, market):
    deployment = market.deploy()
    market.stream(deployment.token, [batch(1, signal("AAA"))])
    session = auth.CreateSession(auth_pb2.CreateSessionRequest(), metadata=market.acme)
    other = bearer(create_vendor_token(auth, admin, slug="other").secret)
    tokens = {"api": market.acme, "session": bearer(session.secret), "deployment": bearer(deployment.token)}
    for metadata in (*tokens.values(), other):
        auth.WhoAmI(WHOAMI, metadata=metadata)  # each answer is cached now

    suspended = auth.SuspendVendor(auth_pb2.SuspendVendorRequest(vendor="acme"), metadata=admin)
    assert suspended.HasField("suspend_time")
    for kind, metadata in tokens.items():
        assert code_of(auth.WhoAmI, WHOAMI, metadata=metadata) == grpc.StatusCode.UNAUTHENTICATED, kind
    assert code_of(market.stream, deployment.token, [batch(2, signal("BBB"))]) == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.RpcError) as refused:
        auth.WhoAmI(WHOAMI, metadata=market.acme)
    assert "its vendor is suspended" in refused.value.details()  # the holder can tell why
    auth.WhoAmI(WHOAMI, metadata=other)  # another vendor is untouched
    (row,) = [v for v in auth.ListVendors(auth_pb2.ListVendorsRequest(), metadata=admin).vendors if v.slug == "acme"]
    assert row.suspend_time == suspended.suspend_time
    # A retry is harmless: the same suspension, not a new one.
    again = auth.SuspendVendor(auth_pb2.SuspendVendorRequest(vendor=suspended.id), metadata=admin)
    assert again.suspend_time == suspended.suspend_time

    async def kept() -> tuple[int, int, int, list[str]]:
        async with server.listening.resources.sessions() as db:
            return (
                await db.scalar(select(func.count()).select_from(Vendor).where(Vendor.slug == "acme")),
                await db.scalar(select(func.count()).select_from(Deployment)),
                await db.scalar(select(func.count()).select_from(Signal)),
                sorted(await db.scalars(select(AuditEvent.action).where(AuditEvent.action.like("vendor.%")))),
            )

    # Nothing is deleted; the suspension is audited once, the retry is not a second one.
    assert server.run_in_loop(kept) == (1, 1, 1, ["vendor.create", "vendor.create", "vendor.suspend"])

    resumed = auth.ResumeVendor(auth_pb2.ResumeVendorRequest(vendor="acme"), metadata=admin)
    assert not resumed.HasField("suspend_time")
    for metadata in tokens.values():  # at once: the refusals cached meanwhile are dropped
        assert auth.WhoAmI(WHOAMI, metadata=metadata).vendor.slug == "acme"


def test_a_suspended_vendor_leaves_the_catalog_and_comes_back(auth, admin, market):
    market.deploy()
    create_vendor_token(auth, admin, slug="other")
    assert listed_slugs(market) == {"acme", "other"}
    auth.SuspendVendor(auth_pb2.SuspendVendorRequest(vendor="acme"), metadata=admin)
    eventually(lambda: listed_slugs(market) == {"other"})
    status = code_of(market.catalog.GetCatalogEntry, catalog_pb2.GetCatalogEntryRequest(vendor="acme"),
                     metadata=market.admin)  # fmt: skip
    assert status == grpc.StatusCode.NOT_FOUND
    auth.ResumeVendor(auth_pb2.ResumeVendorRequest(vendor="acme"), metadata=admin)
    eventually(lambda: listed_slugs(market) == {"acme", "other"})


def test_suspending_an_unknown_vendor_is_not_found(auth, admin):
    for call, request in (
        (auth.SuspendVendor, auth_pb2.SuspendVendorRequest(vendor="ghost")),
        (auth.ResumeVendor, auth_pb2.ResumeVendorRequest(vendor="ghost")),
    ):
        assert code_of(call, request, metadata=admin) == grpc.StatusCode.NOT_FOUND
    assert code_of(auth.SuspendVendor, auth_pb2.SuspendVendorRequest(), metadata=admin) == (
        grpc.StatusCode.INVALID_ARGUMENT
    )
