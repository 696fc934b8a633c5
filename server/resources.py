"""The process's infrastructure, opened once by the composition root (server/app.py): the database
(migrated or checked), sessions, the secret key's digester, the URL signer, the blob store, the open
streams, the notifications between replicas and the clock. Nothing of any one service: app.py builds
those from these."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from mlmp_server.blobs.local import BlobStore, LocalBlobStore
from mlmp_server.blobs.s3 import S3BlobStore
from mlmp_server.blobs.signing import UrlSigner, derived_signing_key, parse_signing_keys
from mlmp_server.core.clock import Clock, system_clock
from mlmp_server.core.notifications import Notifications
from mlmp_server.core.streams import OpenStreams
from mlmp_server.core.tokens import TokenDigester
from mlmp_server.db.engine import create_engine, ensure_schema_current, migrate, session_factory
from mlmp_server.db.notifications import open_notifications
from mlmp_server.keys import load_secret_key
from mlmp_server.settings import Settings


@dataclass
class Resources:
    clock: Clock
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    digester: TokenDigester
    blobs: BlobStore
    signer: UrlSigner
    streams: OpenStreams  # ended at shutdown and on revocation
    notifications: Notifications  # to and from the other replicas on the same database

    async def close(self) -> None:
        await self.notifications.close()
        await self.engine.dispose()


async def open_resources(settings: Settings, clock: Clock = system_clock) -> Resources:
    engine = create_engine(settings.database_url)
    try:
        if settings.uses_default_database:
            await migrate(engine)  # the embedded default keeps itself current
        else:
            await ensure_schema_current(engine, settings.database_url)
    except BaseException:
        await engine.dispose()
        raise
    secret_key = load_secret_key(settings)
    signing_keys = (
        parse_signing_keys(settings.signing_keys) if settings.signing_keys else [derived_signing_key(secret_key)]
    )
    blobs: BlobStore = LocalBlobStore(settings.data_dir / "blobs")
    if settings.s3 is not None:
        blobs = S3BlobStore(staging=settings.data_dir / "blobs-staging", **vars(settings.s3))
    sessions = session_factory(engine)
    notifications = open_notifications(settings.database_url, sessions)
    await notifications.start()
    return Resources(
        clock=clock,
        engine=engine,
        sessions=sessions,
        digester=TokenDigester(secret_key),
        blobs=blobs,
        signer=UrlSigner(signing_keys, clock),
        streams=OpenStreams(clock),
        notifications=notifications,
    )
