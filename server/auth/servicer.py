"""AuthService: vendors, API tokens, introspection, whoami. Thin: proto in → domain → proto out."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

import grpc
from google.protobuf.message import Message
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mlmp_marketplace.v1 import auth_pb2, auth_pb2_grpc, common_pb2
from mlmp_marketplace.v1.options_pb2 import PrincipalKind
from mlmp_server.auth import rules as accounts
from mlmp_server.auth import sessions as browser_sessions
from mlmp_server.auth import store, vendor_tokens
from mlmp_server.core.clock import Clock, to_datetime
from mlmp_server.core.convert import timestamp
from mlmp_server.core.pagination import read_page
from mlmp_server.core.principal import Introspector, Principal, require_principal
from mlmp_server.core.revocation import Revocations
from mlmp_server.core.tokens import TokenDigester, TokenType, new_token
from mlmp_server.db.idempotency import create_once
from mlmp_server.db.models import ApiToken, Invitation, Vendor


def vendor_proto(vendor: Vendor) -> common_pb2.Vendor:
    return common_pb2.Vendor(
        id=vendor.id,
        slug=vendor.slug,
        display_name=vendor.display_name,
        create_time=timestamp(vendor.created_at),
        suspend_time=timestamp(vendor.suspended_at),
    )


def token_proto(token: ApiToken, vendor: Vendor | None) -> auth_pb2.ApiToken:
    return auth_pb2.ApiToken(
        id=token.id,
        display_name=token.display_name,
        vendor_id=token.vendor_id or "",
        vendor_slug=vendor.slug if vendor else "",
        scopes=token.scopes.split(),
        create_time=timestamp(token.created_at),
        expire_time=timestamp(token.expires_at),
        revoke_time=timestamp(token.revoked_at),
        hint=token.hint,
        parent_token_id=token.parent_token_id or "",
    )


def introspection_response(principal: Principal | None) -> auth_pb2.IntrospectTokenResponse:
    if principal is None:
        return auth_pb2.IntrospectTokenResponse(active=False)
    token_type = {
        PrincipalKind.PRINCIPAL_KIND_DEPLOYMENT: "deployment",
        PrincipalKind.PRINCIPAL_KIND_RUN: "run",
    }.get(principal.kind, "api")
    return auth_pb2.IntrospectTokenResponse(
        active=True,
        scope=" ".join(sorted(principal.scopes)),
        sub=principal.token_id,
        vendor_id=principal.vendor_id,
        vendor_slug=principal.vendor_slug,
        vendor_display_name=principal.vendor_display_name,
        token_type=token_type,
        exp=int(principal.expires_at or 0),
        deployment_id=principal.deployment_id,
        run_id=principal.run_id,
    )


def invitation_proto(invitation: Invitation, vendor: Vendor | None) -> auth_pb2.Invitation:
    return auth_pb2.Invitation(
        id=invitation.id,
        note=invitation.note,
        create_time=timestamp(invitation.created_at),
        expire_time=timestamp(invitation.expires_at),
        accept_time=timestamp(invitation.accepted_at),
        revoke_time=timestamp(invitation.revoked_at),
        vendor_id=invitation.vendor_id or "",
        vendor_slug=vendor.slug if vendor else "",
        hint=invitation.hint,
    )


# The console page an invitee opens; the code goes in the fragment, which no browser sends to a server.
INVITE_PAGE = "/marketplace/invite#"


class AuthServicer(auth_pb2_grpc.AuthServiceServicer):
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        digester: TokenDigester,
        introspector: Introspector,
        clock: Clock,
        revocations: Revocations,
        *,
        public_url: str = "",
    ) -> None:
        self._sessions = sessions
        self._digester = digester
        self._introspector = introspector
        self._clock = clock
        self._revocations = revocations
        self._invite_page = public_url.rstrip("/") + INVITE_PAGE

    async def WhoAmI(self, request: auth_pb2.WhoAmIRequest, context: grpc.aio.ServicerContext) -> auth_pb2.Principal:
        principal = require_principal()
        response = auth_pb2.Principal(
            kind=principal.kind,
            token_id=principal.token_id,
            scopes=sorted(principal.scopes),
            deployment_id=principal.deployment_id,
            run_id=principal.run_id,
        )
        if principal.vendor_id:
            response.vendor.id = principal.vendor_id
            response.vendor.slug = principal.vendor_slug
            response.vendor.display_name = principal.vendor_display_name
        if principal.expires_at is not None:
            response.expire_time.FromSeconds(int(principal.expires_at))
        return response

    async def IntrospectToken(
        self, request: auth_pb2.IntrospectTokenRequest, context: grpc.aio.ServicerContext
    ) -> auth_pb2.IntrospectTokenResponse:
        return introspection_response(await self._introspector.introspect(request.token))

    async def CreateVendor(
        self, request: auth_pb2.CreateVendorRequest, context: grpc.aio.ServicerContext
    ) -> common_pb2.Vendor:
        principal = require_principal()

        async def create(session: AsyncSession, _seed: bytes) -> common_pb2.Vendor:
            vendor = await accounts.create_vendor(
                session,
                slug=request.slug,
                display_name=request.display_name,
                actor=principal.token_id,
                now=to_datetime(self._clock()),
            )
            return vendor_proto(vendor)

        return await create_once(
            self._sessions,
            principal_id=principal.token_id,
            method="CreateVendor",
            request=request,
            response_type=common_pb2.Vendor,
            create=create,
            clock=self._clock,
        )

    async def ListVendors(
        self, request: auth_pb2.ListVendorsRequest, context: grpc.aio.ServicerContext
    ) -> auth_pb2.ListVendorsResponse:
        page = read_page(request.page_size, request.page_token, key=store.VENDOR_KEY)
        async with self._sessions() as session:
            rows = await store.list_vendors(session, page.after, page.size + 1)
        return auth_pb2.ListVendorsResponse(
            vendors=[vendor_proto(v) for v in rows[: page.size]],
            next_page_token=page.next_token(rows, store.vendor_key),
        )

    async def CreateApiToken(
        self, request: auth_pb2.CreateApiTokenRequest, context: grpc.aio.ServicerContext
    ) -> auth_pb2.CreateApiTokenResponse:
        principal = require_principal()
        ttl = request.ttl.ToTimedelta() if request.HasField("ttl") else None

        async def issue(session: AsyncSession, secret: str) -> tuple[ApiToken, Vendor | None]:
            return await accounts.issue_api_token(
                session,
                self._digester,
                secret=secret,
                vendor_ref=request.vendor.strip(),
                scopes=list(request.scopes),
                display_name=request.display_name,
                ttl=ttl if ttl != timedelta(0) else None,
                actor=principal.token_id,
                now=to_datetime(self._clock()),
            )

        return await self._issue_once(principal, "CreateApiToken", request, issue)

    async def ListApiTokens(
        self, request: auth_pb2.ListApiTokensRequest, context: grpc.aio.ServicerContext
    ) -> auth_pb2.ListApiTokensResponse:
        page = read_page(request.page_size, request.page_token, request.vendor, request.include_revoked,
                         key=store.TOKEN_KEY)  # fmt: skip
        async with self._sessions() as session:
            vendor_id = (await accounts.require_vendor(session, request.vendor)).id if request.vendor else None
            rows = await store.list_tokens(session, vendor_id, request.include_revoked, page.after, page.size + 1)
        return auth_pb2.ListApiTokensResponse(
            tokens=[token_proto(t, v) for t, v in rows[: page.size]],
            next_page_token=page.next_token(rows, store.token_key),
        )

    async def RevokeApiToken(
        self, request: auth_pb2.RevokeApiTokenRequest, context: grpc.aio.ServicerContext
    ) -> auth_pb2.ApiToken:
        principal = require_principal()
        async with self._sessions.begin() as session:
            token, vendor, ended_sessions = await accounts.revoke_api_token(
                session, request.token_id.strip(), actor=principal.token_id, now=to_datetime(self._clock())
            )
        return self._revoked(token, vendor, ended_sessions)

    async def ListMyApiTokens(
        self, request: auth_pb2.ListMyApiTokensRequest, context: grpc.aio.ServicerContext
    ) -> auth_pb2.ListApiTokensResponse:
        principal = require_principal()
        page = read_page(request.page_size, request.page_token, request.include_revoked, key=store.TOKEN_KEY)
        async with self._sessions() as session:
            rows = await vendor_tokens.list_own_tokens(
                session, principal, request.include_revoked, page.after, page.size + 1
            )
        return auth_pb2.ListApiTokensResponse(
            tokens=[token_proto(t, v) for t, v in rows[: page.size]],
            next_page_token=page.next_token(rows, store.token_key),
        )

    async def CreateMyApiToken(
        self, request: auth_pb2.CreateMyApiTokenRequest, context: grpc.aio.ServicerContext
    ) -> auth_pb2.CreateApiTokenResponse:
        principal = require_principal()
        ttl = request.ttl.ToTimedelta() if request.HasField("ttl") else None

        async def issue(session: AsyncSession, secret: str) -> tuple[ApiToken, Vendor | None]:
            return await vendor_tokens.issue_own_token(
                session,
                self._digester,
                principal,
                secret=secret,
                scopes=list(request.scopes),
                display_name=request.display_name,
                ttl=ttl,
                now=to_datetime(self._clock()),
            )

        return await self._issue_once(principal, "CreateMyApiToken", request, issue)

    async def RevokeMyApiToken(
        self, request: auth_pb2.RevokeApiTokenRequest, context: grpc.aio.ServicerContext
    ) -> auth_pb2.ApiToken:
        principal = require_principal()
        async with self._sessions.begin() as session:
            token, vendor, ended_sessions = await vendor_tokens.revoke_own_token(
                session, principal, request.token_id.strip(), to_datetime(self._clock())
            )
        return self._revoked(token, vendor, ended_sessions)

    async def _issue_once(
        self,
        principal: Principal,
        method: str,
        request: Message,
        issue: Callable[[AsyncSession, str], Awaitable[tuple[ApiToken, Vendor | None]]],
    ) -> auth_pb2.CreateApiTokenResponse:
        """Issues a token once per request id. The secret comes from the idempotency record's seed, so a
        retry answers with the same secret, rebuilt, never stored."""

        async def create(session: AsyncSession, seed: bytes) -> auth_pb2.CreateApiTokenResponse:
            secret = new_token(TokenType.API, seed, self._digester.seed_key)
            token, vendor = await issue(session, secret)
            return auth_pb2.CreateApiTokenResponse(token=token_proto(token, vendor), secret=secret)

        def restore(response: auth_pb2.CreateApiTokenResponse, seed: bytes) -> None:
            response.secret = new_token(TokenType.API, seed, self._digester.seed_key)

        return await create_once(
            self._sessions,
            principal_id=principal.token_id,
            method=method,
            request=request,
            response_type=auth_pb2.CreateApiTokenResponse,
            create=create,
            clock=self._clock,
            secret_field="secret",
            restore_secret=restore,
        )

    def _revoked(self, token: ApiToken, vendor: Vendor | None, ended_sessions: list[str]) -> auth_pb2.ApiToken:
        for revoked in (token.id, *ended_sessions):
            self._revocations.token_revoked(revoked)  # at once in this process, open streams included
        return token_proto(token, vendor)

    async def CreateSession(
        self, request: auth_pb2.CreateSessionRequest, context: grpc.aio.ServicerContext
    ) -> auth_pb2.CreateSessionResponse:
        principal = require_principal()
        asked = request.ttl.ToTimedelta() if request.HasField("ttl") else None
        secret = new_token(TokenType.API)
        async with self._sessions.begin() as session:
            token, vendor = await browser_sessions.create_session(
                session, self._digester, principal, secret=secret, asked=asked, now=to_datetime(self._clock())
            )
        return auth_pb2.CreateSessionResponse(token=token_proto(token, vendor), secret=secret)

    async def EndSession(
        self, request: auth_pb2.EndSessionRequest, context: grpc.aio.ServicerContext
    ) -> auth_pb2.ApiToken:
        principal = require_principal()
        async with self._sessions.begin() as session:
            token, vendor = await browser_sessions.end_session(session, principal, to_datetime(self._clock()))
        self._revocations.token_revoked(token.id)  # at once in this process, open streams included
        return token_proto(token, vendor)

    async def CreateInvitation(
        self, request: auth_pb2.CreateInvitationRequest, context: grpc.aio.ServicerContext
    ) -> auth_pb2.CreateInvitationResponse:
        principal = require_principal()
        ttl = request.ttl.ToTimedelta() if request.HasField("ttl") else None

        def secret(response: auth_pb2.CreateInvitationResponse, seed: bytes) -> None:
            response.code = new_token(TokenType.INVITATION, seed, self._digester.seed_key)
            response.url = self._invite_page + response.code

        async def create(session: AsyncSession, seed: bytes) -> auth_pb2.CreateInvitationResponse:
            response = auth_pb2.CreateInvitationResponse()
            secret(response, seed)
            invitation = await accounts.create_invitation(
                session, self._digester, code=response.code, ttl=ttl, note=request.note, actor=principal.token_id,
                now=to_datetime(self._clock()),
            )  # fmt: skip
            response.invitation.CopyFrom(invitation_proto(invitation, None))
            return response

        return await create_once(
            self._sessions,
            principal_id=principal.token_id,
            method="CreateInvitation",
            request=request,
            response_type=auth_pb2.CreateInvitationResponse,
            create=create,
            clock=self._clock,
            secret_field=("code", "url"),  # the link holds the code
            restore_secret=secret,
        )

    async def ListInvitations(
        self, request: auth_pb2.ListInvitationsRequest, context: grpc.aio.ServicerContext
    ) -> auth_pb2.ListInvitationsResponse:
        page = read_page(request.page_size, request.page_token, request.include_closed, key=store.INVITATION_KEY)
        open_at = None if request.include_closed else to_datetime(self._clock())
        async with self._sessions() as session:
            rows = await store.list_invitations(session, open_at, page.after, page.size + 1)
        return auth_pb2.ListInvitationsResponse(
            invitations=[invitation_proto(i, v) for i, v in rows[: page.size]],
            next_page_token=page.next_token(rows, store.invitation_key),
        )

    async def RevokeInvitation(
        self, request: auth_pb2.RevokeInvitationRequest, context: grpc.aio.ServicerContext
    ) -> auth_pb2.Invitation:
        principal = require_principal()
        async with self._sessions.begin() as session:
            invitation = await accounts.revoke_invitation(
                session, request.invitation_id.strip(), actor=principal.token_id, now=to_datetime(self._clock())
            )
        return invitation_proto(invitation, None)

    async def AcceptInvitation(
        self, request: auth_pb2.AcceptInvitationRequest, context: grpc.aio.ServicerContext
    ) -> auth_pb2.AcceptInvitationResponse:
        async def create(session: AsyncSession, seed: bytes) -> auth_pb2.AcceptInvitationResponse:
            secret = new_token(TokenType.API, seed, self._digester.seed_key)
            _invitation, vendor, token = await accounts.accept_invitation(
                session, self._digester, code=request.code, slug=request.slug, display_name=request.display_name,
                secret=secret, now=to_datetime(self._clock()),
            )  # fmt: skip
            return auth_pb2.AcceptInvitationResponse(
                vendor=vendor_proto(vendor), token=token_proto(token, vendor), secret=secret
            )

        def restore(response: auth_pb2.AcceptInvitationResponse, seed: bytes) -> None:
            response.secret = new_token(TokenType.API, seed, self._digester.seed_key)

        return await create_once(
            self._sessions,
            principal_id=accounts.invitation_key(self._digester, request.code.strip()),
            method="AcceptInvitation",
            request=request,
            response_type=auth_pb2.AcceptInvitationResponse,
            create=create,
            clock=self._clock,
            secret_field="secret",
            restore_secret=restore,
        )

    async def SuspendVendor(
        self, request: auth_pb2.SuspendVendorRequest, context: grpc.aio.ServicerContext
    ) -> common_pb2.Vendor:
        principal = require_principal()
        async with self._sessions.begin() as session:
            vendor, _ = await accounts.suspend_vendor(
                session, request.vendor.strip(), actor=principal.token_id, now=to_datetime(self._clock())
            )
        # After the commit, and on a retry too: cached answers go and open streams end at once.
        self._revocations.vendor_suspended(vendor.id)
        return vendor_proto(vendor)

    async def ResumeVendor(
        self, request: auth_pb2.ResumeVendorRequest, context: grpc.aio.ServicerContext
    ) -> common_pb2.Vendor:
        principal = require_principal()
        async with self._sessions.begin() as session:
            vendor = await accounts.resume_vendor(
                session, request.vendor.strip(), actor=principal.token_id, now=to_datetime(self._clock())
            )
        self._revocations.vendor_resumed()
        return vendor_proto(vendor)
