"""A vendor's own tokens (ListMyApiTokens, CreateMyApiToken, RevokeMyApiToken) through a real server,
SQLite and PostgreSQL: no escalation, no reach into another vendor, revocation at once."""

from __future__ import annotations

import time

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration

from mlmp_marketplace.v1 import auth_pb2, deployments_pb2, deployments_pb2_grpc, signals_pb2, signals_pb2_grpc
from mlmp_marketplace.v1.options_pb2 import PrincipalKind
from tests.helpers.auth import bearer, create_vendor_token

Code = grpc.StatusCode
MANAGER = ("catalog:read", "data:read", "deploy:write", "tokens:write")
DAY = 86400


def refused(call, request, metadata) -> tuple[Code, str]:
    with pytest.raises(grpc.RpcError) as caught:
        call(request, metadata=metadata)
    return caught.value.code(), caught.value.details()


def create(auth, metadata, scopes=("catalog:read",), **fields) -> auth_pb2.CreateApiTokenResponse:
    return auth.CreateMyApiToken(auth_pb2.CreateMyApiTokenRequest(scopes=list(scopes), **fields), metadata=metadata)


@pytest.fixture
def manager(auth, admin) -> auth_pb2.CreateApiTokenResponse:
    """acme's token that may manage acme's tokens."""
    return create_vendor_token(auth, admin, "acme", MANAGER)


def test_a_vendor_creates_a_token_with_a_subset_of_its_scopes_uses_it_and_revokes_it(auth, manager):
    made = create(auth, bearer(manager.secret), ("catalog:read", "data:read"), display_name="ci")
    assert made.secret.startswith("mpat_")
    assert made.token.vendor_slug == "acme"
    assert sorted(made.token.scopes) == ["catalog:read", "data:read"]
    assert made.token.parent_token_id == ""  # a token of its own, not a session
    who = auth.WhoAmI(auth_pb2.WhoAmIRequest(), metadata=bearer(made.secret))
    assert who.kind == PrincipalKind.PRINCIPAL_KIND_VENDOR
    assert who.vendor.slug == "acme"
    listed = auth.ListMyApiTokens(auth_pb2.ListMyApiTokensRequest(), metadata=bearer(manager.secret))
    assert {t.id for t in listed.tokens} == {manager.token.id, made.token.id}
    assert all(t.hint and "secret" not in str(t) for t in listed.tokens)
    revoked = auth.RevokeMyApiToken(
        auth_pb2.RevokeApiTokenRequest(token_id=made.token.id), metadata=bearer(manager.secret)
    )
    assert revoked.HasField("revoke_time")
    code, _ = refused(auth.WhoAmI, auth_pb2.WhoAmIRequest(), bearer(made.secret))
    assert code == Code.UNAUTHENTICATED  # at once: the introspection cache forgot it
    listed = auth.ListMyApiTokens(auth_pb2.ListMyApiTokensRequest(), metadata=bearer(manager.secret))
    assert made.token.id not in {t.id for t in listed.tokens}
    everything = auth.ListMyApiTokens(
        auth_pb2.ListMyApiTokensRequest(include_revoked=True), metadata=bearer(manager.secret)
    )
    assert made.token.id in {t.id for t in everything.tokens}


ESCALATIONS = [
    (["admin"], Code.INVALID_ARGUMENT, "admin scope is for operator tokens"),
    (["signals:read"], Code.PERMISSION_DENIED, "cannot give the scope signals:read"),
    (["training:write"], Code.PERMISSION_DENIED, "cannot give the scope training:write"),
    (["catalog:read", "auth:introspect"], Code.PERMISSION_DENIED, "cannot give the scope auth:introspect"),
    (["data:write"], Code.INVALID_ARGUMENT, "unknown scope data:write"),
    ([], Code.INVALID_ARGUMENT, "scopes"),
]

# The tests below check several cases each against one server: a server start (and on PostgreSQL a fresh,
# migrated database) costs more than the calls, and the fast suite is near its time budget.


def test_a_vendor_never_gives_a_scope_it_lacks(auth, manager):
    for scopes, code, message in ESCALATIONS:
        got, details = refused(
            auth.CreateMyApiToken, auth_pb2.CreateMyApiTokenRequest(scopes=scopes), bearer(manager.secret)
        )
        assert (got, message in details) == (code, True), (scopes, details)
    listed = auth.ListMyApiTokens(auth_pb2.ListMyApiTokensRequest(), metadata=bearer(manager.secret))
    assert [t.id for t in listed.tokens] == [manager.token.id]  # nothing was made
    narrower = create(auth, bearer(manager.secret), ("deploy:read",))  # x:write gives x:read
    assert list(narrower.token.scopes) == ["deploy:read"]


def test_lifetimes_are_bounded_and_never_past_the_calling_token(auth, admin, manager):
    for seconds in (59, 366 * DAY, -1):
        request = auth_pb2.CreateMyApiTokenRequest(scopes=["catalog:read"], ttl=Duration(seconds=seconds))
        code, details = refused(auth.CreateMyApiToken, request, bearer(manager.secret))
        assert (code, "ttl" in details) == (Code.INVALID_ARGUMENT, True), seconds
    default = create(auth, bearer(manager.secret))
    assert default.token.expire_time.seconds - default.token.create_time.seconds == 90 * DAY
    year = create(auth, bearer(manager.secret), ttl=Duration(seconds=365 * DAY))
    assert year.token.expire_time.seconds - year.token.create_time.seconds == 365 * DAY

    short = create_vendor_token(auth, admin, "acme", MANAGER, ttl=Duration(seconds=2 * DAY))
    longer = auth_pb2.CreateMyApiTokenRequest(scopes=["catalog:read"], ttl=Duration(seconds=3 * DAY))
    code, details = refused(auth.CreateMyApiToken, longer, bearer(short.secret))
    assert (code, "cannot outlive it" in details) == (Code.INVALID_ARGUMENT, True)
    capped = create(auth, bearer(short.secret))  # unset: shrinks to what the maker has left
    assert capped.token.expire_time.seconds <= short.token.expire_time.seconds

    session = auth.CreateSession(auth_pb2.CreateSessionRequest(), metadata=bearer(manager.secret))
    assert session.token.parent_token_id == manager.token.id
    made = create(auth, bearer(session.secret), ("catalog:read",))
    assert made.token.expire_time.seconds <= session.token.expire_time.seconds  # dies with the session
    month = auth_pb2.CreateMyApiTokenRequest(scopes=["catalog:read"], ttl=Duration(seconds=30 * DAY))
    code, details = refused(auth.CreateMyApiToken, month, bearer(session.secret))
    assert (code, "cannot outlive it" in details) == (Code.INVALID_ARGUMENT, True)


def test_another_vendors_token_is_not_found_never_permission_denied(auth, admin, manager):
    other = create_vendor_token(auth, admin, "other", MANAGER)
    theirs = create(auth, bearer(other.secret))
    request = auth_pb2.RevokeApiTokenRequest(token_id=theirs.token.id)
    foreign = refused(auth.RevokeMyApiToken, request, bearer(manager.secret))
    unknown = refused(auth.RevokeMyApiToken, auth_pb2.RevokeApiTokenRequest(token_id="tok_nope"),
                      bearer(manager.secret))  # fmt: skip
    assert foreign[0] == unknown[0] == Code.NOT_FOUND
    assert foreign[1] == unknown[1].replace("tok_nope", theirs.token.id)  # indistinguishable from none
    operator = auth.WhoAmI(auth_pb2.WhoAmIRequest(), metadata=admin).token_id
    code, _ = refused(auth.RevokeMyApiToken, auth_pb2.RevokeApiTokenRequest(token_id=operator),
                      bearer(manager.secret))  # fmt: skip
    assert code == Code.NOT_FOUND
    listed = auth.ListMyApiTokens(auth_pb2.ListMyApiTokensRequest(), metadata=bearer(manager.secret))
    assert {t.vendor_slug for t in listed.tokens} == {"acme"}
    auth.WhoAmI(auth_pb2.WhoAmIRequest(), metadata=bearer(theirs.secret))  # still alive


def test_only_vendor_tokens_with_the_tokens_scope_manage_tokens_and_never_themselves(channel, auth, admin, manager):
    lacking = create_vendor_token(auth, admin, "acme", ("catalog:read", "deploy:write"))
    for call, request in (
        (auth.ListMyApiTokens, auth_pb2.ListMyApiTokensRequest()),
        (auth.CreateMyApiToken, auth_pb2.CreateMyApiTokenRequest(scopes=["catalog:read"])),
        (auth.RevokeMyApiToken, auth_pb2.RevokeApiTokenRequest(token_id=manager.token.id)),
    ):
        code, details = refused(call, request, bearer(lacking.secret))
        assert (code, "tokens:" in details) == (Code.PERMISSION_DENIED, True), details
    deployments = deployments_pb2_grpc.DeploymentServiceStub(channel)
    deployment = deployments.CreateDeployment(
        deployments_pb2.CreateDeploymentRequest(provider="local"), metadata=bearer(manager.secret)
    )
    for metadata in (bearer(deployment.token), admin):
        code, details = refused(auth.ListMyApiTokens, auth_pb2.ListMyApiTokensRequest(), metadata)
        assert (code, "cannot call ListMyApiTokens" in details) == (Code.PERMISSION_DENIED, True)
    code, details = refused(
        auth.RevokeMyApiToken, auth_pb2.RevokeApiTokenRequest(token_id=manager.token.id), bearer(manager.secret)
    )
    assert (code, "cannot revoke itself" in details) == (Code.FAILED_PRECONDITION, True)


def test_a_retried_create_answers_with_the_first_token_and_secret_and_lists_page(auth, manager):
    first = create(auth, bearer(manager.secret), request_id="r-1")
    again = create(auth, bearer(manager.secret), request_id="r-1")
    assert (again.token.id, again.secret) == (first.token.id, first.secret)
    listed = auth.ListMyApiTokens(auth_pb2.ListMyApiTokensRequest(), metadata=bearer(manager.secret))
    assert len(listed.tokens) == 2  # the manager and one new token
    changed = auth_pb2.CreateMyApiTokenRequest(request_id="r-1", scopes=["data:read"])
    code, _ = refused(auth.CreateMyApiToken, changed, bearer(manager.secret))
    assert code == Code.ALREADY_EXISTS
    for _ in range(3):
        create(auth, bearer(manager.secret))
    seen: list[str] = []
    request = auth_pb2.ListMyApiTokensRequest(page_size=2)
    while True:
        page = auth.ListMyApiTokens(request, metadata=bearer(manager.secret))
        assert len(page.tokens) <= 2
        seen += [t.id for t in page.tokens]
        if not page.next_page_token:
            break
        request.page_token = page.next_page_token
    assert len(seen) == len(set(seen)) == 5


def test_revoking_a_token_ends_its_sessions_and_their_open_streams_at_once(channel, auth, admin):
    boss = create_vendor_token(auth, admin, "acme", ("signals:read", "tokens:write"))
    made = create(auth, bearer(boss.secret), ("signals:read", "tokens:write"))
    session = auth.CreateSession(auth_pb2.CreateSessionRequest(), metadata=bearer(made.secret))
    nested = auth.CreateSession(auth_pb2.CreateSessionRequest(), metadata=bearer(session.secret))
    assert nested.token.parent_token_id == session.token.id
    auth.WhoAmI(auth_pb2.WhoAmIRequest(), metadata=bearer(nested.secret))  # cached from here on
    signals = signals_pb2_grpc.SignalServiceStub(channel)
    streams = [
        signals.SubscribeSignals(signals_pb2.SubscribeSignalsRequest(), metadata=bearer(secret), timeout=30)
        for secret in (made.secret, nested.secret)
    ]
    for stream in streams:
        stream.initial_metadata()  # subscribed
    auth.RevokeMyApiToken(auth_pb2.RevokeApiTokenRequest(token_id=made.token.id), metadata=bearer(boss.secret))
    revoked = time.monotonic()
    for stream in streams:
        while not stream.done():
            assert time.monotonic() - revoked < 5, "a stream was still open 5 s after the revocation"
            time.sleep(0.01)
        assert stream.code() == Code.UNAUTHENTICATED
    for secret in (made.secret, session.secret, nested.secret):
        code, _ = refused(auth.WhoAmI, auth_pb2.WhoAmIRequest(), bearer(secret))
        assert code == Code.UNAUTHENTICATED
    listed = auth.ListMyApiTokens(auth_pb2.ListMyApiTokensRequest(include_revoked=True),
                                  metadata=bearer(boss.secret))  # fmt: skip
    parents = {t.id: t.parent_token_id for t in listed.tokens}
    assert parents[session.token.id] == made.token.id
    assert parents[nested.token.id] == session.token.id
