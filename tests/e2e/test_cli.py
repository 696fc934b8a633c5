"""The operator and vendor flows of the README, through the real `mp` against a real `mp-server`."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from mlmp_cli.exit_codes import ExitCode
from tests.helpers.postgres import fresh_database
from tests.helpers.processes import ServerProcess, clean_env, mp_server_env, run

pytestmark = pytest.mark.e2e


@pytest.fixture
def server_env() -> dict[str, str]:
    return {"MP_SHUTDOWN_GRACE": "3s"}


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    return clean_env(MP_CONFIG_DIR=str(tmp_path / "mp-config"))


def mp(*args: str, env: dict[str, str], input: str | None = None, ok: bool = True):
    result = run("mp", *args, env=env, input=input)
    if ok:
        assert result.returncode == 0, f"mp {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result


def test_operator_then_vendor_flow(server: ServerProcess, cli_env: dict[str, str], tmp_path: Path):
    assert server.admin_token, "the first start prints the admin token"
    login = mp("login", "--api-url", server.api_url, "--token", server.admin_token, env=cli_env)
    assert "as an operator (admin)" in login.stdout
    credentials = tmp_path / "mp-config" / "credentials.json"
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
    assert "You are an operator" in mp("whoami", env=cli_env).stdout

    vendor_id = mp("admin", "vendors", "create", "acme", "--display-name", "Acme Quant", env=cli_env).stdout.strip()
    assert vendor_id.startswith("vnd_")
    token = mp(
        "admin",
        "tokens",
        "create",
        "--vendor",
        "acme",
        "--scopes",
        "catalog:read,data:read,training:write,deploy:write",
        env=cli_env,
    ).stdout.strip()
    assert token.startswith("mpat_")
    assert token not in mp("admin", "tokens", "list", env=cli_env).stdout

    # The vendor logs in with the token on stdin (no --token in the shell history).
    mp("login", "--api-url", server.api_url, env=cli_env, input=token + "\n")
    me = json.loads(mp("whoami", "--json", env=cli_env).stdout)
    assert me["vendor"] == {"id": vendor_id, "slug": "acme", "displayName": "Acme Quant"}
    assert me["kind"] == "PRINCIPAL_KIND_VENDOR"
    assert me["grpcTarget"] == f"127.0.0.1:{server.grpc_port}"
    denied = mp("admin", "vendors", "list", env=cli_env, ok=False)
    assert denied.returncode == ExitCode.NOT_ALLOWED
    assert "needs the scope admin" in denied.stderr
    assert token not in server.output()


def test_env_overrides_and_grpc_urls(server: ServerProcess, cli_env: dict[str, str]):
    env = {**cli_env, "MP_API_URL": f"grpc://127.0.0.1:{server.grpc_port}", "MP_TOKEN": server.admin_token}
    assert "operator" in mp("whoami", env=env).stdout
    listed = json.loads(mp("admin", "vendors", "list", "--json", env=env).stdout)
    assert listed == []
    revoked_env = {**env, "MP_TOKEN": "mpat_thisisnotavalidtokenatallbutlooksalittlelikeone"}
    failed = mp("whoami", env=revoked_env, ok=False)
    assert failed.returncode == ExitCode.NOT_ALLOWED
    assert "Log in again" in failed.stderr
    assert "thisisnotavalid" not in failed.stderr + failed.stdout


def test_login_failures_say_what_to_do(server: ServerProcess, cli_env: dict[str, str]):
    wrong = mp("login", "--api-url", server.api_url, "--token", "mpat_wrong", env=cli_env, ok=False)
    assert wrong.returncode == ExitCode.NOT_ALLOWED
    assert "not valid" in wrong.stderr
    unreachable = mp("login", "--api-url", "http://127.0.0.1:9", "--token", "x", env=cli_env, ok=False)
    assert "cannot reach" in unreachable.stderr
    not_logged_in = mp("whoami", env=cli_env, ok=False)
    assert "not logged in" in not_logged_in.stderr


def test_a_lost_admin_token_is_replaced_from_the_database(server: ServerProcess, cli_env: dict[str, str]):
    created = run("mp-server", "create-admin-token", "--name", "lost mine", env=server.env)
    assert created.returncode == 0, created.stderr
    new_token = next(word for word in created.stdout.split() if word.startswith("mpat_"))
    assert new_token != server.admin_token
    assert "operator" in mp("login", "--api-url", server.api_url, "--token", new_token, env=cli_env).stdout


def test_sigterm_stops_the_server_cleanly(tmp_path: Path):
    server = ServerProcess(mp_server_env(tmp_path))
    assert server.stop() == 0
    assert "mp-server stopped" in server.output()


@pytest.mark.postgres
def test_start_up_refuses_an_unmigrated_database(postgres_admin_url: str, tmp_path: Path):
    with fresh_database(postgres_admin_url) as url:
        env = clean_env(MP_DATA_DIR=str(tmp_path), MP_DATABASE_URL=url, MP_GRPC_ADDR="127.0.0.1:0")
        result = run("mp-server", env=env, timeout=60)
    assert result.returncode == 1
    assert "mp-server migrate" in result.stderr


def test_production_refuses_to_start_without_secrets(tmp_path: Path):
    result = run("mp-server", env=clean_env(MP_ENV="production", MP_DATA_DIR=str(tmp_path)))
    assert result.returncode == 1
    assert "MP_SECRET_KEY" in result.stderr


def test_version_and_help(cli_env: dict[str, str]):
    assert mp("--version", env=cli_env).stdout.startswith("mp, version ")
    help_text = mp("--help", env=cli_env).stdout
    for command in ("login", "whoami", "admin"):
        assert command in help_text
    assert "--scopes" in mp("admin", "tokens", "create", "--help", env=cli_env).stdout


def test_a_stored_token_is_not_sent_to_another_server(server: ServerProcess, cli_env: dict[str, str]):
    mp("login", "--api-url", server.api_url, "--token", server.admin_token, env=cli_env)
    elsewhere = {**cli_env, "MP_API_URL": "http://127.0.0.1:9"}
    result = mp("whoami", env=elsewhere, ok=False)
    assert result.returncode == ExitCode.NOT_ALLOWED
    assert "is not the server you logged in to" in result.stderr
