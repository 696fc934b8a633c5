"""RunPod's REST API (pods), as the RunPod training provider needs it.

The API key comes from RUNPOD_API_KEY or RunPod's own config (~/.runpod/config.toml); it is sent
as a bearer token and never printed. RUNPOD_API_BASE_URL points the client elsewhere (tests use a
local fake). Over the rate limit (429) it waits as told and tries again.
"""

from __future__ import annotations

import os
import time
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from mlmp_cli.project import Project

DEFAULT_BASE_URL = "https://rest.runpod.io/v1"
MAX_RETRIES = 4


class RunPodError(Exception):
    pass


def api_key() -> str:
    """RUNPOD_API_KEY, else the key `mp login --runpod-api-key` stored, else RunPod's own config."""
    from mlmp_cli import config

    key = os.environ.get("RUNPOD_API_KEY", "")
    if key:
        return key
    stored = config.load_stored()
    if stored is not None and stored.runpod_api_key:
        return stored.runpod_api_key
    runpod_config = Path.home() / ".runpod" / "config.toml"  # RunPod's own tools keep it here
    if runpod_config.exists():
        try:
            return str(tomllib.loads(runpod_config.read_text()).get("default", {}).get("api_key", ""))
        except tomllib.TOMLDecodeError:
            pass
    raise RunPodError("no RunPod API key: set RUNPOD_API_KEY, or store one with mp login --runpod-api-key")


class RunPodClient:
    def __init__(self, key: str, base_url: str | None = None, client: httpx.Client | None = None) -> None:
        self._base = (base_url or os.environ.get("RUNPOD_API_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
        self._http = client or httpx.Client(timeout=30.0)
        self._headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

    def _request(self, method: str, path: str, body: dict | None = None) -> Any:
        for attempt in range(MAX_RETRIES + 1):
            try:
                response = self._http.request(method, self._base + path, json=body, headers=self._headers)
            except httpx.HTTPError as error:
                raise RunPodError(f"RunPod is unreachable ({type(error).__name__})") from None
            if response.status_code == 429 and attempt < MAX_RETRIES:
                time.sleep(float(response.headers.get("Retry-After", 2**attempt)))
                continue
            if response.status_code >= 400:
                raise RunPodError(f"RunPod refused {method} {path}: HTTP {response.status_code}: {_reason(response)}")
            return response.json() if response.content else None
        raise AssertionError("unreachable")

    def create_pod(self, spec: dict[str, Any]) -> dict[str, Any]:
        return self._request("POST", "/pods", spec)

    def get_pod(self, pod_id: str) -> dict[str, Any]:
        return self._request("GET", f"/pods/{pod_id}")

    def terminate_pod(self, pod_id: str) -> None:
        self._request("DELETE", f"/pods/{pod_id}")


def _reason(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict):  # {"message": …} or RFC 9457 {"title", "detail"}
        return str(body.get("detail") or body.get("message") or body.get("title") or body)[:300]
    return str(body)[:300]


def client_for(project: Project, gpu: str) -> RunPodClient:
    """A client, once the project names an image and a GPU type is known; else a message saying what to do."""
    import click

    if not project.image or "YOUR-ORG" in project.image:
        raise click.ClickException("mp.yaml's image is not set: build the Dockerfile, push it, and put its name there")
    if not gpu:
        raise click.ClickException("say which GPU: --gpu 'NVIDIA A40' (or resources.gpu in mp.yaml)")
    try:
        return RunPodClient(api_key())
    except RunPodError as error:
        raise click.ClickException(str(error)) from None


def pod_spec(
    *, name: str, image: str, gpu: str, env: dict[str, str], command: list[str], port: int = 0, disk_gb: int = 20
) -> dict[str, Any]:
    """A pod running the project's image with `command` (RunPod's REST pod-create input); with a port,
    serving HTTP on it."""
    spec: dict[str, Any] = {
        "name": name,
        "imageName": image,
        "gpuTypeIds": [gpu],
        "gpuCount": 1,
        "cloudType": "SECURE",
        "computeType": "GPU",
        "containerDiskInGb": disk_gb,
        "env": env,
        "dockerStartCmd": command,
    }
    if port:
        spec["ports"] = [f"{port}/http"]
        spec["env"] = {**env, "PORT": str(port), "PORT_HEALTH": str(port)}
    return spec
