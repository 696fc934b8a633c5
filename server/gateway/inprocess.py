"""A channel that calls this process's own gRPC method handlers, without a socket.

It is built (in server/app.py) from the very `grpc.RpcMethodHandler`s the gRPC server registers and
the server's own interceptors, run per call as grpc.aio runs them: auth, rate limits, validation,
ownership, error mapping, the access log and the registry of open streams are the same objects, not
a copy. Calls look like grpc.aio's to the gateway (`await call`, `async for`, `initial_metadata()`,
`cancel()`, failures as `grpc.aio.AioRpcError`), so the gateway has one code path for this channel
and a real one (`mp-server gateway` in front of other replicas).

Messages cross as they would on the wire (serialized, then parsed by the handler's deserializer), so
a handler sees exactly what a gRPC client would give it; what is saved is the rest of the hop: HTTP/2
framing, the loopback socket, the completion queue and its thread hand-offs.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Generator, Mapping, Sequence
from typing import Any, NamedTuple

import grpc

Serializer = Callable[[Any], bytes] | None
Deserializer = Callable[[bytes], Any] | None
Metadata = Sequence[tuple[str, str | bytes]]

PEER = "in-process"
# How many messages a server stream may run ahead of the HTTP client reading them (gRPC's flow-control
# window plays this part on a channel): a stalled reader stalls the stream, it does not fill memory.
STREAM_AHEAD = 16


class _CallDetails(NamedTuple):
    """What grpc hands an interceptor (grpc.HandlerCallDetails has these two fields)."""

    method: str
    invocation_metadata: tuple[tuple[str, str | bytes], ...]


class InProcessContext(grpc.aio.ServicerContext):
    """The servicer's side of an in-process call: metadata in; status, details and metadata out."""

    def __init__(self, metadata: Metadata, timeout: float | None, task: asyncio.Task | None = None) -> None:
        self._metadata = tuple(metadata)
        self._deadline = None if timeout is None else time.monotonic() + timeout
        self._code: grpc.StatusCode | None = None
        self._details: str | None = None
        self._trailing: tuple[tuple[str, str | bytes], ...] = ()
        self.initial: tuple[tuple[str, str | bytes], ...] | None = None  # None: not sent yet
        self.headers_sent = asyncio.Event()
        self.task = task
        self.ended = False

    # What the servicer and the interceptors read.
    def invocation_metadata(self) -> tuple[tuple[str, str | bytes], ...]:
        return self._metadata

    def peer(self) -> str:
        return PEER

    def time_remaining(self) -> float | None:
        return None if self._deadline is None else max(0.0, self._deadline - time.monotonic())

    def cancelled(self) -> bool:
        return self.task is not None and self.task.cancelled()

    def done(self) -> bool:
        return self.ended

    def auth_context(self) -> dict[str, list[bytes]]:
        return {}

    def peer_identities(self) -> None:
        return None

    def peer_identity_key(self) -> None:
        return None

    # What the servicer and the interceptors write.
    async def send_initial_metadata(self, initial_metadata: Metadata) -> None:
        if self.initial is not None:
            raise grpc.aio.UsageError("initial metadata was already sent")
        self.initial = tuple(initial_metadata)
        self.headers_sent.set()

    async def abort(self, code: grpc.StatusCode, details: str = "", trailing_metadata: Metadata = ()) -> Any:
        if code == grpc.StatusCode.OK:
            code = grpc.StatusCode.UNKNOWN  # grpc.aio's rule: an abort is never a success
        self._code, self._details = code, details
        if trailing_metadata:
            self._trailing = tuple(trailing_metadata)
        raise grpc.aio.AbortError()

    async def abort_with_status(self, status: Any) -> Any:
        await self.abort(status.code, status.details, status.trailing_metadata)

    def set_code(self, code: grpc.StatusCode) -> None:
        self._code = code

    def set_details(self, details: str) -> None:
        self._details = details

    def set_trailing_metadata(self, trailing_metadata: Metadata) -> None:
        self._trailing = tuple(trailing_metadata)

    def code(self) -> grpc.StatusCode | None:
        return self._code

    def details(self) -> str | None:
        return self._details

    def trailing_metadata(self) -> tuple[tuple[str, str | bytes], ...]:
        return self._trailing

    def set_compression(self, compression: Any) -> None:
        pass  # nothing is compressed in a process

    def disable_next_message_compression(self) -> None:
        pass

    async def read(self) -> Any:
        raise grpc.aio.UsageError("in-process calls deliver a client stream through the request iterator only")

    async def write(self, message: Any) -> None:
        raise grpc.aio.UsageError("in-process server streams are written by yielding messages")

    def status(self) -> Any:
        """The call's outcome as the client sees it: None for OK, else a grpc.aio.AioRpcError."""
        if self._code is None or self._code == grpc.StatusCode.OK:
            return None
        return _rpc_error(self._code, self._details or "", self.initial or (), self._trailing)

    def failure(self, error: Exception) -> Any:
        """What the client gets when the handler raised `error`."""
        if isinstance(error, grpc.aio.AbortError):
            return self.status() or _rpc_error(grpc.StatusCode.UNKNOWN, "")
        if isinstance(error, grpc.aio.AioRpcError):
            return error  # the channel's own refusal (a message over the size limit)
        # What grpc.aio answers for an exception a handler lets through (the policy maps them all first).
        return _rpc_error(grpc.StatusCode.UNKNOWN, f"Unexpected {type(error)}: {error}")


def _rpc_error(code: grpc.StatusCode, details: str, initial: Metadata = (), trailing: Metadata = ()) -> Any:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(*initial), grpc.aio.Metadata(*trailing), details)


def _deadline_error() -> Any:
    return _rpc_error(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded")


def _cancelled_error() -> Any:
    return _rpc_error(grpc.StatusCode.CANCELLED, "Locally cancelled by application!")


class InProcessChannel:
    """grpc.aio.Channel's four multi-callable factories (all the gateway uses) over method handlers.

    `handlers`: the full method path ("/package.Service/Method") → the handler as the server registers
    it; `interceptors`: the server's, outermost first; both the same objects the gRPC server has.
    """

    def __init__(
        self,
        handlers: Mapping[str, grpc.RpcMethodHandler],
        interceptors: Sequence[grpc.aio.ServerInterceptor],
        *,
        max_message_bytes: int,
    ) -> None:
        self._handlers = handlers
        self._interceptors = tuple(interceptors)
        self._max = max_message_bytes

    def unary_unary(
        self, method: str, request_serializer: Serializer = None, response_deserializer: Deserializer = None, **_: Any
    ) -> _MultiCallable:
        return _MultiCallable(self, method, request_serializer, response_deserializer, streams_responses=False)

    def unary_stream(
        self, method: str, request_serializer: Serializer = None, response_deserializer: Deserializer = None, **_: Any
    ) -> _MultiCallable:
        return _MultiCallable(self, method, request_serializer, response_deserializer, streams_responses=True)

    stream_unary = unary_unary
    stream_stream = unary_stream

    async def close(self, grace: float | None = None) -> None:
        pass  # nothing to close: open streams end through the server's registry, as gRPC's do

    async def handler(self, method: str, metadata: Metadata) -> grpc.RpcMethodHandler | None:
        """The method's handler behind the interceptors, resolved per call as grpc.aio's server does."""
        details = _CallDetails(method, tuple(metadata))

        async def run(index: int, call_details: Any) -> grpc.RpcMethodHandler | None:
            if index == len(self._interceptors):
                return self._handlers.get(call_details.method)
            return await self._interceptors[index].intercept_service(
                lambda next_details: run(index + 1, next_details), call_details
            )

        return await run(0, details)

    def check_size(self, data: bytes, sent: bool) -> None:
        if len(data) > self._max:
            word = "Sent" if sent else "Received"
            raise _rpc_error(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"CLIENT: {word} message larger than max ({len(data)} vs. {self._max})",
            )


class _MultiCallable:
    def __init__(
        self,
        channel: InProcessChannel,
        method: str,
        request_serializer: Serializer,
        response_deserializer: Deserializer,
        *,
        streams_responses: bool,
    ) -> None:
        self._channel = channel
        self._method = method
        self._serialize = request_serializer
        self._deserialize = response_deserializer
        self._streams = streams_responses

    def __call__(self, request: Any, *, metadata: Metadata = (), timeout: float | None = None, **_: Any) -> Any:
        if self._streams:
            return _StreamCall(self, request, metadata, timeout)
        return _UnaryCall(self, request, metadata, timeout)

    def request_of(self, handler: grpc.RpcMethodHandler, request: Any, sent_as_stream: bool) -> Any:
        """The request as the handler would have it from the wire."""
        if sent_as_stream:
            return self._each_request(handler, request)
        return self._crossed(request, self._serialize, handler.request_deserializer, sent=True)

    async def _each_request(self, handler: grpc.RpcMethodHandler, requests: Any) -> AsyncIterator[Any]:
        async for request in requests:
            yield self._crossed(request, self._serialize, handler.request_deserializer, sent=True)

    def response_of(self, handler: grpc.RpcMethodHandler, response: Any) -> Any:
        return self._crossed(response, handler.response_serializer, self._deserialize, sent=False)

    def _crossed(self, value: Any, serialize: Serializer, deserialize: Deserializer, *, sent: bool) -> Any:
        data = serialize(value) if serialize is not None else value
        if isinstance(data, bytes):
            self._channel.check_size(data, sent)
        return deserialize(data) if deserialize is not None else data

    async def resolve(self, metadata: Metadata) -> tuple[grpc.RpcMethodHandler, Callable[..., Any], bool]:
        handler = await self._channel.handler(self._method, metadata)
        behavior = None
        if handler is not None:
            behavior = (
                handler.stream_stream or handler.unary_stream
                if self._streams
                else handler.stream_unary or handler.unary_unary
            )
        if handler is None or behavior is None:
            raise _rpc_error(grpc.StatusCode.UNIMPLEMENTED, "Method not found!")
        return handler, behavior, bool(handler.request_streaming)


class _UnaryCall:
    """A unary answer (to a unary request or a client stream), run in the caller's task when awaited."""

    def __init__(self, callable_: _MultiCallable, request: Any, metadata: Metadata, timeout: float | None) -> None:
        self._callable = callable_
        self._request = request
        self._metadata = metadata
        self._timeout = timeout
        self._context: InProcessContext | None = None

    def __await__(self) -> Generator[Any, None, Any]:
        return self._run().__await__()

    async def _run(self) -> Any:
        handler, behavior, streamed = await self._callable.resolve(self._metadata)
        context = self._context = InProcessContext(self._metadata, self._timeout, asyncio.current_task())
        request = self._callable.request_of(handler, self._request, streamed)
        try:
            async with asyncio.timeout(self._timeout):
                response = await behavior(request, context)
        except TimeoutError:
            raise _deadline_error() from None
        except Exception as error:
            raise context.failure(error) from None
        finally:
            context.ended = True
        failure = context.status()
        if failure is not None:
            raise failure
        return self._callable.response_of(handler, response)

    async def initial_metadata(self) -> Any:
        return grpc.aio.Metadata(*((self._context and self._context.initial) or ()))

    async def trailing_metadata(self) -> Any:
        return grpc.aio.Metadata(*(self._context.trailing_metadata() if self._context else ()))


_END = object()


class _StreamCall:
    """A server stream, run in a task of its own (as gRPC runs each call) that feeds a short queue.
    `cancel()` (the HTTP client left) cancels that task, so the servicer's stream ends; ending it
    from outside (shutdown, revocation) goes through the server's registry of open streams as for a
    gRPC client, and the status arrives as the stream's error."""

    def __init__(self, callable_: _MultiCallable, request: Any, metadata: Metadata, timeout: float | None) -> None:
        self._callable = callable_
        self._queue: asyncio.Queue[Any] = asyncio.Queue()  # messages, then _END
        self._room = asyncio.Semaphore(STREAM_AHEAD)
        self._error: BaseException | None = None
        self._context = InProcessContext(metadata, timeout)
        self._task = asyncio.get_running_loop().create_task(self._pump(request, metadata, timeout))
        self._context.task = self._task
        self._deadline = None if timeout is None else asyncio.get_running_loop().call_later(timeout, self._expire)
        self._expired = False

    def _expire(self) -> None:
        self._expired = True
        self._task.cancel()

    async def _pump(self, request: Any, metadata: Metadata, timeout: float | None) -> None:
        context = self._context
        try:
            handler, behavior, streamed = await self._callable.resolve(metadata)
            async for response in behavior(self._callable.request_of(handler, request, streamed), context):
                message = self._callable.response_of(handler, response)
                if context.initial is None:
                    context.initial = ()  # gRPC sends the headers with the first message
                context.headers_sent.set()
                await self._room.acquire()
                self._queue.put_nowait(message)
            self._error = context.status()
        except asyncio.CancelledError:
            self._error = _deadline_error() if self._expired else _cancelled_error()
            raise
        except Exception as error:
            self._error = context.failure(error)
        finally:
            context.ended = True
            context.headers_sent.set()
            if self._deadline is not None:
                self._deadline.cancel()
            self._queue.put_nowait(_END)

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._messages()

    async def _messages(self) -> AsyncIterator[Any]:
        while True:
            item = await self._queue.get()
            if item is _END:
                if self._error is not None:
                    raise self._error
                return
            self._room.release()
            yield item

    async def initial_metadata(self) -> Any:
        await self._context.headers_sent.wait()
        return grpc.aio.Metadata(*(self._context.initial or ()))

    async def trailing_metadata(self) -> Any:
        await asyncio.wait({self._task})
        return grpc.aio.Metadata(*self._context.trailing_metadata())

    def done(self) -> bool:
        return self._task.done()

    def cancel(self) -> bool:
        if self._task.done():
            return False
        self._task.cancel()
        return True
