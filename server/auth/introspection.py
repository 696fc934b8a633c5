"""Introspection against the local database: a token's digest → its principal, if active."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mlmp_marketplace.v1.options_pb2 import PrincipalKind
from mlmp_server.auth import store as api_tokens
from mlmp_server.auth.rules import scopes_of_kind
from mlmp_server.core.clock import Clock, system_clock
from mlmp_server.core.principal import Principal, api_token_kind
from mlmp_server.core.tokens import TokenDigester, TokenType, token_type_of
from mlmp_server.db.models import ApiToken, Deployment, DeploymentToken, RunToken, TrainingRun, Vendor
from mlmp_server.training.rules import TERMINAL


def api_token_principal(token: ApiToken, vendor: Vendor | None) -> Principal:
    scopes = frozenset(token.scopes.split())
    return Principal(
        token_id=token.id,
        kind=api_token_kind(vendor is not None, scopes),
        scopes=scopes,
        vendor_id=vendor.id if vendor else "",
        vendor_slug=vendor.slug if vendor else "",
        vendor_display_name=vendor.display_name if vendor else "",
        expires_at=token.expires_at.timestamp() if token.expires_at else None,
    )


def _suspended(vendor: Vendor | None) -> bool:
    """Every token of a suspended vendor is refused: API tokens, sessions, deployment and run tokens."""
    return vendor is not None and vendor.suspended_at is not None


def _deployment_active(token: DeploymentToken, deployment: Deployment, vendor: Vendor) -> bool:
    return token.revoked_at is None and deployment.deleted_at is None and not _suspended(vendor)


_TABLE_OF = {
    PrincipalKind.PRINCIPAL_KIND_DEPLOYMENT: "deployment",
    PrincipalKind.PRINCIPAL_KIND_RUN: "run",
}  # every other kind is an API token's


class DatabaseIntrospector:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], digester: TokenDigester, clock: Clock = system_clock
    ):
        self._sessions = sessions
        self._digester = digester
        self._clock = clock

    async def introspect(self, token: str) -> Principal | None:
        token_type = token_type_of(token)
        if token_type is None or token_type is TokenType.INVITATION:
            return None  # malformed or mistyped, or an invitation code (no bearer token): no database look-up
        digest = self._digester.digest(token)
        async with self._sessions() as session:
            if token_type is TokenType.API:
                return await self._api_principal(session, digest)
            if token_type is TokenType.DEPLOYMENT:
                return await self._deployment_principal(session, digest)
            return await self._run_principal(session, digest)

    async def still_valid(self, principals: Iterable[Principal]) -> set[str]:
        """The token ids among these principals' that introspection would still accept (by id: the open
        streams keep no token), for re-checking open streams after revocations may have been missed."""
        ids: dict[str, set[str]] = {"api": set(), "deployment": set(), "run": set()}
        for principal in principals:
            ids[_TABLE_OF.get(principal.kind, "api")].add(principal.token_id)
        async with self._sessions() as session:
            api, deployment, run = await api_tokens.tokens_by_id(
                session, sorted(ids["api"]), sorted(ids["deployment"]), sorted(ids["run"])
            )
        return (
            {token.id for token, vendor in api if self._api_active(token, vendor)}
            | {token.id for token, placed, vendor in deployment if _deployment_active(token, placed, vendor)}
            | {token.id for token, run_row, vendor in run if self._run_active(token, run_row, vendor)}
        )

    def _api_active(self, token: ApiToken, vendor: Vendor | None) -> bool:
        if token.revoked_at is not None or _suspended(vendor):
            return False
        return token.expires_at is None or token.expires_at.timestamp() > self._clock()

    def _run_active(self, token: RunToken, run: TrainingRun, vendor: Vendor) -> bool:
        # A run token dies with its run.
        return run.state not in TERMINAL and token.expires_at.timestamp() > self._clock() and not _suspended(vendor)

    async def _api_principal(self, session: AsyncSession, digest: str) -> Principal | None:
        found = await api_tokens.find_by_digest(session, digest)
        if found is None:
            return None
        token, vendor = found
        if not self._api_active(token, vendor):
            return None
        return api_token_principal(token, vendor)

    async def _run_principal(self, session: AsyncSession, digest: str) -> Principal | None:
        found = await api_tokens.find_run_token(session, digest)
        if found is None:
            return None
        token, run, vendor = found
        if not self._run_active(token, run, vendor):
            return None
        return Principal(
            token_id=token.id,
            kind=PrincipalKind.PRINCIPAL_KIND_RUN,
            scopes=scopes_of_kind(PrincipalKind.PRINCIPAL_KIND_RUN),  # a remote trainer reads its round too
            vendor_id=vendor.id,
            vendor_slug=vendor.slug,
            vendor_display_name=vendor.display_name,
            run_id=run.id,
            expires_at=token.expires_at.timestamp(),
        )

    async def _deployment_principal(self, session: AsyncSession, digest: str) -> Principal | None:
        found = await api_tokens.find_deployment_token(session, digest)
        if found is None:
            return None
        token, deployment, vendor = found
        if not _deployment_active(token, deployment, vendor):
            return None
        return Principal(
            token_id=token.id,
            kind=PrincipalKind.PRINCIPAL_KIND_DEPLOYMENT,
            # A deployed model reads the round it signals for, and its own run's model (CreateArtifactUrl).
            scopes=scopes_of_kind(PrincipalKind.PRINCIPAL_KIND_DEPLOYMENT),
            vendor_id=vendor.id,
            vendor_slug=vendor.slug,
            vendor_display_name=vendor.display_name,
            deployment_id=deployment.id,
            run_id=deployment.run_id or "",
        )
