"""No token (admin, vendor, deployment) appears in a log line, an error message or a stored row."""

import logging

import grpc
from sqlalchemy import text

from mlmp_marketplace.v1 import auth_pb2
from mlmp_server.core.redaction import RedactingFilter
from mlmp_server.core.tokens import TokenType, new_token
from tests.helpers.auth import bearer, create_vendor_token


def accept(code: str) -> auth_pb2.AcceptInvitationRequest:
    return auth_pb2.AcceptInvitationRequest(code=code, slug="b2", display_name="B")


def test_tokens_never_reach_logs_errors_or_stored_rows(server, auth, admin, caplog):
    caplog.set_level(logging.DEBUG)  # everything, including libraries' debug output
    caplog.handler.addFilter(RedactingFilter())  # as mp-server's own log handler has
    vendor = create_vendor_token(auth, admin, request_id="with-secret")
    forged = new_token(TokenType.API)
    deployment_like = new_token(TokenType.DEPLOYMENT)
    typo = vendor.secret[:-1] + ("x" if vendor.secret[-1] != "x" else "y")
    invitation = auth.CreateInvitation(auth_pb2.CreateInvitationRequest(request_id="invite"), metadata=admin).code
    forged_invitation = new_token(TokenType.INVITATION)
    registered = auth.AcceptInvitation(
        auth_pb2.AcceptInvitationRequest(request_id="accept", code=invitation, slug="newco", display_name="New Co")
    ).secret
    secrets = [server.admin_token, vendor.secret, forged, deployment_like, typo, invitation, forged_invitation,
               registered]  # fmt: skip

    errors: list[str] = []
    calls = [
        lambda: auth.WhoAmI(auth_pb2.WhoAmIRequest(), metadata=bearer(vendor.secret)),
        lambda: auth.ListVendors(auth_pb2.ListVendorsRequest(), metadata=bearer(vendor.secret)),  # denied
        lambda: auth.WhoAmI(auth_pb2.WhoAmIRequest(), metadata=bearer(forged)),
        lambda: auth.WhoAmI(auth_pb2.WhoAmIRequest(), metadata=bearer(deployment_like)),
        lambda: auth.WhoAmI(auth_pb2.WhoAmIRequest(), metadata=bearer(typo)),
        lambda: auth.WhoAmI(auth_pb2.WhoAmIRequest(), metadata=(("authorization", vendor.secret),)),  # no scheme
        lambda: auth.CreateApiToken(auth_pb2.CreateApiTokenRequest(vendor=vendor.secret, scopes=["x"]), metadata=admin),
        lambda: auth.IntrospectToken(auth_pb2.IntrospectTokenRequest(token=forged), metadata=admin),
        lambda: auth.RevokeApiToken(auth_pb2.RevokeApiTokenRequest(token_id=vendor.token.id), metadata=admin),
        lambda: auth.WhoAmI(auth_pb2.WhoAmIRequest(), metadata=bearer(vendor.secret)),  # revoked
        lambda: auth.AcceptInvitation(accept(invitation)),  # used
        lambda: auth.AcceptInvitation(accept(forged_invitation)),  # unknown
        lambda: auth.WhoAmI(auth_pb2.WhoAmIRequest(), metadata=bearer(invitation)),  # no bearer token
        lambda: auth.SuspendVendor(auth_pb2.SuspendVendorRequest(vendor=invitation), metadata=admin),
    ]
    for call in calls:
        try:
            call()
        except grpc.RpcError as error:
            errors.append(f"{error.code()} {error.details()} {error.debug_error_string()}")
    assert len(errors) >= 10

    async def stored_text() -> str:
        async with server.listening.resources.engine.connect() as conn:
            rows = []
            for table in ("audit_events", "api_tokens", "idempotency_records", "marketplace_vendors",
                          "vendor_invitations"):  # fmt: skip
                rows += [repr(tuple(row)) for row in await conn.execute(text(f"SELECT * FROM {table}"))]
            return "\n".join(rows)

    stored = server.run_in_loop(stored_text)
    logged = caplog.text
    assert "mp.access" in {record.name for record in caplog.records}
    for secret in secrets:
        body = secret.partition("_")[2]
        for haystack, where in ((logged, "logs"), ("\n".join(errors), "errors"), (stored, "stored rows")):
            assert body[:20] not in haystack, f"a token leaked into {where}"
