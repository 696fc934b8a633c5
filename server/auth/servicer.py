"""AuthService: vendors, API tokens, introspection, whoami. Thin: proto in → domain → proto out."""

from __future__ import annotations

from datetime import timedelta

import grpc
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from marketplace.v1 import auth_pb2, auth_pb2_grpc, common_pb2
from marketplace.v1.options_pb2 import PrincipalKind
from server.auth import rules as accounts
from server.auth import sessions as browser_sessions
from server.auth import store
from server.core.clock import Clock, to_datetime
from server.core.convert import timestamp
from server.core.pagination import read_page
from server.core.principal import Introspector, Principal, require_principal
from server.core.revocation import Revocations
from server.core.tokens import TokenDigester, TokenType, new_token
from server.db.idempotency import create_once
from server.db.models import ApiToken, Vendor


def vendor_proto(vendor: Vendor) -> common_pb2.Vendor:
    return common_pb2.Vendor(
        id=vendor.id, slug=vendor.slug, display_name=vendor.display_name, create_time=timestamp(vendor.created_at)
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


class AuthServicer(auth_pb2_grpc.AuthServiceServicer):
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        digester: TokenDigester,
        introspector: Introspector,
        clock: Clock,
        revocations: Revocations,
    ) -> None:
        self._sessions = sessions
        self._digester = digester
        self._introspector = introspector
        self._clock = clock
        self._revocations = revocations

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

        async def create(session: AsyncSession, seed: bytes) -> auth_pb2.CreateApiTokenResponse:
            secret = new_token(TokenType.API, seed, self._digester.seed_key)
            token, vendor = await accounts.issue_api_token(
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
            return auth_pb2.CreateApiTokenResponse(token=token_proto(token, vendor), secret=secret)

        def restore(response: auth_pb2.CreateApiTokenResponse, seed: bytes) -> None:
            response.secret = new_token(TokenType.API, seed, self._digester.seed_key)

        return await create_once(
            self._sessions,
            principal_id=principal.token_id,
            method="CreateApiToken",
            request=request,
            response_type=auth_pb2.CreateApiTokenResponse,
            create=create,
            clock=self._clock,
            secret_field="secret",
            restore_secret=restore,
        )

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
