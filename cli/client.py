"""The CLI's connection to the marketplace: where (discovery), who (token), and errors in words."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

import click
import grpc
import httpx

from cli import config
from cli.config import Credentials
from cli.context import DEFAULT_TIMEOUT

# Transparent retries of calls that never reached a servicer or found the server briefly away.
# Safe for creates too: each carries one request_id per command, so a retry never creates twice.
_SERVICE_CONFIG = json.dumps(
    {
        "methodConfig": [
            {
                "name": [{"service": ""}],
                "retryPolicy": {
                    "maxAttempts": 4,
                    "initialBackoff": "0.2s",
                    "maxBackoff": "2s",
                    "backoffMultiplier": 2,
                    "retryableStatusCodes": ["UNAVAILABLE"],
                },
            }
        ]
    }
)


@dataclass(frozen=True)
class Endpoint:
    api_url: str
    grpc_target: str
    tls: bool


def parse_api_url(api_url: str) -> tuple[str, str, bool]:
    """('http'|'grpc', 'host:port', tls) from http(s):// or grpc(s):// URLs."""
    parts = urlsplit(api_url.strip())
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https", "grpc", "grpcs") or not parts.hostname:
        raise click.BadParameter(
            f"{api_url!r} is not an API URL; use http(s)://HOST:PORT (the REST gateway) or grpc(s)://HOST:PORT",
            param_hint="--api-url",
        )
    tls = scheme in ("https", "grpcs")
    default_port = {"http": 80, "https": 443, "grpc": 50051, "grpcs": 443}[scheme]
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return ("grpc" if scheme.startswith("grpc") else "http"), f"{host}:{parts.port or default_port}", tls


def resolve(api_url: str) -> Endpoint:
    """The gRPC endpoint behind an API URL: itself for grpc(s)://, the gateway's discovery for http(s)://."""
    kind, target, tls = parse_api_url(api_url)
    if kind == "grpc":
        return Endpoint(api_url, target, tls)
    discovery_url = api_url.rstrip("/") + "/api/discovery"
    try:
        response = httpx.get(discovery_url, timeout=10.0)
    except httpx.HTTPError as error:
        raise click.ClickException(
            f"cannot reach {api_url} ({type(error).__name__}). Is mp-server running there? "
            "Check the URL, or pass grpc://HOST:PORT to skip the gateway."
        ) from None
    if response.status_code != 200:
        raise click.ClickException(f"{discovery_url} answered HTTP {response.status_code}; is this an mp-server?")
    try:
        grpc_target = str(response.json()["grpcTarget"])
    except (ValueError, KeyError, TypeError):
        raise click.ClickException(f"{discovery_url} did not answer like an mp-server (no grpcTarget)") from None
    return Endpoint(api_url, grpc_target, tls)


def current_credentials() -> Credentials:
    """Stored credentials with MP_API_URL / MP_TOKEN applied on top."""
    stored = config.load_stored()
    env_url, env_token = os.environ.get("MP_API_URL"), os.environ.get("MP_TOKEN")
    if stored is None and not env_token:
        raise click.ClickException("not logged in. Run: mp login --api-url http://HOST:3010 (or set MP_TOKEN)")
    if env_url and (stored is None or env_url.rstrip("/") != stored.api_url):
        if not env_token:  # a stored token goes only to the server it was stored for
            raise click.ClickException(
                f"MP_API_URL ({env_url}) is not the server you logged in to ({stored.api_url if stored else '-'}); "
                "set MP_TOKEN for it too, or run mp login --api-url " + env_url
            )
        return Credentials(api_url=env_url, token=env_token)
    base = stored or Credentials(api_url=config.DEFAULT_API_URL, token="")
    return Credentials(base.api_url, env_token or base.token, base.grpc_target, base.tls)


class Session:
    """An open channel plus the caller's token, for one CLI command."""

    def __init__(self, endpoint: Endpoint, token: str) -> None:
        self.endpoint = endpoint
        self.metadata: tuple[tuple[str, str], ...] = (("authorization", f"Bearer {token}"),) if token else ()
        credentials = grpc.ssl_channel_credentials() if endpoint.tls else None
        options = [("grpc.service_config", _SERVICE_CONFIG), ("grpc.enable_retries", 1)]
        self.channel = (
            grpc.secure_channel(endpoint.grpc_target, credentials, options)
            if credentials
            else grpc.insecure_channel(endpoint.grpc_target, options)
        )

    def call(self, method, request, timeout: float = DEFAULT_TIMEOUT):
        with translate_errors(self.endpoint):
            return method(request, metadata=self.metadata, timeout=timeout)

    def close(self) -> None:
        self.channel.close()


def connect(credentials: Credentials | None = None) -> Session:
    """A session for `credentials` (default: the current ones), its endpoint resolved unless stored."""
    credentials = credentials or current_credentials()
    endpoint = (
        Endpoint(credentials.api_url, credentials.grpc_target, credentials.tls)
        if credentials.grpc_target
        else resolve(credentials.api_url)
    )
    return Session(endpoint, credentials.token)


@contextmanager
def translate_errors(endpoint: Endpoint) -> Iterator[None]:
    """gRPC failures as messages that say what to do next (never including the token)."""
    try:
        yield
    except grpc.RpcError as error:
        code, details = error.code(), error.details() or ""  # type: ignore[attr-defined]
        if code == grpc.StatusCode.UNAVAILABLE:
            message = (
                f"cannot reach the marketplace's gRPC endpoint {endpoint.grpc_target} ({details}). "
                f"Is mp-server running? Logged in against {endpoint.api_url}."
            )
        elif code == grpc.StatusCode.UNAUTHENTICATED:
            message = f"{details}. Log in again: mp login --api-url {endpoint.api_url}"
        elif code == grpc.StatusCode.PERMISSION_DENIED:
            message = f"{details}. Ask an operator for a token with that scope."
        elif code == grpc.StatusCode.DEADLINE_EXCEEDED:
            message = "the server did not answer in time; try again"
        elif code == grpc.StatusCode.RESOURCE_EXHAUSTED:
            message = f"{details} (rate limited)"
        else:
            message = details or code.name.lower()
        raise click.ClickException(message) from None
