"""A local fake of RunPod's REST API (pods: create, get, terminate) that checks request shapes
against RunPod's published API and runs each pod's start command as a local process in a copy of
the "image" (a project folder)."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import threading
import uuid
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

GPU_TYPES = {"NVIDIA A40", "NVIDIA GeForce RTX 4090", "NVIDIA A100 80GB PCIe"}


def problem(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"title": "Bad Request" if status == 400 else "Error", "status": status, "detail": detail},
                        status_code=status)  # fmt: skip


def shape_errors(body: object) -> list[str]:
    """What RunPod's POST /pods would refuse (name, imageName, gpuTypeIds, counts, enums, env, ports)."""
    if not isinstance(body, dict):
        return ["the body must be an object"]
    errors = []
    if not isinstance(body.get("imageName"), str) or not body["imageName"]:
        errors.append("imageName is required")
    if body.get("computeType", "GPU") not in ("GPU", "CPU"):
        errors.append("computeType must be GPU or CPU")
    if body.get("cloudType", "SECURE") not in ("SECURE", "COMMUNITY"):
        errors.append("cloudType must be SECURE or COMMUNITY")
    gpus = body.get("gpuTypeIds")
    if body.get("computeType", "GPU") == "GPU":
        if not isinstance(gpus, list) or not gpus or not all(isinstance(g, str) for g in gpus):
            errors.append("gpuTypeIds must be a non-empty list of GPU type ids")
        elif not set(gpus) <= GPU_TYPES:
            errors.append(f"unknown GPU type {sorted(set(gpus) - GPU_TYPES)}")
    if not isinstance(body.get("gpuCount", 1), int) or body.get("gpuCount", 1) < 1:
        errors.append("gpuCount must be a positive integer")
    env = body.get("env", {})
    if not isinstance(env, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in env.items()):
        errors.append("env must be an object of strings")
    command = body.get("dockerStartCmd", [])
    if not isinstance(command, list) or not all(isinstance(part, str) for part in command):
        errors.append("dockerStartCmd must be a list of strings")
    ports = body.get("ports", [])
    if not isinstance(ports, list) or not all(
        isinstance(port, str) and re.fullmatch(r"\d{1,5}/(http|tcp)", port) for port in ports
    ):
        errors.append('ports must be a list such as ["8080/http", "22/tcp"]')
    if not isinstance(body.get("containerDiskInGb", 20), int):
        errors.append("containerDiskInGb must be an integer")
    return errors


class FakeRunPod:
    def __init__(self, key: str, images: dict[str, Path], workdir: Path, path_prefix: str) -> None:
        self.key, self.images, self.workdir, self.path_prefix = key, images, workdir, path_prefix
        self.requests: list[tuple[str, str, object]] = []
        self.pods: dict[str, dict] = {}
        self.processes: dict[str, subprocess.Popen] = {}
        self._ready = threading.Event()
        self.port = 0

    def _authorised(self, request: Request) -> bool:
        return request.headers.get("authorization") == f"Bearer {self.key}"

    async def create(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append(("POST", "/pods", body))
        if not self._authorised(request):
            return problem(401, "invalid API key")
        errors = shape_errors(body)
        if errors:
            return problem(400, "; ".join(errors))
        image = self.images.get(body["imageName"])
        if image is None:
            return problem(400, f"image {body['imageName']} cannot be pulled")
        pod_id = uuid.uuid4().hex[:14]
        container = self.workdir / pod_id
        shutil.copytree(image, container, ignore=shutil.ignore_patterns(".mp"))
        env = {"PATH": f"{self.path_prefix}{os.pathsep}{os.environ['PATH']}", "HOME": str(container),
               "RUNPOD_POD_ID": pod_id, **body.get("env", {})}  # fmt: skip
        self.processes[pod_id] = subprocess.Popen(
            body["dockerStartCmd"], cwd=container, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self.pods[pod_id] = {"id": pod_id, "name": body.get("name", ""), "imageName": body["imageName"],
                             "desiredStatus": "RUNNING", "env": body.get("env", {})}  # fmt: skip
        return JSONResponse({k: v for k, v in self.pods[pod_id].items() if k != "env"}, status_code=201)

    async def get(self, request: Request) -> Response:
        pod_id = request.path_params["pod_id"]
        self.requests.append(("GET", f"/pods/{pod_id}", None))
        if not self._authorised(request):
            return problem(401, "invalid API key")
        pod = self.pods.get(pod_id)
        if pod is None:
            return problem(404, "pod not found")
        process = self.processes[pod_id]
        if pod["desiredStatus"] == "RUNNING" and process.poll() is not None:
            pod["desiredStatus"] = "EXITED"
        return JSONResponse({k: v for k, v in pod.items() if k != "env"})

    async def delete(self, request: Request) -> Response:
        pod_id = request.path_params["pod_id"]
        self.requests.append(("DELETE", f"/pods/{pod_id}", None))
        if not self._authorised(request):
            return problem(401, "invalid API key")
        if pod_id not in self.pods:
            return problem(404, "pod not found")
        process = self.processes[pod_id]
        if process.poll() is None:
            process.terminate()
            process.wait(10)
        self.pods[pod_id]["desiredStatus"] = "TERMINATED"
        return Response(status_code=204)

    def start(self) -> FakeRunPod:
        app = Starlette(routes=[
            Route("/v1/pods", self.create, methods=["POST"]),
            Route("/v1/pods/{pod_id}", self.get, methods=["GET"]),
            Route("/v1/pods/{pod_id}", self.delete, methods=["DELETE"]),
        ])  # fmt: skip
        self._server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, lifespan="off"))

        def run() -> None:
            async def main() -> None:
                task = asyncio.create_task(self._server.serve())
                while not self._server.started:
                    await asyncio.sleep(0.01)
                self.port = self._server.servers[0].sockets[0].getsockname()[1]
                self._ready.set()
                await task

            asyncio.run(main())

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        assert self._ready.wait(10)
        return self

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.kill()
        self._server.should_exit = True
        self._thread.join(10)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"
