"""Wraps a method handler of any arity so that a guard (an async context manager) encloses the call.

For streaming responses the guard stays open until the last message is sent, so errors raised
mid-stream pass through it too.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import grpc

Guard = Callable[[grpc.aio.ServicerContext], AbstractAsyncContextManager[Any]]


async def _call(behavior: Callable[..., Any], argument: Any, context: Any) -> Any:
    result = behavior(argument, context)
    if inspect.isawaitable(result):
        result = await result
    return result


async def _stream(behavior: Callable[..., Any], argument: Any, context: Any) -> AsyncIterator[Any]:
    result = behavior(argument, context)
    if hasattr(result, "__aiter__"):
        async for item in result:
            yield item
    elif inspect.isawaitable(result):
        await result
    else:
        for item in result:
            yield item


def wrap_handler(handler: grpc.RpcMethodHandler, guard: Guard) -> grpc.RpcMethodHandler:
    if handler.unary_unary or handler.stream_unary:
        unary_behavior = handler.unary_unary or handler.stream_unary

        async def unary_response(argument: Any, context: grpc.aio.ServicerContext) -> Any:
            async with guard(context):
                return await _call(unary_behavior, argument, context)

        field = "unary_unary" if handler.unary_unary else "stream_unary"
        return handler._replace(**{field: unary_response})  # type: ignore[attr-defined]

    stream_behavior = handler.unary_stream or handler.stream_stream

    async def stream_response(argument: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        async with guard(context):
            async for item in _stream(stream_behavior, argument, context):
                yield item

    field = "unary_stream" if handler.unary_stream else "stream_stream"
    return handler._replace(**{field: stream_response})  # type: ignore[attr-defined]


class BeforeCall:
    """A guard that only runs a check before the call (cheaper than a generator-based one)."""

    __slots__ = ("_check",)

    def __init__(self, check: Any) -> None:
        self._check = check

    async def __aenter__(self) -> None:
        await self._check

    async def __aexit__(self, *exc_info: object) -> bool:
        return False


class GuardingInterceptor(grpc.aio.ServerInterceptor):
    """Base for our interceptors: subclasses say what encloses a call to `method`."""

    def guard(self, method: str, context: grpc.aio.ServicerContext) -> AbstractAsyncContextManager[Any]:
        raise NotImplementedError

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Any],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method
        return wrap_handler(handler, lambda context: self.guard(method, context))
