"""The test-only `Things` service: compiled from things.proto at test time, served by a real gRPC
server with the gateway in front on a real HTTP port. The gateway reaches it over a gRPC channel, or
(`in_process=True`) through an InProcessChannel over the handlers the server registered, as mp-server's does."""

from __future__ import annotations

import asyncio
import importlib
import subprocess
import sys
import threading
from pathlib import Path
from types import ModuleType

import grpc
import uvicorn
from google.protobuf import any_pb2, duration_pb2
from google.rpc import error_details_pb2, status_pb2
from starlette.applications import Starlette
from starlette.routing import Route

from mlmp_server.gateway.app import Channel, Gateway
from mlmp_server.gateway.inprocess import InProcessChannel

HERE = Path(__file__).parent


def compile_things(out: Path) -> tuple[ModuleType, ModuleType]:
    import google.api.annotations_pb2 as annotations

    includes = Path(annotations.__file__).parents[2]
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", f"-I{HERE}", f"-I{includes}",
         f"--python_out={out}", f"--grpc_python_out={out}", str(HERE / "things.proto")],
        check=True,
    )  # fmt: skip
    sys.path.insert(0, str(out))
    return importlib.import_module("things_pb2"), importlib.import_module("things_pb2_grpc")


def make_servicer(pb, pb_grpc):
    class Things(pb_grpc.ThingsServicer):
        def _echo(self, rpc: str, request, context) -> object:
            metadata = {k: v for k, v in context.invocation_metadata() if isinstance(v, str)}
            remaining = context.time_remaining() or 0.0
            return pb.Echo(thing=request, rpc=rpc, metadata=metadata, timeout_seconds=remaining)

        async def Get(self, request, context):
            await context.send_initial_metadata((("x-served-by", "things"),))
            return self._echo("Get", request, context)

        async def GetNamed(self, request, context):
            return self._echo("GetNamed", request, context)

        async def GetPath(self, request, context):
            return self._echo("GetPath", request, context)

        async def GetByCount(self, request, context):
            return self._echo("GetByCount", request, context)

        async def GetNested(self, request, context):
            return self._echo("GetNested", request, context)

        async def GetSpecial(self, request, context):
            return self._echo("GetSpecial", request, context)

        async def Create(self, request, context):
            return self._echo("Create", request, context)

        async def Update(self, request, context):
            return self._echo("Update", request, context)

        async def Archive(self, request, context):
            return self._echo("Archive", request, context)

        async def Describe(self, request, context):
            return self._echo("Describe", request, context)

        async def Remove(self, request, context):
            return self._echo("Remove", request, context)

        async def Fail(self, request, context):
            code = grpc.StatusCode[request.name]
            trailers: list[tuple[str, str | bytes]] = [("x-why", "asked")]
            if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
                retry = error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=3))
                packed = any_pb2.Any()
                packed.Pack(retry)
                status = status_pb2.Status(code=code.value[0], message="slow down", details=[packed])
                trailers += [("retry-after-ms", "2500"), ("grpc-status-details-bin", status.SerializeToString())]
            await context.abort(code, f"failed with {request.name}", trailing_metadata=tuple(trailers))

        async def Count(self, request, context):
            if request.fail_before_first:
                await context.abort(grpc.StatusCode.NOT_FOUND, "nothing to count")
            try:
                for index in range(request.count):
                    if request.pause_ms:
                        await asyncio.sleep(request.pause_ms / 1000)
                    yield pb.Echo(rpc="Count", thing=pb.Thing(count=index))
                    if request.fail_after_first:
                        await context.abort(grpc.StatusCode.DATA_LOSS, "lost the rest")
            except asyncio.CancelledError:
                self.cancelled_counts += 1
                raise

        async def Collect(self, request_iterator, context):
            names = [thing.name async for thing in request_iterator]
            return pb.Echo(rpc="Collect", thing=pb.Thing(tags=names))

        cancelled_counts = 0

    return Things()


class HandlerRecorder:
    """Stands in for a server while a servicer is added: keeps its handlers by full method path."""

    def __init__(self) -> None:
        self.handlers: dict[str, grpc.RpcMethodHandler] = {}

    def add_generic_rpc_handlers(self, handlers) -> None:
        pass

    def add_registered_method_handlers(self, service: str, handlers) -> None:
        self.handlers.update({f"/{service}/{name}": handler for name, handler in handlers.items()})


class GatewayHarness:
    """A gRPC server for Things and the gateway on real ports, in one background event loop."""

    def __init__(self, pb, pb_grpc, *, in_process: bool = False) -> None:
        self.in_process = in_process
        self.pb, self.servicer = pb, make_servicer(pb, pb_grpc)
        self._pb_grpc = pb_grpc
        self._ready = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)
        self.http_port = 0
        self.error: BaseException | None = None

    async def _main(self) -> None:
        try:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            grpc_server = grpc.aio.server()
            self._pb_grpc.add_ThingsServicer_to_server(self.servicer, grpc_server)
            grpc_port = grpc_server.add_insecure_port("127.0.0.1:0")
            await grpc_server.start()
            channel: Channel = grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port}")
            if self.in_process:
                recorder = HandlerRecorder()
                self._pb_grpc.add_ThingsServicer_to_server(self.servicer, recorder)
                channel = InProcessChannel(recorder.handlers, (), max_message_bytes=4 * 1024 * 1024)
            gateway = self.gateway = Gateway(
                [self.pb.DESCRIPTOR.services_by_name["Things"]], channel, default_timeout=7.0
            )
            app = Starlette(
                routes=[Route("/{path:path}", gateway.handle, methods=["GET", "POST", "PATCH", "DELETE", "PUT"])]
            )
            config = uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, lifespan="off")
            http = uvicorn.Server(config)
            task = asyncio.create_task(http.serve())
            while not http.started:
                await asyncio.sleep(0.01)
            self.http_port = http.servers[0].sockets[0].getsockname()[1]
            self._ready.set()
            await self._stop.wait()
            http.should_exit = True
            await task
            await channel.close()
            await grpc_server.stop(0)
        except BaseException as error:
            self.error = error
            self._ready.set()

    def start(self) -> GatewayHarness:
        self._thread.start()
        assert self._ready.wait(20), "gateway harness did not start"
        if self.error:
            raise self.error
        return self

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"
