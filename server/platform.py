"""The platform's shared parts, opened once per process: database, keys, introspection."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from interceptors.introspection import CachingIntrospector, Introspector, RemoteIntrospector
from server.auth import rules as accounts
from server.auth.introspection import DatabaseIntrospector
from server.blobs.local import BlobStore, LocalBlobStore
from server.blobs.s3 import S3BlobStore
from server.blobs.signing import UrlSigner, derived_signing_key, parse_signing_keys
from server.core.clock import Clock, system_clock, to_datetime
from server.core.streams import OpenStreams
from server.core.tokens import TokenDigester, TokenType, new_token
from server.datasets.round_cache import RoundCache
from server.db.engine import create_engine, ensure_schema_current, migrate, session_factory
from server.db.models import ApiToken
from server.keys import load_secret_key
from server.settings import Settings
from server.signals.hub import SignalHub


@dataclass
class Platform:
    settings: Settings
    clock: Clock
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    digester: TokenDigester
    introspector: CachingIntrospector
    blobs: BlobStore
    signer: UrlSigner
    rounds: RoundCache
    hub: SignalHub
    remote_introspector: RemoteIntrospector | None = None
    streams: OpenStreams = field(default_factory=OpenStreams)  # ended at shutdown and on revocation

    async def close(self) -> None:
        if self.remote_introspector is not None:
            await self.remote_introspector.aclose()
        await self.engine.dispose()


async def open_platform(settings: Settings, clock: Clock = system_clock) -> Platform:
    engine = create_engine(settings.database_url)
    try:
        if settings.uses_default_database:
            await migrate(engine)  # the embedded default keeps itself current
        else:
            await ensure_schema_current(engine, settings.database_url)
    except BaseException:
        await engine.dispose()
        raise
    sessions = session_factory(engine)
    secret_key = load_secret_key(settings)
    digester = TokenDigester(secret_key)
    signing_keys = (
        parse_signing_keys(settings.signing_keys) if settings.signing_keys else [derived_signing_key(secret_key)]
    )
    remote = (
        RemoteIntrospector(settings.introspection_url, settings.introspection_token)
        if settings.introspection_url
        else None
    )
    source: Introspector = remote or DatabaseIntrospector(sessions, digester, clock)
    introspector = CachingIntrospector(
        source, ttl=settings.introspection_ttl, negative_ttl=settings.introspection_negative_ttl, clock=clock
    )
    blobs: BlobStore = LocalBlobStore(settings.data_dir / "blobs")
    if settings.s3 is not None:
        blobs = S3BlobStore(staging=settings.data_dir / "blobs-staging", **vars(settings.s3))
    return Platform(
        settings, clock, engine, sessions, digester, introspector, blobs, UrlSigner(signing_keys, clock),
        RoundCache(sessions, clock), SignalHub(), remote, OpenStreams(clock),
    )  # fmt: skip


async def issue_admin_token(platform: Platform, *, display_name: str, only_if_none: bool = False) -> str | None:
    """A new operator token (scope `admin`); with only_if_none, only on a database with no tokens yet."""
    secret = new_token(TokenType.API)
    async with platform.sessions.begin() as session:
        if only_if_none and await session.scalar(select(func.count()).select_from(ApiToken)):
            return None
        await accounts.issue_api_token(
            session,
            platform.digester,
            secret=secret,
            vendor_ref="",
            scopes=["admin"],
            display_name=display_name,
            ttl=None,
            actor="mp-server",
            now=to_datetime(platform.clock()),
        )
    return secret
