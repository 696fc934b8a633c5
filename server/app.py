"""The composition root: settings → resources (database, keys, blobs) → services → interceptors →
gRPC server + HTTP app → running until told to stop.

The one module that knows the concrete classes and the only one that imports `interceptors/`;
every servicer gets exactly what it uses, here.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import grpc
import uvicorn
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mlmp_interceptors.auth import AuthCheck
from mlmp_interceptors.chain import PolicyInterceptor
from mlmp_interceptors.introspection import CachingIntrospector, RemoteIntrospector
from mlmp_interceptors.ownership import OwnershipCheck
from mlmp_interceptors.rate_limit import BucketRateLimiter, RateLimitCheck
from mlmp_interceptors.validation import RequestValidator
from mlmp_server.auth import rules as accounts
from mlmp_server.auth.introspection import DatabaseIntrospector
from mlmp_server.auth.servicer import AuthServicer
from mlmp_server.blobs.downloads import blob_download_route
from mlmp_server.blobs.local import LocalBlobStore
from mlmp_server.catalog.servicer import CatalogServicer
from mlmp_server.core import metrics
from mlmp_server.core.buckets import BucketStore, LocalBuckets, RateLimit
from mlmp_server.core.clock import Clock, system_clock, to_datetime
from mlmp_server.core.completion import drain_unfinished
from mlmp_server.core.contract import MethodRules
from mlmp_server.core.errors import Unavailable
from mlmp_server.core.principal import Introspector
from mlmp_server.core.revocation import Revocations
from mlmp_server.core.streams import OpenStreams
from mlmp_server.core.tokens import TokenType, new_token
from mlmp_server.datasets.demo import publish_demo_round
from mlmp_server.datasets.round_cache import RoundCache
from mlmp_server.datasets.servicer import DatasetServicer
from mlmp_server.db.notifications import LocalNotifications
from mlmp_server.db.owners import OwnerLookup
from mlmp_server.deployments.deliveries import DeliveryPolicy, DeliveryWorker
from mlmp_server.deployments.servicer import DeploymentServicer
from mlmp_server.features.feed import FeatureFeed
from mlmp_server.features.servicer import FeatureServicer
from mlmp_server.gateway.inprocess import InProcessChannel
from mlmp_server.grpc_server import MAX_MESSAGE_BYTES, SERVICES, DecodedBeforeOwnership, Servicers, build_grpc_server
from mlmp_server.http_app import build_http_app
from mlmp_server.market.demo import DemoReplay
from mlmp_server.market.feed import BarFeed
from mlmp_server.market.publishing import BarPublisher
from mlmp_server.market.relay import BarRelay
from mlmp_server.market.servicer import MarketServicer
from mlmp_server.process import (
    STUCK_SHUTDOWN_MARGIN,
    bind_socket,
    exit_after,
    grpc_port_refused,
    grpc_target_for,
    loopback_host,
    stop_on_signals,
    uvicorn_server,
)
from mlmp_server.readiness import Readiness
from mlmp_server.resources import Resources, open_resources
from mlmp_server.settings import Settings
from mlmp_server.signals.hub import SignalHub
from mlmp_server.signals.ingest import SignalBudget, SignalIngest
from mlmp_server.signals.replicas import ReplicaFanout
from mlmp_server.signals.scorer import Scorer
from mlmp_server.signals.servicer import SignalServicer
from mlmp_server.training.servicer import TrainingServicer

log = logging.getLogger("mp.server")
# The gateway takes what the server sends: with gRPC's 4 MiB receive default, a large answer to a
# committed call would fail in the gateway after the server had done the work.
GATEWAY_CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
]


@dataclass(frozen=True)
class Listening:
    grpc_port: int
    http_port: int
    admin_token: str | None  # only on the very first start
    resources: Resources
    introspector: CachingIntrospector
    feed: BarFeed  # new bars, as they are stored here or by other replicas


def build_introspector(
    settings: Settings, resources: Resources
) -> tuple[CachingIntrospector, RemoteIntrospector | None]:
    """The cache in front of the remote endpoint when one is configured, else of the database;
    the remote one is returned too, to be closed at the end."""
    remote = (
        RemoteIntrospector(settings.introspection_url, settings.introspection_token)
        if settings.introspection_url
        else None
    )
    source: Introspector = remote or DatabaseIntrospector(resources.sessions, resources.digester, resources.clock)
    cache = CachingIntrospector(
        source, ttl=settings.introspection_ttl, negative_ttl=settings.introspection_negative_ttl, clock=resources.clock
    )
    return cache, remote


def build_servicers(
    settings: Settings,
    resources: Resources,
    introspector: CachingIntrospector,
    *,
    public_url: str,
    bars: BarPublisher | None = None,
    features: FeatureFeed | None = None,
) -> Servicers:
    """Each servicer with exactly what it uses. Revocation, the round cache, the signal hub and the bar
    feed (inside `bars`) are shared by the services that need them; revocation reaches the interceptors' cache."""
    sessions, clock, digester = resources.sessions, resources.clock, resources.digester
    bars = bars or BarPublisher(sessions, BarFeed(), clock, resources.notifications)
    # Revocations and round changes reach the other replicas through resources.notifications.
    catalog = CatalogServicer(sessions, clock, settings.heartbeat_timeout)
    revocations = Revocations(
        introspector, resources.streams, resources.notifications, on_vendor_or_deployment_change=catalog.invalidate,
        # Tokens checked elsewhere (MP_INTROSPECTION_URL) are not this database's to re-check.
        still_valid=None if settings.introspection_url else DatabaseIntrospector(sessions, digester, clock).still_valid,
    )  # fmt: skip
    rounds = RoundCache(sessions, clock, notifications=resources.notifications)
    hub = SignalHub()
    # Signals stored on any replica reach the subscribers of every one (one database: PostgreSQL).
    replicas = ReplicaFanout(
        sessions, hub, resources.notifications, shared=not isinstance(resources.notifications, LocalNotifications)
    )
    budget = SignalBudget(settings.signal_rate, clock, resources.buckets)
    ingest = SignalIngest(sessions, rounds, hub, clock, budget, replicas)
    return Servicers(
        auth=AuthServicer(sessions, digester, introspector, clock, revocations, public_url=public_url),
        catalog=catalog,
        datasets=DatasetServicer(sessions, resources.blobs, resources.signer, public_url, clock, rounds),
        training=TrainingServicer(
            sessions,
            resources.blobs,
            clock,
            digester,
            settings.run_lease,
            on_run_ended=revocations.run_ended,
            signer=resources.signer,
            public_url=public_url,
        ),
        deployments=DeploymentServicer(sessions, digester, clock, settings.heartbeat_timeout, revocations=revocations),
        signals=SignalServicer(sessions, ingest, hub),
        market=MarketServicer(sessions, bars),
        features=FeatureServicer(features or feature_feed(resources)),
    )


def feature_feed(resources: Resources) -> FeatureFeed:
    """The feature stream's feed; its worker (a child process) reads a round's live file from the blob store: a
    local file's path, or an S3 store's presigned URL."""
    blobs = resources.blobs

    def live_source(key: str) -> str | None:
        if isinstance(blobs, LocalBlobStore):
            return str(blobs.path_of(key))
        presigned = blobs.presigned_url(key, 300)
        return presigned[0] if presigned is not None else None

    return FeatureFeed(resources.sessions, resources.clock, live_source=live_source)


def interceptor_chain(
    introspector: Introspector,
    sessions: async_sessionmaker[AsyncSession],
    streams: OpenStreams,
    rate_limits: Mapping[str, RateLimit],
    clock: Clock,
    buckets: BucketStore | None = None,
) -> list[grpc.aio.ServerInterceptor]:
    """Access log and error mapping around auth, rate limiting (in `buckets`: shared through Redis, or by
    default this process's own), request validation, then ownership (see interceptors/chain.py)."""
    rules = MethodRules.from_services(SERVICES)
    validator = RequestValidator()
    return [
        PolicyInterceptor(
            checks=[
                AuthCheck(rules, introspector),
                RateLimitCheck(rules, BucketRateLimiter(buckets or LocalBuckets(clock)), rate_limits),
            ],
            streams=streams,
            request_checks=[
                DecodedBeforeOwnership(rules),
                validator,
                OwnershipCheck(rules, OwnerLookup(sessions)),
            ],
            prepare=validator.wrap,
        )
    ]


async def issue_admin_token(resources: Resources, *, display_name: str, only_if_none: bool = False) -> str | None:
    """A new operator token (scope `admin`); with only_if_none, only on a database with no tokens yet."""
    secret = new_token(TokenType.API)
    async with resources.sessions.begin() as session:
        issued = await accounts.issue_operator_token(
            session, resources.digester, secret, display_name=display_name, only_if_none=only_if_none,
            now=to_datetime(resources.clock()),
        )  # fmt: skip
    return secret if issued else None


async def serve_gateway(
    settings: Settings,
    grpc_target: str,
    *,
    tls: bool,
    on_ready: Callable[[int], None],
    stop: asyncio.Event | None = None,
) -> None:
    """The HTTP side alone, in front of other replicas' gRPC (`mp-server gateway`)."""
    stop = stop or asyncio.Event()
    stop_on_signals(stop)
    channel = (
        grpc.aio.secure_channel(grpc_target, grpc.ssl_channel_credentials(), options=GATEWAY_CHANNEL_OPTIONS)
        if tls
        else grpc.aio.insecure_channel(grpc_target, options=GATEWAY_CHANNEL_OPTIONS)
    )
    http_socket = bind_socket(settings.http_addr)
    public_target = settings.grpc_public_target or grpc_target
    draining = asyncio.Event()

    async def readiness() -> tuple[bool, dict[str, str]]:
        """The gateway holds no state: ready until it drains."""
        return (False, {"status": "draining"}) if draining.is_set() else (True, {"status": "ready"})

    http_app = build_http_app(
        channel=channel,
        services=SERVICES,
        grpc_target=lambda _host: public_target,
        cors_origins=settings.cors_origins,
        default_timeout=settings.gateway_timeout,
        metrics_token=settings.metrics_token,
        readiness=readiness,
    )
    http_server = uvicorn_server(http_app, settings.shutdown_grace)
    task = asyncio.create_task(http_server.serve(sockets=[http_socket]))
    while not http_server.started and not task.done():
        await asyncio.sleep(0.01)
    if task.done():
        await task
    on_ready(http_socket.getsockname()[1])
    await stop.wait()
    draining.set()
    await asyncio.sleep(settings.drain_delay)
    http_server.should_exit = True
    await task
    await channel.close()


async def _shut_down(
    settings: Settings,
    streams: OpenStreams,
    grpc_server: grpc.aio.Server,
    http_server: uvicorn.Server,
    http_task: asyncio.Task,
) -> None:
    """Streams end first (they would hold the grace period to its end), then unary calls in flight
    get what is left of the grace, then units of work whose callers left; then the process exits."""
    deadline = time.monotonic() + settings.shutdown_grace
    ended = streams.end_all(Unavailable("mp-server is shutting down; reconnect in a moment"))
    log.info(
        "shutting down: %d stream(s) ended, finishing calls in flight (grace %.0fs)", ended, settings.shutdown_grace
    )
    http_server.should_exit = True
    await grpc_server.stop(max(0.0, deadline - time.monotonic()))
    await drain_unfinished(max(0.1, deadline - time.monotonic()))
    try:
        await asyncio.wait_for(http_task, max(0.1, deadline - time.monotonic()))
    except TimeoutError:
        log.warning("HTTP connections still open at the end of the grace period were closed")


async def serve(
    settings: Settings,
    *,
    on_ready: Callable[[Listening], None],
    stop: asyncio.Event | None = None,
    clock: Clock = system_clock,
    exit_if_stuck: bool = False,
) -> None:
    """Serves until `stop` (or SIGTERM/SIGINT). `exit_if_stuck` (the mp-server process, not tests
    running it in a thread): a shutdown still unfinished 5 s past its grace ends the process."""
    stop = stop or asyncio.Event()
    stop_on_signals(stop)  # first: a SIGTERM during start-up still ends in a clean stop
    resources = await open_resources(settings, clock)
    metrics.database_pools.watch(resources.engine.pool)
    remote: RemoteIntrospector | None = None
    grpc_server: grpc.aio.Server | None = None
    deliveries: DeliveryWorker | None = None
    scorer: Scorer | None = None
    relay: BarRelay | None = None
    replay: DemoReplay | None = None
    features: FeatureFeed | None = None
    try:
        introspector, remote = build_introspector(settings, resources)
        http_socket = bind_socket(settings.http_addr)
        http_port = http_socket.getsockname()[1]
        public_url = settings.public_url or f"http://{loopback_host(settings.http_addr)}:{http_port}"
        interceptors = interceptor_chain(
            introspector, resources.sessions, resources.streams, settings.rate_limits, clock, resources.buckets
        )
        feed = BarFeed()
        bars = BarPublisher(resources.sessions, feed, clock, resources.notifications)
        relay = BarRelay(resources.sessions, feed, resources.notifications)
        features = feature_feed(resources)
        features.follow(feed)
        built = await build_grpc_server(
            build_servicers(settings, resources, introspector, public_url=public_url, bars=bars, features=features),
            interceptors,
        )
        # Listening on every channel the services asked for before the first call is taken.
        await resources.notifications.start()
        grpc_server = built.server
        try:
            grpc_port = grpc_server.add_insecure_port(settings.grpc_addr)
        except RuntimeError:  # grpc's "Failed to bind to address"
            grpc_port = 0
        if grpc_port == 0:
            raise grpc_port_refused(settings.grpc_addr)
        # Only once both ports are ours: a start refused for a taken port must not spend the first
        # admin token (printed once) or build the demo round for nothing.
        admin_token = await issue_admin_token(resources, display_name="first admin token", only_if_none=True)
        if settings.demo_round:
            await publish_demo_round(resources.sessions, resources.blobs, clock)
        await grpc_server.start()
        policy = DeliveryPolicy(to_private_addresses=settings.deliver_to_private)
        deliveries = DeliveryWorker(resources.sessions, resources.digester.seed_key, clock, policy)
        deliveries.start()
        scorer = Scorer(resources.sessions, clock, new_bars=feed.subscribe)  # live scores as bars arrive
        scorer.start()
        relay.start()
        if settings.demo_round and settings.demo_replay_speed > 0:
            replay = DemoReplay(resources.engine, resources.sessions, bars, settings.demo_replay_speed)
            replay.start()
        readiness = Readiness(resources.engine, resources.shared, replica=settings.replica)
        # The gateway calls the server's own method handlers behind the server's own interceptors,
        # in this process: the same policy as a gRPC client meets, without the loopback hop.
        in_process = InProcessChannel(built.handlers, interceptors, max_message_bytes=MAX_MESSAGE_BYTES)
        http_app = build_http_app(
            channel=in_process,
            services=SERVICES,
            grpc_target=grpc_target_for(settings, grpc_port),
            cors_origins=settings.cors_origins,
            default_timeout=settings.gateway_timeout,
            extra_routes=(
                [blob_download_route(resources.blobs, resources.signer)]
                if isinstance(resources.blobs, LocalBlobStore)
                else []  # S3 serves its own presigned URLs
            ),
            metrics_token=settings.metrics_token,
            readiness=readiness.check,
        )
        http_server = uvicorn_server(http_app, settings.shutdown_grace)
        http_task = asyncio.create_task(http_server.serve(sockets=[http_socket]))
        while not http_server.started and not http_task.done():
            await asyncio.sleep(0.01)
        if http_task.done():
            await http_task  # raises what stopped it
        on_ready(Listening(grpc_port, http_port, admin_token, resources, introspector, feed))
        await stop.wait()
        if exit_if_stuck:
            exit_after(settings.drain_delay + settings.shutdown_grace + STUCK_SHUTDOWN_MARGIN)
        readiness.draining = True
        if settings.drain_delay > 0:
            log.info("draining: /readyz answers 503 for %.0fs before the shutdown begins", settings.drain_delay)
            await asyncio.sleep(settings.drain_delay)
        await _shut_down(settings, resources.streams, grpc_server, http_server, http_task)
    finally:
        if replay is not None:
            await replay.stop()
        if relay is not None:
            await relay.stop()
        if grpc_server is not None:
            await grpc_server.stop(0)  # no-op after a clean stop; on a failed start, releases the port
        if scorer is not None:
            await scorer.stop()  # a turn cut short commits nothing; the next start does it again
        if deliveries is not None:
            await deliveries.stop(grace=1.0)  # the shutdown grace is spent: a cut attempt is resent later
        if remote is not None:
            await remote.aclose()
        metrics.database_pools.forget(resources.engine.pool)
        if features is not None:
            await features.close()
        await resources.close()
