"""The CLI's connection to the marketplace: where (discovery), who (token), and errors in words."""

from __future__ import annotations

import http.client
import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

import click
import grpc

from mlmp_cli import config, http_get
from mlmp_cli.config import Credentials
from mlmp_cli.context import DEFAULT_TIMEOUT
from mlmp_cli.exit_codes import CommandFailed, ExitCode

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


DISCOVERY_LIMIT = 64 * 1024  # bytes of the discovery document read at most


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
        with http_get.get(discovery_url, timeout=10.0) as response:
            status, body = response.status, response.read(DISCOVERY_LIMIT)
    except (OSError, http.client.HTTPException, http_get.HttpGetError):
        raise CommandFailed(
            f"cannot reach the marketplace at {api_url}: is mp-server running there? "
            "Check the URL, or pass grpc://HOST:PORT to skip the gateway.",
            ExitCode.UNREACHABLE,
        ) from None
    if status != 200:
        raise CommandFailed(f"{discovery_url} answered HTTP {status}; is this an mp-server?", ExitCode.UNREACHABLE)
    try:
        grpc_target = str(json.loads(body)["grpcTarget"])
    except (ValueError, KeyError, TypeError):
        raise CommandFailed(
            f"{discovery_url} did not answer like an mp-server (no grpcTarget)", ExitCode.UNREACHABLE
        ) from None
    return Endpoint(api_url, grpc_target, tls)


def current_credentials() -> Credentials:
    """Stored credentials with MP_API_URL / MP_TOKEN applied on top."""
    stored = config.load_stored()
    env_url, env_token = os.environ.get("MP_API_URL"), os.environ.get("MP_TOKEN")
    if stored is None and not env_token:
        raise CommandFailed(
            "not logged in. Run: mp login --api-url http://HOST:3010 (or set MP_TOKEN)", ExitCode.NOT_ALLOWED
        )
    if env_url and (stored is None or env_url.rstrip("/") != stored.api_url):
        if not env_token:  # a stored token goes only to the server it was stored for
            raise CommandFailed(
                f"MP_API_URL ({env_url}) is not the server you logged in to ({stored.api_url if stored else '-'}); "
                "set MP_TOKEN for it too, or run mp login --api-url " + env_url,
                ExitCode.NOT_ALLOWED,
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


# gRPC core's own words for a connection that never worked (not a message from mp-server).
_TRANSPORT_FAILURE = re.compile(
    r"failed to connect|connection refused|connection reset|dns resolution|socket closed|goaway|handshake"
    r"|broken pipe|ipv[46]:|unix:|end of tcp stream",
    re.IGNORECASE,
)

# Each gRPC status as the exit code that names its kind: the one place `mp`'s exit codes come from.
EXIT_CODE_OF_STATUS = {
    grpc.StatusCode.NOT_FOUND: ExitCode.NOT_FOUND,
    grpc.StatusCode.UNAUTHENTICATED: ExitCode.NOT_ALLOWED,
    grpc.StatusCode.PERMISSION_DENIED: ExitCode.NOT_ALLOWED,
    grpc.StatusCode.UNAVAILABLE: ExitCode.UNREACHABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED: ExitCode.UNREACHABLE,
    grpc.StatusCode.INVALID_ARGUMENT: ExitCode.INVALID,
    grpc.StatusCode.OUT_OF_RANGE: ExitCode.INVALID,
    grpc.StatusCode.ALREADY_EXISTS: ExitCode.CONFLICT,
    grpc.StatusCode.FAILED_PRECONDITION: ExitCode.CONFLICT,
    grpc.StatusCode.ABORTED: ExitCode.CONFLICT,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ExitCode.RATE_LIMITED,
    grpc.StatusCode.CANCELLED: ExitCode.INTERRUPTED,
}


def unreachable(endpoint: Endpoint) -> CommandFailed:
    found_through_gateway = not endpoint.api_url.lower().startswith("grpc")
    where = endpoint.grpc_target + (f" (from {endpoint.api_url})" if found_through_gateway else "")
    return CommandFailed(
        f"cannot reach the marketplace at {where}: is mp-server running there? "
        "Start it, or point mp at another one with mp login --api-url URL (or MP_API_URL).",
        ExitCode.UNREACHABLE,
    )


def failure_of(error: grpc.RpcError, endpoint: Endpoint) -> CommandFailed:
    """A gRPC failure as one sentence that says what to do next (never the token), with its exit code."""
    code, details = error.code(), error.details() or ""  # type: ignore[attr-defined]
    exit_code = EXIT_CODE_OF_STATUS.get(code, ExitCode.FAILED)
    if code == grpc.StatusCode.UNAVAILABLE and (not details or _TRANSPORT_FAILURE.search(details)):
        return unreachable(endpoint)
    if code == grpc.StatusCode.UNAVAILABLE:
        message = f"the marketplace at {endpoint.grpc_target} is unavailable: {details}; try again in a moment"
    elif code == grpc.StatusCode.UNAUTHENTICATED:
        message = f"{details}. Log in again: mp login --api-url {endpoint.api_url}"
    elif code == grpc.StatusCode.PERMISSION_DENIED:
        message = f"{details}. Ask an operator for a token with that scope."
    elif code == grpc.StatusCode.DEADLINE_EXCEEDED:
        message = f"the marketplace at {endpoint.grpc_target} did not answer in time; try again"
    elif code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        message = f"{details} (rate limited)"
    elif code in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN) and _TRANSPORT_FAILURE.search(details):
        return unreachable(endpoint)
    else:
        message = details or code.name.lower().replace("_", " ")
    return CommandFailed(message, exit_code)


@contextmanager
def translate_errors(endpoint: Endpoint) -> Iterator[None]:
    """gRPC failures while the block runs become `failure_of` them."""
    try:
        yield
    except grpc.RpcError as error:
        raise failure_of(error, endpoint) from None
