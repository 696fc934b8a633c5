"""Registration by invitation through a real server, SQLite and PostgreSQL: an operator's single-use,
expiring code; the invitee registers the vendor and gets its first token; nobody else gets anything."""

from __future__ import annotations

import dataclasses
import time
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration
from sqlalchemy import select

from mlmp_marketplace.v1 import auth_pb2, auth_pb2_grpc
from mlmp_marketplace.v1.options_pb2 import PrincipalKind
from mlmp_server.core.buckets import RateLimit
from mlmp_server.core.clock import ManualClock
from mlmp_server.core.tokens import TokenType, new_token
from mlmp_server.db.models import AuditEvent, IdempotencyRecord, Invitation, Vendor
from tests.helpers.auth import bearer, create_vendor_token
from tests.helpers.server_thread import ServerThread

WHOAMI = auth_pb2.WhoAmIRequest()


def code_of(call, *args, **kwargs) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as caught:
        call(*args, **kwargs)
    return caught.value.code(), caught.value.details()


def invite(auth, admin, **fields) -> auth_pb2.CreateInvitationResponse:
    return auth.CreateInvitation(auth_pb2.CreateInvitationRequest(**fields), metadata=admin)


def accept(code: str, slug: str = "newco", display_name: str = "New Co", **fields) -> auth_pb2.AcceptInvitationRequest:
    return auth_pb2.AcceptInvitationRequest(code=code, slug=slug, display_name=display_name, **fields)


def test_an_invitation_registers_the_vendor_and_gives_it_a_first_token(server, auth, admin):
    invitation = invite(auth, admin, note="for New Co")
    assert invitation.code.startswith("mpiv_")
    assert invitation.url == f"{server.http_url}/marketplace/invite#{invitation.code}"
    assert invitation.invitation.id.startswith("inv_")
    assert invitation.invitation.expire_time.seconds - invitation.invitation.create_time.seconds == 7 * 86400

    registered = auth.AcceptInvitation(accept(invitation.code))  # no token: the code is the credential
    assert (registered.vendor.slug, registered.vendor.display_name) == ("newco", "New Co")
    principal = auth.WhoAmI(WHOAMI, metadata=bearer(registered.secret))
    assert principal.kind == PrincipalKind.PRINCIPAL_KIND_VENDOR
    assert principal.vendor.slug == "newco"
    assert set(principal.scopes) == {"catalog:read", "data:read", "deploy:write", "signals:read", "training:write"}

    assert auth.ListInvitations(auth_pb2.ListInvitationsRequest(), metadata=admin).invitations == []
    (listed,) = auth.ListInvitations(auth_pb2.ListInvitationsRequest(include_closed=True), metadata=admin).invitations
    assert (listed.id, listed.vendor_slug, listed.note) == (invitation.invitation.id, "newco", "for New Co")
    assert listed.HasField("accept_time")
    assert listed.hint == f"mpiv_…{invitation.code[-4:]}"


def test_an_invitation_works_once(auth, admin):
    invitation = invite(auth, admin)
    auth.AcceptInvitation(accept(invitation.code))
    code, details = code_of(auth.AcceptInvitation, accept(invitation.code, slug="second"))
    assert code == grpc.StatusCode.FAILED_PRECONDITION
    assert details == "this invitation link is not valid: it was already used; ask the operator for a new one"
    assert "newco" not in details


def test_two_concurrent_accepts_register_one_vendor(server, auth, admin):
    invitation = invite(auth, admin)
    slugs = [f"racer-{n}" for n in range(6)]

    def attempt(slug: str):
        try:
            return auth.AcceptInvitation(accept(invitation.code, slug=slug))
        except grpc.RpcError as error:
            return error.code()

    with ThreadPoolExecutor(len(slugs)) as pool:
        outcomes = list(pool.map(attempt, slugs))
    won = [outcome for outcome in outcomes if isinstance(outcome, auth_pb2.AcceptInvitationResponse)]
    assert len(won) == 1, outcomes
    assert sorted(str(o) for o in outcomes if o not in won) == [str(grpc.StatusCode.FAILED_PRECONDITION)] * 5

    async def registered() -> list[str]:
        async with server.listening.resources.sessions() as session:
            return list(await session.scalars(select(Vendor.slug).where(Vendor.slug.like("racer-%"))))

    assert server.run_in_loop(registered) == [won[0].vendor.slug]


def test_an_unknown_code_is_not_found_and_says_nothing_of_slugs(auth, admin, vendor):
    codes = [
        new_token(TokenType.INVITATION),  # well formed, never issued
        new_token(TokenType.API),  # a bearer token is no invitation
        "mpiv_short",
    ]
    for code in codes:
        # `acme` exists (the vendor fixture): the answer is the same as for a free slug.
        for slug in ("acme", "free-slug"):
            status, details = code_of(auth.AcceptInvitation, accept(code, slug=slug))
            assert status == grpc.StatusCode.NOT_FOUND, code
            assert details == "this invitation link is not valid: check that the whole link was copied"


def test_a_taken_slug_is_refused_and_the_invitation_stays_usable(auth, admin, vendor):
    invitation = invite(auth, admin)
    status, details = code_of(auth.AcceptInvitation, accept(invitation.code, slug="acme"))
    assert status == grpc.StatusCode.ALREADY_EXISTS
    assert "acme" in details
    assert auth.AcceptInvitation(accept(invitation.code, slug="acme-two")).vendor.slug == "acme-two"


def test_a_revoked_invitation_is_refused(auth, admin):
    invitation = invite(auth, admin)
    revoked = auth.RevokeInvitation(
        auth_pb2.RevokeInvitationRequest(invitation_id=invitation.invitation.id), metadata=admin
    )
    assert revoked.HasField("revoke_time")
    status, details = code_of(auth.AcceptInvitation, accept(invitation.code))
    assert status == grpc.StatusCode.FAILED_PRECONDITION
    assert "withdrew" in details
    status, _ = code_of(
        auth.RevokeInvitation, auth_pb2.RevokeInvitationRequest(invitation_id=invitation.invitation.id), metadata=admin
    )
    assert status == grpc.StatusCode.FAILED_PRECONDITION
    status, _ = code_of(auth.RevokeInvitation, auth_pb2.RevokeInvitationRequest(invitation_id="inv_x"), metadata=admin)
    assert status == grpc.StatusCode.NOT_FOUND


def test_an_invitation_expires(settings):
    clock = ManualClock(start=time.time())
    server = ServerThread(settings, clock=clock).start()
    try:
        with grpc.insecure_channel(server.grpc_target) as channel:
            auth = auth_pb2_grpc.AuthServiceStub(channel)
            admin = bearer(server.admin_token)
            invitation = invite(auth, admin, ttl=Duration(seconds=120))
            clock.advance(121)
            status, details = code_of(auth.AcceptInvitation, accept(invitation.code))
            assert status == grpc.StatusCode.FAILED_PRECONDITION
            assert "expired at" in details
            listed = auth.ListInvitations(auth_pb2.ListInvitationsRequest(), metadata=admin)
            assert listed.invitations == []  # open ones only
    finally:
        server.stop()


def test_an_invitation_lifetime_out_of_range_is_refused(auth, admin):
    for seconds in (59, 30 * 86400 + 1, -60):
        request = auth_pb2.CreateInvitationRequest(ttl=Duration(seconds=seconds))
        status, details = code_of(auth.CreateInvitation, request, metadata=admin)
        assert status == grpc.StatusCode.INVALID_ARGUMENT, seconds
        assert "ttl" in details


def test_only_operators_invite_suspend_or_list(auth, vendor):
    acme = bearer(vendor.secret)
    for call, request in (
        (auth.CreateInvitation, auth_pb2.CreateInvitationRequest()),
        (auth.ListInvitations, auth_pb2.ListInvitationsRequest()),
        (auth.SuspendVendor, auth_pb2.SuspendVendorRequest(vendor="acme")),
        (auth.ResumeVendor, auth_pb2.ResumeVendorRequest(vendor="acme")),
    ):
        assert code_of(call, request, metadata=acme)[0] == grpc.StatusCode.PERMISSION_DENIED
        assert code_of(call, request)[0] == grpc.StatusCode.UNAUTHENTICATED


def test_retries_with_the_same_request_id_return_the_first_answer(auth, admin):
    first = invite(auth, admin, request_id="inv-1")
    again = invite(auth, admin, request_id="inv-1")
    assert (again.code, again.url, again.invitation.id) == (first.code, first.url, first.invitation.id)

    registered = auth.AcceptInvitation(accept(first.code, request_id="acc-1"))
    retried = auth.AcceptInvitation(accept(first.code, request_id="acc-1"))  # the answer was lost on the way
    assert (retried.secret, retried.vendor.id) == (registered.secret, registered.vendor.id)
    assert auth.WhoAmI(WHOAMI, metadata=bearer(retried.secret)).vendor.slug == "newco"
    status, _ = code_of(auth.AcceptInvitation, accept(first.code, slug="other", request_id="acc-1"))
    assert status == grpc.StatusCode.ALREADY_EXISTS  # the same id for another request


def test_the_code_is_stored_nowhere_and_refused_in_other_fields(server, auth, admin):
    invitation = invite(auth, admin, request_id="inv-1")
    auth.AcceptInvitation(accept(invitation.code, request_id="acc-1"))

    async def stored() -> str:
        async with server.listening.resources.sessions() as session:
            rows = [*await session.scalars(select(Invitation)), *await session.scalars(select(IdempotencyRecord)),
                    *await session.scalars(select(AuditEvent))]  # fmt: skip
            return " ".join(
                repr({column: getattr(row, column) for column in type(row).__table__.columns.keys()}) for row in rows
            )

    text = server.run_in_loop(stored)
    assert "inv-1" in text  # the records are there
    for action in ("invitation.create", "invitation.accept", "vendor.create", "token.create"):
        assert f"'action': '{action}'" in text, action  # audited
    secret_part = invitation.code.removeprefix("mpiv_")
    assert secret_part not in text
    assert secret_part.encode() not in text.encode()
    status, details = code_of(
        auth.CreateVendor, auth_pb2.CreateVendorRequest(slug="x1", display_name=invitation.code), metadata=admin
    )
    assert status == grpc.StatusCode.INVALID_ARGUMENT
    assert "looks like" in details
    assert secret_part not in details


def test_anonymous_accepts_share_one_rate_limit(settings):
    limited = dataclasses.replace(settings, rate_limits={**settings.rate_limits, "write": RateLimit(0.01, 3)})
    server = ServerThread(limited).start()
    try:
        with grpc.insecure_channel(server.grpc_target) as channel:
            auth = auth_pb2_grpc.AuthServiceStub(channel)
            code = new_token(TokenType.INVITATION)
            statuses = [code_of(auth.AcceptInvitation, accept(code))[0] for _ in range(4)]
            assert statuses == [grpc.StatusCode.NOT_FOUND] * 3 + [grpc.StatusCode.RESOURCE_EXHAUSTED]
            # Operators are never limited, and a vendor's own bucket is its own.
            invite(auth, bearer(server.admin_token))
            create_vendor_token(auth, bearer(server.admin_token))
    finally:
        server.stop()
