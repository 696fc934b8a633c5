"""Every log line of a call carries its request id (the caller's `x-request-id` metadata, or a made-up
one) and method: the servicer's own lines, those of work it hands to other tasks and threads, the
error mapping's and the access line. Over a real gRPC connection and through the in-process channel."""

from __future__ import annotations

import asyncio
import logging
import re
import threading
from collections.abc import AsyncIterator, Iterator

import grpc
import pytest

from mlmp_interceptors.chain import PolicyInterceptor
from mlmp_server.core.completion import finish_even_if_cancelled
from mlmp_server.gateway.inprocess import InProcessChannel
from tests.helpers.logs import JsonLines, json_logs

log = logging.getLogger("mp.test.servicer")
MADE_UP = re.compile(r"[0-9a-f]{32}")


async def _talk(request: bytes, context) -> bytes:
    log.info("handling %s", request.decode())
    await finish_even_if_cancelled(_unit_of_work())
    await asyncio.to_thread(log.info, "in a thread")
    if request == b"boom":
        raise RuntimeError("unexpected")
    return request


async def _unit_of_work() -> None:
    log.info("in a task of its own")


async def _stream(request: bytes, context) -> AsyncIterator[bytes]:
    log.info("streaming")
    yield request


HANDLERS = {
    "/test.Ids/Talk": grpc.unary_unary_rpc_method_handler(_talk),
    "/test.Ids/Stream": grpc.unary_stream_rpc_method_handler(_stream),
}


class Served:
    def __init__(self) -> None:
        self.interceptor = PolicyInterceptor(checks=[])
        self.in_process = InProcessChannel(HANDLERS, [self.interceptor], max_message_bytes=1 << 20)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.port = 0

    def run(self, coroutine):
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(10)


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    state = Served()
    ready, stop = threading.Event(), threading.Event()

    async def main() -> None:
        server = grpc.aio.server(interceptors=[state.interceptor])
        server.add_generic_rpc_handlers(
            [grpc.method_handlers_generic_handler("test.Ids", {k.rsplit("/", 1)[1]: v for k, v in HANDLERS.items()})]
        )
        state.port = server.add_insecure_port("127.0.0.1:0")
        state.loop = asyncio.get_running_loop()
        await server.start()
        ready.set()
        await asyncio.to_thread(stop.wait)
        await server.stop(0)

    thread = threading.Thread(target=lambda: asyncio.run(main()), daemon=True)
    thread.start()
    assert ready.wait(10)
    yield state
    stop.set()
    thread.join(10)


@pytest.fixture
def lines() -> Iterator[JsonLines]:
    with json_logs() as captured:
        yield captured


def _messages(lines: list[dict]) -> list[str]:
    return [line["message"] for line in lines]


def test_a_grpc_calls_lines_all_carry_the_callers_request_id(served, lines):
    with grpc.insecure_channel(f"127.0.0.1:{served.port}") as channel:
        channel.unary_unary("/test.Ids/Talk")(b"hello", metadata=[("x-request-id", "req-grpc-1")])
    of_call = lines.of_call("req-grpc-1")
    assert _messages(of_call)[:3] == ["handling hello", "in a task of its own", "in a thread"]
    assert [line["logger"] for line in of_call][-1] == "mp.access"
    assert {line["method"] for line in of_call} == {"/test.Ids/Talk"}
    assert len(of_call) == 4


def test_the_error_mappings_line_carries_it_too(served, lines):
    with grpc.insecure_channel(f"127.0.0.1:{served.port}") as channel, pytest.raises(grpc.RpcError):
        channel.unary_unary("/test.Ids/Talk")(b"boom", metadata=[("x-request-id", "req-grpc-2")])
    loggers = [line["logger"] for line in lines.of_call("req-grpc-2")]
    assert loggers == ["mp.test.servicer"] * 3 + ["mp.errors", "mp.access"]
    (error,) = [line for line in lines.of_call("req-grpc-2") if line["logger"] == "mp.errors"]
    assert "RuntimeError: unexpected" in error["exception"]


def test_without_one_each_call_gets_a_new_id_of_its_own(served, lines):
    with grpc.insecure_channel(f"127.0.0.1:{served.port}") as channel:
        for sent in (None, [("x-request-id", "not safe to log")]):
            channel.unary_unary("/test.Ids/Talk")(b"anon", metadata=sent)
    ids = [line["request_id"] for line in lines.all() if line["message"] == "handling anon"]
    assert len(set(ids)) == 2
    assert all(MADE_UP.fullmatch(request_id) for request_id in ids)
    for request_id in ids:  # the access line of each call has that call's id
        assert [line["logger"] for line in lines.of_call(request_id)][-1] == "mp.access"


def test_server_streams_and_in_process_calls_carry_it(served, lines):
    with grpc.insecure_channel(f"127.0.0.1:{served.port}") as channel:
        list(channel.unary_stream("/test.Ids/Stream")(b"s", metadata=[("x-request-id", "req-stream")]))

    async def in_process() -> None:
        identity = {"request_serializer": None, "response_deserializer": None}
        await served.in_process.unary_unary("/test.Ids/Talk", **identity)(
            b"local", metadata=[("x-request-id", "req-local")]
        )
        async for _ in served.in_process.unary_stream("/test.Ids/Stream", **identity)(
            b"s", metadata=[("x-request-id", "req-local-stream")]
        ):
            pass

    served.run(in_process())
    assert _messages(lines.of_call("req-stream"))[0] == "streaming"
    assert _messages(lines.of_call("req-local"))[:3] == ["handling local", "in a task of its own", "in a thread"]
    assert _messages(lines.of_call("req-local-stream"))[0] == "streaming"
    for request_id in ("req-stream", "req-local", "req-local-stream"):
        assert lines.of_call(request_id)[-1]["logger"] == "mp.access"
