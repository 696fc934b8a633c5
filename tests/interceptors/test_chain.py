"""The policy interceptor wraps all four arities: checks run first, errors are mapped even mid-stream;
request checks see the unary request or a client stream's first message, which still reaches the servicer."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator

import grpc
import pytest

from mlmp_interceptors.chain import PolicyInterceptor
from mlmp_server.core.errors import NotFound, PermissionDenied


async def _unary_unary(request: bytes, context) -> bytes:
    return request.upper()


async def _unary_stream(request: bytes, context) -> AsyncIterator[bytes]:
    yield b"one"
    yield b"two"
    if request == b"fail":
        raise NotFound("gone mid-stream")


async def _stream_unary(requests, context) -> bytes:
    return b"+".join([item async for item in requests])


async def _stream_stream(requests, context) -> AsyncIterator[bytes]:
    async for item in requests:
        if item == b"boom":
            raise RuntimeError("secret internals")
        yield item[::-1]


class DenyNamed:
    async def __call__(self, method: str, context) -> None:
        if "Deny" in method:
            raise PermissionDenied("not for you")


class DenyRequest:
    """Reads the request of "Peek" methods only; refuses b"deny-me"; remembers what it saw."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, bytes | None]] = []

    async def __call__(self, method: str, context, request) -> None:
        if "Peek" not in method:
            return
        first = await request()
        self.seen.append((method, first))
        if first == b"deny-me":
            raise NotFound("no such thing")


REQUESTS = DenyRequest()


def _handlers() -> grpc.GenericRpcHandler:
    identity = {"request_deserializer": None, "response_serializer": None}
    return grpc.method_handlers_generic_handler(
        "test.Arity",
        {
            "UU": grpc.unary_unary_rpc_method_handler(_unary_unary, **identity),
            "DenyUU": grpc.unary_unary_rpc_method_handler(_unary_unary, **identity),
            "US": grpc.unary_stream_rpc_method_handler(_unary_stream, **identity),
            "DenyUS": grpc.unary_stream_rpc_method_handler(_unary_stream, **identity),
            "SU": grpc.stream_unary_rpc_method_handler(_stream_unary, **identity),
            "SS": grpc.stream_stream_rpc_method_handler(_stream_stream, **identity),
            "PeekUU": grpc.unary_unary_rpc_method_handler(_unary_unary, **identity),
            "DenyPeekUU": grpc.unary_unary_rpc_method_handler(_unary_unary, **identity),
            "PeekSU": grpc.stream_unary_rpc_method_handler(_stream_unary, **identity),
            "PeekSS": grpc.stream_stream_rpc_method_handler(_stream_stream, **identity),
        },
    )


@pytest.fixture(scope="module")
def target() -> Iterator[str]:
    ready = threading.Event()
    state: dict = {}

    async def main() -> None:
        server = grpc.aio.server(interceptors=[PolicyInterceptor(checks=[DenyNamed()], request_checks=[REQUESTS])])
        server.add_generic_rpc_handlers([_handlers()])
        state["port"] = server.add_insecure_port("127.0.0.1:0")
        state["stop"] = asyncio.Event()
        state["loop"] = asyncio.get_running_loop()
        await server.start()
        ready.set()
        await state["stop"].wait()
        await server.stop(0)

    thread = threading.Thread(target=lambda: asyncio.run(main()), daemon=True)
    thread.start()
    assert ready.wait(10)
    yield f"127.0.0.1:{state['port']}"
    state["loop"].call_soon_threadsafe(state["stop"].set)
    thread.join(10)


@pytest.fixture
def channel(target: str) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(target) as open_channel:
        yield open_channel


def test_all_four_arities_pass_through(channel):
    assert channel.unary_unary("/test.Arity/UU")(b"abc") == b"ABC"
    assert list(channel.unary_stream("/test.Arity/US")(b"ok")) == [b"one", b"two"]
    assert channel.stream_unary("/test.Arity/SU")(iter([b"a", b"b"])) == b"a+b"
    assert list(channel.stream_stream("/test.Arity/SS")(iter([b"ab", b"cd"]))) == [b"ba", b"dc"]


def test_checks_refuse_unary_and_streaming_calls_before_they_run(channel):
    with pytest.raises(grpc.RpcError) as unary:
        channel.unary_unary("/test.Arity/DenyUU")(b"x")
    with pytest.raises(grpc.RpcError) as streaming:
        list(channel.unary_stream("/test.Arity/DenyUS")(b"x"))
    for caught in (unary, streaming):
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert caught.value.details() == "not for you"


def test_an_error_mid_stream_is_mapped_after_the_messages_sent(channel):
    received = []
    with pytest.raises(grpc.RpcError) as caught:
        received.extend(channel.unary_stream("/test.Arity/US")(b"fail"))  # keeps what arrived before the error
    assert received == [b"one", b"two"]
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert caught.value.details() == "gone mid-stream"


def test_an_unexpected_exception_is_internal_without_its_text(channel):
    with pytest.raises(grpc.RpcError) as caught:
        list(channel.stream_stream("/test.Arity/SS")(iter([b"ok", b"boom"])))
    assert caught.value.code() == grpc.StatusCode.INTERNAL
    assert "secret internals" not in caught.value.details()
    assert "reference" in caught.value.details()


def _code(call) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    return caught.value.code()


def test_a_request_check_sees_the_unary_request(channel):
    assert channel.unary_unary("/test.Arity/PeekUU")(b"abc") == b"ABC"
    assert _code(lambda: channel.unary_unary("/test.Arity/PeekUU")(b"deny-me")) == grpc.StatusCode.NOT_FOUND
    assert ("/test.Arity/PeekUU", b"abc") in REQUESTS.seen


def test_a_client_streams_first_message_is_checked_and_still_delivered(channel):
    assert channel.stream_unary("/test.Arity/PeekSU")(iter([b"a", b"b", b"c"])) == b"a+b+c"
    assert list(channel.stream_stream("/test.Arity/PeekSS")(iter([b"ab", b"cd"]))) == [b"ba", b"dc"]
    refused = _code(lambda: channel.stream_unary("/test.Arity/PeekSU")(iter([b"deny-me", b"x"])))
    assert refused == grpc.StatusCode.NOT_FOUND


def test_an_empty_client_stream_reaches_the_check_as_none(channel):
    assert list(channel.stream_stream("/test.Arity/PeekSS")(iter([]))) == []
    assert ("/test.Arity/PeekSS", None) in REQUESTS.seen


def test_request_checks_run_only_after_the_other_checks_let_the_call_in(channel):
    assert _code(lambda: channel.unary_unary("/test.Arity/DenyPeekUU")(b"x")) == grpc.StatusCode.PERMISSION_DENIED
    assert all(method != "/test.Arity/DenyPeekUU" for method, _ in REQUESTS.seen)
