"""The gRPC server: the given servicers behind the given interceptors, plus health and reflection.

Which servicers and interceptors: server/app.py decides. This module knows only the contract
(generated code), how a request that does not decode is refused, and the server's options.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.descriptor import ServiceDescriptor
from google.protobuf.message import DecodeError
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio
from grpc_reflection.v1alpha import reflection, reflection_pb2_grpc

from mlmp_marketplace.v1 import (
    auth_pb2_grpc,
    catalog_pb2_grpc,
    datasets_pb2_grpc,
    deployments_pb2_grpc,
    features_pb2_grpc,
    market_pb2_grpc,
    signals_pb2_grpc,
    training_pb2_grpc,
)
from mlmp_server.core.contract import MethodRules, contract_services
from mlmp_server.core.errors import InvalidArgument

# Every service of the contract; access rules are read from all of them.
SERVICES: tuple[ServiceDescriptor, ...] = contract_services()

MAX_MESSAGE_BYTES = 16 * 1024 * 1024
_BEHAVIORS = ("unary_unary", "unary_stream", "stream_unary", "stream_stream")


class _Undecodable:
    """What bytes that are not the method's request message decode to; the method then ends with
    INVALID_ARGUMENT. (A deserializer that raises ends the call as UNKNOWN, which clients retry.)"""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason

    @property
    def message(self) -> str:
        return f"the request is not a valid protobuf message: {self.reason}"


def _tolerant(from_string: Callable[[bytes], Any]) -> Callable[[bytes], Any]:
    def decode(data: bytes) -> Any:
        try:
            return from_string(data)
        except DecodeError as error:  # also a message nested past protobuf's depth limit
            return _Undecodable(str(error))

    return decode


async def _refuse(context: grpc.aio.ServicerContext, request: _Undecodable) -> None:
    await context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.message)


class DecodedBeforeOwnership:
    """A request check in front of the ownership check, which reads an id from the request (a client
    stream's first message) before the servicer, and so before refusing_undecodable's behavior."""

    def __init__(self, rules: MethodRules) -> None:
        self._rules = rules

    async def __call__(
        self, method: str, context: grpc.aio.ServicerContext, request: Callable[[], Awaitable[Any]]
    ) -> None:
        rule = self._rules.get(method)
        if rule is None or rule.owner is None:
            return  # nothing reads this request before the servicer
        first = await request()
        if isinstance(first, _Undecodable):
            raise InvalidArgument(first.message)


async def _decoded(requests: AsyncIterator[Any], context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
    async for request in requests:
        if isinstance(request, _Undecodable):
            await _refuse(context, request)
        yield request


def refusing_undecodable(handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
    """The handler with a request deserializer that never raises, and a behavior that ends a call
    whose request did not decode with INVALID_ARGUMENT, before the servicer sees it."""
    field = next((name for name in _BEHAVIORS if getattr(handler, name, None)), None)
    if field is None or handler.request_deserializer is None:
        return handler
    behavior = getattr(handler, field)
    streamed = field.startswith("stream_")

    async def argument(request: Any, context: grpc.aio.ServicerContext) -> Any:
        if streamed:
            return _decoded(request, context)
        if isinstance(request, _Undecodable):
            await _refuse(context, request)
        return request

    async def unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
        return await behavior(await argument(request, context), context)

    async def stream(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        async for response in behavior(await argument(request, context), context):
            yield response

    # grpc.aio calls a behavior by its kind (coroutine, async generator), so the wrapper keeps it.
    if inspect.iscoroutinefunction(behavior):
        guarded: Callable[..., Any] = unary
    elif inspect.isasyncgenfunction(behavior):
        guarded = stream
    else:
        return handler
    return handler._replace(  # type: ignore[attr-defined]
        request_deserializer=_tolerant(handler.request_deserializer), **{field: guarded}
    )


class _RefusingUndecodable(grpc.GenericRpcHandler):
    def __init__(self, inner: grpc.GenericRpcHandler) -> None:
        self._inner = inner
        self._wrapped: dict[str, tuple[grpc.RpcMethodHandler, grpc.RpcMethodHandler]] = {}

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        handler = self._inner.service(handler_call_details)
        if handler is None:
            return None
        cached = self._wrapped.get(handler_call_details.method)
        if cached is None or cached[0] is not handler:
            cached = self._wrapped[handler_call_details.method] = (handler, refusing_undecodable(handler))
        return cached[1]


class _Registrar:
    """Stands in for the server while services are added, so that every method's handler is
    wrapped by refusing_undecodable once, at registration, at no cost per call."""

    def __init__(self, server: grpc.aio.Server) -> None:
        self._server = server
        self.handlers: dict[str, grpc.RpcMethodHandler] = {}  # "/package.Service/Method" → as registered

    def add_generic_rpc_handlers(self, handlers: Sequence[grpc.GenericRpcHandler]) -> None:
        self._server.add_generic_rpc_handlers(tuple(_RefusingUndecodable(handler) for handler in handlers))

    def add_registered_method_handlers(self, service: str, handlers: Mapping[str, grpc.RpcMethodHandler]) -> None:
        wrapped = {name: refusing_undecodable(handler) for name, handler in handlers.items()}
        self.handlers.update({f"/{service}/{name}": handler for name, handler in wrapped.items()})
        self._server.add_registered_method_handlers(service, wrapped)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Servicers:
    """One implementation of each service of the contract."""

    auth: auth_pb2_grpc.AuthServiceServicer
    catalog: catalog_pb2_grpc.CatalogServiceServicer
    datasets: datasets_pb2_grpc.DatasetServiceServicer
    training: training_pb2_grpc.TrainingServiceServicer
    deployments: deployments_pb2_grpc.DeploymentServiceServicer
    signals: signals_pb2_grpc.SignalServiceServicer
    market: market_pb2_grpc.MarketServiceServicer
    features: features_pb2_grpc.FeatureServiceServicer


@dataclass(frozen=True)
class GrpcServer:
    server: grpc.aio.Server  # not yet bound
    # Every method's handler as the server registered it (before its interceptors), by full path:
    # what an in-process channel calls (server/gateway/inprocess.py), behind the same interceptors.
    handlers: Mapping[str, grpc.RpcMethodHandler]


async def build_grpc_server(servicers: Servicers, interceptors: Sequence[grpc.aio.ServerInterceptor]) -> GrpcServer:
    """The server, not yet bound, and its method handlers."""
    grpc_server = grpc.aio.server(
        interceptors=interceptors,
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            # grpc sets SO_REUSEPORT by default: a second mp-server on the same port would then listen
            # beside the first and take half of its calls, instead of being refused at start.
            ("grpc.so_reuseport", 0),
        ],
    )
    server: Any = _Registrar(grpc_server)
    auth_pb2_grpc.add_AuthServiceServicer_to_server(servicers.auth, server)
    datasets_pb2_grpc.add_DatasetServiceServicer_to_server(servicers.datasets, server)
    training_pb2_grpc.add_TrainingServiceServicer_to_server(servicers.training, server)
    deployments_pb2_grpc.add_DeploymentServiceServicer_to_server(servicers.deployments, server)
    signals_pb2_grpc.add_SignalServiceServicer_to_server(servicers.signals, server)
    catalog_pb2_grpc.add_CatalogServiceServicer_to_server(servicers.catalog, server)
    market_pb2_grpc.add_MarketServiceServicer_to_server(servicers.market, server)
    features_pb2_grpc.add_FeatureServiceServicer_to_server(servicers.features, server)
    health = health_aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    for name in ("", *(s.full_name for s in SERVICES)):
        await health.set(name, health_pb2.HealthCheckResponse.SERVING)
    # What enable_server_reflection does for a grpc.aio.Server, which it would not see in the registrar.
    reflected = [
        *(s.full_name for s in SERVICES),
        health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
        reflection.SERVICE_NAME,
    ]
    reflection_pb2_grpc.add_ServerReflectionServicer_to_server(reflection.aio.ReflectionServicer(reflected), server)
    return GrpcServer(grpc_server, dict(server.handlers))
