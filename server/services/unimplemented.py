"""Handlers for contract services this server does not serve yet.

They sit behind the same interceptor chain, so callers get the real 401/403/429 first and only then
UNIMPLEMENTED with a message saying so; a client can code against the whole contract today.
"""

from __future__ import annotations

from typing import Any

import grpc
from google.protobuf import message_factory
from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor

from server.errors import Unimplemented


def _refuse(method: MethodDescriptor) -> Any:
    message = f"{method.containing_service.name}.{method.name} is part of the API but not served by this version yet"

    async def unary(_request: Any, _context: grpc.aio.ServicerContext) -> Any:
        raise Unimplemented(message)

    async def streaming(_request: Any, _context: grpc.aio.ServicerContext) -> Any:
        raise Unimplemented(message)
        yield  # an async generator, as streaming handlers are

    return streaming if method.server_streaming else unary


def unimplemented_handler(service: ServiceDescriptor) -> grpc.GenericRpcHandler:
    handlers = {}
    for method in service.methods:
        factory = {
            (False, False): grpc.unary_unary_rpc_method_handler,
            (False, True): grpc.unary_stream_rpc_method_handler,
            (True, False): grpc.stream_unary_rpc_method_handler,
            (True, True): grpc.stream_stream_rpc_method_handler,
        }[(method.client_streaming, method.server_streaming)]
        handlers[method.name] = factory(
            _refuse(method),
            request_deserializer=message_factory.GetMessageClass(method.input_type).FromString,
            response_serializer=lambda message: message.SerializeToString(),
        )
    return grpc.method_handlers_generic_handler(service.full_name, handlers)
