"""The auth interceptor and AuthService through a real server on a real port, SQLite and PostgreSQL."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration
from grpc_health.v1 import health_pb2, health_pb2_grpc
from sqlalchemy import func, select

from mlmp_marketplace.v1 import auth_pb2, auth_pb2_grpc, signals_pb2, signals_pb2_grpc, training_pb2, training_pb2_grpc
from mlmp_marketplace.v1.options_pb2 import PrincipalKind
from mlmp_server.core.clock import ManualClock
from mlmp_server.core.tokens import TokenType, hint, new_token
from mlmp_server.db.models import Deployment, DeploymentToken, Vendor
from tests.helpers.auth import bearer, create_vendor_token
from tests.helpers.server_thread import ServerThread

WHOAMI = auth_pb2.WhoAmIRequest()


def code_of(call, *args, **kwargs) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as caught:
        call(*args, **kwargs)
    return caught.value.code(), caught.value.details()


def test_health_check_needs_no_token(channel):
    response = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""))
    assert response.status == health_pb2.HealthCheckResponse.SERVING


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ((), "needs a token"),
        ((("authorization", "Basic dXNlcjpwYXNz"),), "must be `Bearer <token>`"),
        ((("authorization", "Bearer "),), "must be `Bearer <token>`"),
        ((("authorization", "Bearer not-a-token"),), "not valid"),
        (bearer(new_token(TokenType.API)), "not valid"),  # well formed, never issued
    ],
)
def test_missing_malformed_or_unknown_tokens_are_unauthenticated(auth, metadata, message):
    code, details = code_of(auth.WhoAmI, WHOAMI, metadata=metadata)
    assert code == grpc.StatusCode.UNAUTHENTICATED
    assert message in details


def test_the_admin_token_printed_at_first_start_is_an_operator(auth, admin):
    principal = auth.WhoAmI(WHOAMI, metadata=admin)
    assert principal.kind == PrincipalKind.PRINCIPAL_KIND_ADMIN
    assert list(principal.scopes) == ["admin"]


def test_a_vendor_token_says_who_it_belongs_to(auth, vendor):
    principal = auth.WhoAmI(WHOAMI, metadata=bearer(vendor.secret))
    assert principal.kind == PrincipalKind.PRINCIPAL_KIND_VENDOR
    assert (principal.vendor.slug, principal.vendor.display_name) == ("acme", "Acme")
    assert principal.token_id == vendor.token.id
    assert set(principal.scopes) == {"catalog:read", "data:read", "training:write", "deploy:write"}


def test_a_valid_token_without_the_scope_is_permission_denied(channel, vendor):
    signals = signals_pb2_grpc.SignalServiceStub(channel)
    code, details = code_of(signals.ListSignals, signals_pb2.ListSignalsRequest(), metadata=bearer(vendor.secret))
    assert code == grpc.StatusCode.PERMISSION_DENIED
    assert "needs the scope signals:read" in details


def test_a_token_kind_the_method_does_not_name_is_permission_denied(channel, auth, admin, vendor):
    service = auth.CreateApiToken(auth_pb2.CreateApiTokenRequest(scopes=["training:write"]), metadata=admin)
    runs = training_pb2_grpc.TrainingServiceStub(channel)
    request = training_pb2.IssueRunTokenRequest(run_id="run_x")
    code, details = code_of(runs.IssueRunToken, request, metadata=bearer(service.secret))
    assert code == grpc.StatusCode.PERMISSION_DENIED
    assert details == "a service token cannot call IssueRunToken: it takes an admin or vendor token"
    code, details = code_of(auth.ListVendors, auth_pb2.ListVendorsRequest(), metadata=bearer(vendor.secret))
    assert code == grpc.StatusCode.PERMISSION_DENIED
    assert details == (
        "a vendor token cannot call ListVendors: it takes an admin token; "
        "ListVendors needs the scope admin, which this token lacks"
    )


def test_revoking_a_token_takes_effect_at_once(server, auth, admin, vendor):
    metadata = bearer(vendor.secret)
    auth.WhoAmI(WHOAMI, metadata=metadata)  # now cached
    revoked = auth.RevokeApiToken(auth_pb2.RevokeApiTokenRequest(token_id=vendor.token.id), metadata=admin)
    assert revoked.HasField("revoke_time")
    code, _ = code_of(auth.WhoAmI, WHOAMI, metadata=metadata)
    assert code == grpc.StatusCode.UNAUTHENTICATED
    code, details = code_of(
        auth.RevokeApiToken, auth_pb2.RevokeApiTokenRequest(token_id=vendor.token.id), metadata=admin
    )
    assert code == grpc.StatusCode.FAILED_PRECONDITION
    assert "already revoked" in details


def test_a_second_call_is_served_from_the_cache(server, auth, vendor):
    introspector = server.listening.introspector
    auth.WhoAmI(WHOAMI, metadata=bearer(vendor.secret))
    before = introspector.source_calls
    for _ in range(5):
        auth.WhoAmI(WHOAMI, metadata=bearer(vendor.secret))
    assert introspector.source_calls == before


def test_an_expired_token_is_unauthenticated_from_its_expiry_on(settings):
    clock = ManualClock(start=time.time())
    server = ServerThread(settings, clock=clock).start()
    try:
        with grpc.insecure_channel(server.grpc_target) as channel:
            auth = auth_pb2_grpc.AuthServiceStub(channel)
            short = create_vendor_token(auth, bearer(server.admin_token), ttl=Duration(seconds=120))
            assert auth.WhoAmI(WHOAMI, metadata=bearer(short.secret)).HasField("expire_time")  # cached now
            clock.advance(119)
            auth.WhoAmI(WHOAMI, metadata=bearer(short.secret))
            clock.advance(2)  # past the expiry, well inside the 60 s cache TTL of the first answer
            code, _ = code_of(auth.WhoAmI, WHOAMI, metadata=bearer(short.secret))
            assert code == grpc.StatusCode.UNAUTHENTICATED
    finally:
        server.stop()


def test_a_deployment_token_cannot_call_vendor_or_admin_methods(server, auth, vendor):
    secret = new_token(TokenType.DEPLOYMENT)
    platform = server.listening.resources

    async def insert_deployment():
        now = datetime.now(UTC)
        async with platform.sessions.begin() as session:
            vendor_row = (await session.scalars(select(Vendor).where(Vendor.slug == "acme"))).one()
            session.add(
                Deployment(
                    id="dep_t1",
                    vendor_id=vendor_row.id,
                    name="m",
                    provider="local",
                    state="live",
                    links={},
                    created_at=now,
                    updated_at=now,
                )
            )
            await session.flush()
            session.add(
                DeploymentToken(
                    id="dtk_t1",
                    digest=platform.digester.digest(secret),
                    hint=hint(secret),
                    deployment_id="dep_t1",
                    created_at=now,
                )
            )

    server.run_in_loop(insert_deployment)
    principal = auth.WhoAmI(WHOAMI, metadata=bearer(secret))
    assert principal.kind == PrincipalKind.PRINCIPAL_KIND_DEPLOYMENT
    assert principal.deployment_id == "dep_t1"
    code, details = code_of(auth.ListVendors, auth_pb2.ListVendorsRequest(), metadata=bearer(secret))
    assert code == grpc.StatusCode.PERMISSION_DENIED
    assert "deployment token cannot call" in details
    code, _ = code_of(auth.CreateApiToken, auth_pb2.CreateApiTokenRequest(scopes=["admin"]), metadata=bearer(secret))
    assert code == grpc.StatusCode.PERMISSION_DENIED


def test_vendor_creation_validates_and_refuses_duplicates(auth, admin):
    vendor = auth.CreateVendor(auth_pb2.CreateVendorRequest(slug="acme", display_name="Acme Quant"), metadata=admin)
    assert vendor.id.startswith("vnd_")
    code, details = code_of(
        auth.CreateVendor, auth_pb2.CreateVendorRequest(slug="acme", display_name="Other"), metadata=admin
    )
    assert code == grpc.StatusCode.ALREADY_EXISTS
    assert vendor.id in details
    for bad in ("A", "Acme", "1acme", "ac me", "a" * 41):
        code, _ = code_of(auth.CreateVendor, auth_pb2.CreateVendorRequest(slug=bad, display_name="x"), metadata=admin)
        assert code == grpc.StatusCode.INVALID_ARGUMENT
    code, _ = code_of(auth.CreateVendor, auth_pb2.CreateVendorRequest(slug="okay", display_name=" "), metadata=admin)
    assert code == grpc.StatusCode.INVALID_ARGUMENT


@pytest.mark.parametrize(
    ("vendor_ref", "scopes", "message"),
    [
        ("acme", ["admin"], "operator tokens"),
        ("acme", ["signals:write"], "deployment tokens"),
        ("acme", ["data:read", "teleport"], "unknown scope teleport"),
        ("acme", [], "at least one scope"),
        ("ghost", ["data:read"], "no vendor 'ghost'"),
    ],
)
def test_token_creation_refuses_bad_requests(auth, admin, vendor, vendor_ref, scopes, message):
    code, details = code_of(
        auth.CreateApiToken, auth_pb2.CreateApiTokenRequest(vendor=vendor_ref, scopes=scopes), metadata=admin
    )
    assert code in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND)
    assert message in details


def test_a_retried_create_returns_the_first_result_and_the_same_secret(auth, admin, vendor):
    request = auth_pb2.CreateApiTokenRequest(request_id="retry-1", vendor="acme", scopes=["data:read"])
    first = auth.CreateApiToken(request, metadata=admin)
    again = auth.CreateApiToken(request, metadata=admin)
    assert (again.token.id, again.secret) == (first.token.id, first.secret)
    assert auth.WhoAmI(WHOAMI, metadata=bearer(again.secret)).token_id == first.token.id
    changed = auth_pb2.CreateApiTokenRequest(request_id="retry-1", vendor="acme", scopes=["catalog:read"])
    code, details = code_of(auth.CreateApiToken, changed, metadata=admin)
    assert code == grpc.StatusCode.ALREADY_EXISTS
    assert "different request" in details


def test_concurrent_retries_of_one_create_make_one_row(server, auth, admin):
    request = auth_pb2.CreateVendorRequest(request_id="same", slug="racer", display_name="Racer")
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: auth.CreateVendor(request, metadata=admin), range(8)))
    assert len({vendor.id for vendor in results}) == 1

    async def count():
        async with server.listening.resources.sessions() as session:
            return await session.scalar(select(func.count()).select_from(Vendor).where(Vendor.slug == "racer"))

    assert server.run_in_loop(count) == 1


def test_lists_are_paginated_and_tokens_bound_to_their_filters(auth, admin):
    for index in range(7):
        auth.CreateVendor(auth_pb2.CreateVendorRequest(slug=f"v{index}", display_name=f"V{index}"), metadata=admin)
    seen, token = [], ""
    while True:
        page = auth.ListVendors(auth_pb2.ListVendorsRequest(page_size=3, page_token=token), metadata=admin)
        seen += [v.slug for v in page.vendors]
        token = page.next_page_token
        if not token:
            break
    assert seen == [f"v{index}" for index in range(7)]
    auth.CreateApiToken(auth_pb2.CreateApiTokenRequest(scopes=["catalog:read"]), metadata=admin)
    first = auth.ListApiTokens(auth_pb2.ListApiTokensRequest(page_size=1), metadata=admin)
    assert first.next_page_token
    code, _ = code_of(
        auth.ListApiTokens,
        auth_pb2.ListApiTokensRequest(page_size=1, page_token=first.next_page_token, vendor="v1"),
        metadata=admin,
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    code, _ = code_of(auth.ListVendors, auth_pb2.ListVendorsRequest(page_size=-1), metadata=admin)
    assert code == grpc.StatusCode.INVALID_ARGUMENT


def test_introspection_answers_in_rfc7662_shape(auth, admin, vendor):
    active = auth.IntrospectToken(auth_pb2.IntrospectTokenRequest(token=vendor.secret), metadata=admin)
    assert active.active
    assert active.sub == vendor.token.id
    assert active.token_type == "api"
    assert active.vendor_slug == "acme"
    assert "data:read" in active.scope.split()
    inactive = auth.IntrospectToken(auth_pb2.IntrospectTokenRequest(token="mpat_nope"), metadata=admin)
    assert not inactive.active
    assert not inactive.sub


def test_a_platform_token_without_vendor_or_admin_is_a_service(auth, admin):
    created = auth.CreateApiToken(
        auth_pb2.CreateApiTokenRequest(scopes=["catalog:read", "signals:read"]), metadata=admin
    )
    principal = auth.WhoAmI(WHOAMI, metadata=bearer(created.secret))
    assert principal.kind == PrincipalKind.PRINCIPAL_KIND_SERVICE
    assert not principal.vendor.id
