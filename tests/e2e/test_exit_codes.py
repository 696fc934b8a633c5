"""What a script sees when `mp` fails: an exit code per kind of failure (cli/exit_codes.py, mapped from the
gRPC status in cli/client.py) and one sentence that says what to do, never gRPC's own internals."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from mlmp_cli.exit_codes import ExitCode
from tests.helpers.processes import ServerProcess, clean_env, run

pytestmark = pytest.mark.e2e

GRPC_INTERNALS = ("failed to connect", "ipv4:", "StatusCode", "UNAVAILABLE", "Traceback", "debug_error_string")


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    return clean_env(MP_CONFIG_DIR=str(tmp_path / "mp-config"))


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("scheme", ["grpc", "http"])
def test_a_login_against_a_server_that_is_down_says_what_to_do(cli_env: dict[str, str], scheme: str):
    port = closed_port()
    failed = run("mp", "login", "--api-url", f"{scheme}://127.0.0.1:{port}", "--token", "mpat_x", env=cli_env)
    assert failed.returncode == ExitCode.UNREACHABLE, failed.stderr
    assert failed.stderr.startswith("Error: cannot reach the marketplace at ")
    assert f"127.0.0.1:{port}: is mp-server running there?" in failed.stderr
    assert "Logged in" not in failed.stdout + failed.stderr
    for internal in GRPC_INTERNALS:
        assert internal not in failed.stderr
    assert len(failed.stderr.strip().splitlines()) == 1, failed.stderr
    assert not (Path(cli_env["MP_CONFIG_DIR"]) / "credentials.json").exists()


def test_a_command_whose_stored_server_is_down_says_what_to_do(server: ServerProcess, cli_env: dict[str, str]):
    assert run("mp", "login", "--api-url", server.api_url, "--token", server.admin_token, env=cli_env).returncode == 0
    server.stop()
    failed = run("mp", "whoami", env=cli_env)
    assert failed.returncode == ExitCode.UNREACHABLE
    assert f"cannot reach the marketplace at 127.0.0.1:{server.grpc_port} (from {server.api_url})" in failed.stderr
    for internal in GRPC_INTERNALS:
        assert internal not in failed.stderr


def test_each_kind_of_refusal_has_its_exit_code(server: ServerProcess, cli_env: dict[str, str]):
    admin = {**cli_env, "MP_API_URL": server.api_url, "MP_TOKEN": server.admin_token}
    assert run("mp", "admin", "vendors", "create", "acme", "--display-name", "Acme", env=admin).returncode == 0
    vendor_token = run("mp", "admin", "tokens", "create", "--vendor", "acme", "--scopes", "data:read",
                       env=admin).stdout.strip()  # fmt: skip
    vendor = {**cli_env, "MP_API_URL": server.api_url, "MP_TOKEN": vendor_token}
    cases = {
        ExitCode.NOT_FOUND: run("mp", "train", "status", "run_doesnotexist", env=admin),
        ExitCode.NOT_ALLOWED: run("mp", "admin", "vendors", "list", env=vendor),
        ExitCode.CONFLICT: run("mp", "admin", "vendors", "create", "acme", "--display-name", "Acme", env=admin),
        ExitCode.INVALID: run("mp", "admin", "vendors", "create", "Not A Slug", "--display-name", "X", env=admin),
        ExitCode.USAGE: run("mp", "admin", "vendors", "create", env=admin),
    }
    for expected, result in cases.items():
        assert result.returncode == expected, f"{expected.name}: {result.returncode}\n{result.stderr}"
        assert "Traceback" not in result.stderr
    bad_token = {**cli_env, "MP_API_URL": server.api_url, "MP_TOKEN": "mpat_thisisnotavalidtokenatall"}
    assert run("mp", "whoami", env=bad_token).returncode == ExitCode.NOT_ALLOWED
    assert run("mp", "whoami", env=cli_env).returncode == ExitCode.NOT_ALLOWED  # not logged in


def test_the_exit_codes_are_in_the_help_and_the_readme(cli_env: dict[str, str]):
    help_text = run("mp", "--help", env=cli_env).stdout
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    for code in ExitCode:
        assert f"\n    {int(code):<4} " in help_text, code
        assert f"\n| {int(code)} |" in readme, code
