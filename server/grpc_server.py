"""The gRPC server: our services behind the interceptor chain, plus health and reflection."""

from __future__ import annotations

import grpc
from google.protobuf.descriptor import ServiceDescriptor
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio
from grpc_reflection.v1alpha import reflection

from interceptors.auth import AuthCheck
from interceptors.chain import PolicyInterceptor
from interceptors.rate_limit import InMemoryRateLimiter, RateLimitCheck
from interceptors.rules import MethodRules
from marketplace.v1 import (
    auth_pb2,
    auth_pb2_grpc,
    catalog_pb2,
    datasets_pb2,
    datasets_pb2_grpc,
    deployments_pb2,
    signals_pb2,
    training_pb2,
    training_pb2_grpc,
)
from server.platform import Platform
from server.services.auth import AuthServicer
from server.services.datasets import DatasetServicer
from server.services.training import TrainingServicer
from server.services.unimplemented import unimplemented_handler

# Every service of the contract; access rules are read from all of them.
SERVICES: tuple[ServiceDescriptor, ...] = (
    auth_pb2.DESCRIPTOR.services_by_name["AuthService"],
    catalog_pb2.DESCRIPTOR.services_by_name["CatalogService"],
    datasets_pb2.DESCRIPTOR.services_by_name["DatasetService"],
    training_pb2.DESCRIPTOR.services_by_name["TrainingService"],
    deployments_pb2.DESCRIPTOR.services_by_name["DeploymentService"],
    signals_pb2.DESCRIPTOR.services_by_name["SignalService"],
)
IMPLEMENTED = (
    auth_pb2.DESCRIPTOR.services_by_name["AuthService"],
    datasets_pb2.DESCRIPTOR.services_by_name["DatasetService"],
    training_pb2.DESCRIPTOR.services_by_name["TrainingService"],
)

MAX_MESSAGE_BYTES = 16 * 1024 * 1024


def interceptor_chain(platform: Platform) -> list[grpc.aio.ServerInterceptor]:
    """Access log and error mapping around auth, then rate limiting (see interceptors/chain.py)."""
    rules = MethodRules.from_services(SERVICES)
    return [
        PolicyInterceptor(
            checks=[
                AuthCheck(rules, platform.introspector),
                RateLimitCheck(rules, InMemoryRateLimiter(platform.clock), platform.settings.rate_limits),
            ]
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
        DatasetServicer(platform.sessions, platform.blobs, platform.signer, public_url, platform.clock), server
    )
    training_pb2_grpc.add_TrainingServiceServicer_to_server(
        TrainingServicer(
            platform.sessions,
            platform.blobs,
            platform.clock,
            platform.digester,
            platform.settings.run_lease,
            on_run_ended=platform.introspector.forget_run,
        ),
        server,
    )
    for service in SERVICES:
        if service not in IMPLEMENTED:
            server.add_generic_rpc_handlers([unimplemented_handler(service)])
    health = health_aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    for name in ("", *(s.full_name for s in IMPLEMENTED)):
        await health.set(name, health_pb2.HealthCheckResponse.SERVING)
    reflection.enable_server_reflection(
        [
            *(s.full_name for s in SERVICES),  # the whole contract, served or not yet
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
            reflection.SERVICE_NAME,
        ],
        server,
    )
    return server
