"""cli/client.py's error translation: each gRPC status becomes the exit code of its kind, and a connection
that never worked is one sentence without gRPC core's own words."""

from __future__ import annotations

import socket
import subprocess
import sys

import grpc
import pytest

from mlmp_cli.client import Endpoint, failure_of, resolve
from mlmp_cli.exit_codes import CommandFailed, ExitCode
from tests.helpers.scripted_http import Reply, scripted_server

ENDPOINT = Endpoint("http://localhost:3010", "127.0.0.1:50051", tls=False)


class Refused(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        self._code, self._details = code, details

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (grpc.StatusCode.NOT_FOUND, ExitCode.NOT_FOUND),
        (grpc.StatusCode.UNAUTHENTICATED, ExitCode.NOT_ALLOWED),
        (grpc.StatusCode.PERMISSION_DENIED, ExitCode.NOT_ALLOWED),
        (grpc.StatusCode.DEADLINE_EXCEEDED, ExitCode.UNREACHABLE),
        (grpc.StatusCode.INVALID_ARGUMENT, ExitCode.INVALID),
        (grpc.StatusCode.ALREADY_EXISTS, ExitCode.CONFLICT),
        (grpc.StatusCode.FAILED_PRECONDITION, ExitCode.CONFLICT),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, ExitCode.RATE_LIMITED),
        (grpc.StatusCode.INTERNAL, ExitCode.FAILED),
    ],
)
def test_each_status_has_the_exit_code_of_its_kind(code: grpc.StatusCode, expected: ExitCode):
    assert failure_of(Refused(code, "round 12 is closed"), ENDPOINT).exit_code == expected


@pytest.mark.parametrize(
    "details",
    [
        "failed to connect to all addresses; last error: UNKNOWN: ipv4:127.0.0.1:50051: Failed to connect to remote "
        "host: Connection refused",
        "DNS resolution failed for nowhere.invalid:50051: C-ares status is not ARES_SUCCESS",
        "",
    ],
)
def test_a_connection_that_never_worked_is_one_sentence(details: str):
    failure = failure_of(Refused(grpc.StatusCode.UNAVAILABLE, details), ENDPOINT)
    assert failure.exit_code == ExitCode.UNREACHABLE
    assert failure.message == (
        "cannot reach the marketplace at 127.0.0.1:50051 (from http://localhost:3010): is mp-server running "
        "there? Start it, or point mp at another one with mp login --api-url URL (or MP_API_URL)."
    )


def test_the_servers_own_unavailable_message_is_kept():
    failure = failure_of(Refused(grpc.StatusCode.UNAVAILABLE, "mp-server is shutting down; reconnect in a moment"),
                         ENDPOINT)  # fmt: skip
    assert failure.exit_code == ExitCode.UNREACHABLE
    assert "mp-server is shutting down; reconnect in a moment" in failure.message


def test_discovery_reads_the_grpc_target_from_the_gateway():
    document = b'{"grpcTarget": "10.0.0.7:50051"}'
    with scripted_server(lambda _request: Reply(200, {"Content-Type": "application/json"}, document)) as server:
        endpoint = resolve(server.url + "/")
        [request] = server.seen
    assert request.target == "/api/discovery"
    assert endpoint == Endpoint(server.url + "/", "10.0.0.7:50051", False)


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (Reply(404, body=b"{}"), "answered HTTP 404; is this an mp-server?"),
        (Reply(200, body=b"<html>not json</html>"), "did not answer like an mp-server"),
        (Reply(200, body=b'{"other": 1}'), "did not answer like an mp-server"),
        (Reply(200, body=b"\xff\xfe"), "did not answer like an mp-server"),
        (Reply(200, body=b"{}", content_length=50), "did not answer like an mp-server"),  # hangs up mid-body
    ],
)
def test_a_discovery_answer_that_is_not_an_mp_servers_is_one_sentence(reply: Reply, message: str):
    with scripted_server(lambda _request: reply) as server:
        with pytest.raises(CommandFailed, match=message) as failed:
            resolve(server.url)
    assert failed.value.exit_code == ExitCode.UNREACHABLE


def test_discovery_of_a_server_that_is_not_there_says_so():
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(CommandFailed, match="cannot reach the marketplace at http://127.0.0.1"):
        resolve(f"http://127.0.0.1:{port}")


def test_a_command_starts_without_importing_httpx():
    # httpx and its TLS context cost every command ~0.2 s of CPU at start; the CLI reads discovery without it.
    loaded = subprocess.run(
        [sys.executable, "-c",
         "import sys, mlmp_cli.main, mlmp_cli.client, mlmp_cli.transfers.pull; print('httpx' in sys.modules)"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    assert loaded == "False"
