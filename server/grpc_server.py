"""The gRPC server: our services behind the interceptor chain, plus health and reflection."""

from __future__ import annotations

import grpc
from google.protobuf.descriptor import ServiceDescriptor
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio
from grpc_reflection.v1alpha import reflection

from interceptors.auth import AuthCheck
from interceptors.chain import PolicyInterceptor
from interceptors.ownership import OwnershipCheck
from interceptors.rate_limit import InMemoryRateLimiter, RateLimitCheck
from interceptors.rules import MethodRules
from interceptors.validation import RequestValidator
from marketplace.v1 import (
    auth_pb2,
    auth_pb2_grpc,
    catalog_pb2,
    catalog_pb2_grpc,
    datasets_pb2,
    datasets_pb2_grpc,
    deployments_pb2,
    deployments_pb2_grpc,
    signals_pb2,
    signals_pb2_grpc,
    training_pb2,
    training_pb2_grpc,
)
from server.ingest import SignalBudget, SignalIngest
from server.platform import Platform
from server.services.auth import AuthServicer
from server.services.catalog import CatalogServicer
from server.services.datasets import DatasetServicer
from server.services.deployments import DeploymentServicer
from server.services.signals import SignalServicer
from server.services.training import TrainingServicer
from server.store.owners import OwnerLookup

# Every service of the contract; access rules are read from all of them.
SERVICES: tuple[ServiceDescriptor, ...] = (
    auth_pb2.DESCRIPTOR.services_by_name["AuthService"],
    catalog_pb2.DESCRIPTOR.services_by_name["CatalogService"],
    datasets_pb2.DESCRIPTOR.services_by_name["DatasetService"],
    training_pb2.DESCRIPTOR.services_by_name["TrainingService"],
    deployments_pb2.DESCRIPTOR.services_by_name["DeploymentService"],
    signals_pb2.DESCRIPTOR.services_by_name["SignalService"],
)

MAX_MESSAGE_BYTES = 16 * 1024 * 1024


def interceptor_chain(platform: Platform) -> list[grpc.aio.ServerInterceptor]:
    """Access log and error mapping around auth, rate limiting, request validation, then ownership
    (see interceptors/chain.py)."""
    rules = MethodRules.from_services(SERVICES)
    validator = RequestValidator()
    return [
        PolicyInterceptor(
            checks=[
                AuthCheck(rules, platform.introspector),
                RateLimitCheck(rules, InMemoryRateLimiter(platform.clock), platform.settings.rate_limits),
            ],
            streams=platform.streams,
            request_checks=[validator, OwnershipCheck(rules, OwnerLookup(platform.sessions))],
            prepare=validator.wrap,
        )
    ]


async def build_grpc_server(
    platform: Platform,
    *,
    interceptors: list[grpc.aio.ServerInterceptor] | None = None,
    auth_servicer: AuthServicer | None = None,
    public_url: str = "http://127.0.0.1:3010",
) -> grpc.aio.Server:
    """The server, not yet bound; `interceptors` and `auth_servicer` replace the defaults (benchmarks)."""
    server = grpc.aio.server(
        interceptors=interceptor_chain(platform) if interceptors is None else interceptors,
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ],
    )
    auth_pb2_grpc.add_AuthServiceServicer_to_server(
        auth_servicer or AuthServicer(platform.sessions, platform.digester, platform.introspector, platform.clock),
        server,
    )
    datasets_pb2_grpc.add_DatasetServiceServicer_to_server(
        DatasetServicer(
            platform.sessions, platform.blobs, platform.signer, public_url, platform.clock, platform.rounds
        ),
        server,
    )
    training_pb2_grpc.add_TrainingServiceServicer_to_server(
        TrainingServicer(
            platform.sessions,
            platform.blobs,
            platform.clock,
            platform.digester,
            platform.settings.run_lease,
            on_run_ended=platform.introspector.forget_run,
            signer=platform.signer,
            public_url=public_url,
        ),
        server,
    )
    settings = platform.settings
    deployments_pb2_grpc.add_DeploymentServiceServicer_to_server(
        DeploymentServicer(platform.sessions, platform.digester, platform.clock, settings.heartbeat_timeout,
                           forget_token=platform.introspector.forget_token),
        server,
    )  # fmt: skip
    ingest = SignalIngest(
        platform.sessions,
        platform.rounds,
        platform.hub,
        platform.clock,
        SignalBudget(settings.signal_rate, platform.clock),
    )
    signals_pb2_grpc.add_SignalServiceServicer_to_server(
        SignalServicer(platform.sessions, ingest, platform.hub), server
    )
    catalog_pb2_grpc.add_CatalogServiceServicer_to_server(
        CatalogServicer(platform.sessions, platform.clock, settings.heartbeat_timeout), server
    )
    health = health_aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    for name in ("", *(s.full_name for s in SERVICES)):
        await health.set(name, health_pb2.HealthCheckResponse.SERVING)
    reflection.enable_server_reflection(
        [
            *(s.full_name for s in SERVICES),
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
            reflection.SERVICE_NAME,
        ],
        server,
    )
    return server
