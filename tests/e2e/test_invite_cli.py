"""Registration and suspension as an operator runs them: the real `mp` against a real `mp-server`, and
the invitee's side through the public REST path the console calls."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from mlmp_cli.exit_codes import ExitCode
from tests.helpers.processes import ServerProcess, clean_env, run

pytestmark = pytest.mark.e2e


@pytest.fixture
def server_env() -> dict[str, str]:
    return {"MP_SHUTDOWN_GRACE": "3s"}


def mp(*args: str, env: dict[str, str], input: str | None = None, ok: bool = True):
    result = run("mp", *args, env=env, input=input)
    if ok:
        assert result.returncode == 0, f"mp {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result


def test_invite_register_suspend_and_resume(server: ServerProcess, tmp_path: Path):
    operator = clean_env(MP_CONFIG_DIR=str(tmp_path / "operator"))
    vendor = clean_env(MP_CONFIG_DIR=str(tmp_path / "vendor"))
    mp("login", "--api-url", server.api_url, "--token", server.admin_token, env=operator)

    made = mp("admin", "vendors", "invite", "--ttl", "48h", "--note", "for New Co", env=operator)
    link = made.stdout.strip()  # the link alone on stdout
    assert link.startswith(f"{server.api_url}/marketplace/invite#mpiv_")
    assert "shown only now" in made.stderr
    code = link.split("#", 1)[1]
    as_json = json.loads(mp("admin", "vendors", "invite", "--json", env=operator).stdout)
    assert as_json["code"].startswith("mpiv_")
    assert as_json["url"].endswith(as_json["code"])
    bad_ttl = mp("admin", "vendors", "invite", "--ttl", "soon", env=operator, ok=False)
    assert bad_ttl.returncode == ExitCode.USAGE
    too_long = mp("admin", "vendors", "invite", "--ttl", "31d", env=operator, ok=False)
    assert too_long.returncode == ExitCode.INVALID

    # The invitee, through the public REST path (no token): the code is the credential.
    accepted = httpx.post(f"{server.api_url}/api/invitations:accept",
                          json={"code": code, "slug": "newco", "displayName": "New Co"}, timeout=10)  # fmt: skip
    assert accepted.status_code == 200, accepted.text
    token = accepted.json()["secret"]
    again = httpx.post(f"{server.api_url}/api/invitations:accept",
                       json={"code": code, "slug": "other", "displayName": "Other"}, timeout=10)  # fmt: skip
    assert again.status_code == 400
    assert "already used" in again.json()["message"]
    mp("login", "--api-url", server.api_url, env=vendor, input=token + "\n")
    assert json.loads(mp("whoami", "--json", env=vendor).stdout)["vendor"]["slug"] == "newco"

    listed = mp("admin", "vendors", "invitations", "--all", env=operator).stdout
    assert "for New Co" in listed
    assert "newco" in listed
    assert code not in listed
    used_id = next(line.split()[0] for line in listed.splitlines() if "for New Co" in line)
    withdrawn = mp("admin", "vendors", "revoke-invitation", used_id, env=operator, ok=False)
    assert withdrawn.returncode == ExitCode.CONFLICT

    suspended = mp("admin", "vendors", "suspend", "newco", env=operator)
    assert suspended.stdout.startswith("Suspended newco since ")
    refused = mp("whoami", env=vendor, ok=False)
    assert refused.returncode == ExitCode.NOT_ALLOWED
    (row,) = [v for v in json.loads(mp("admin", "vendors", "list", "--json", env=operator).stdout)
              if v["slug"] == "newco"]  # fmt: skip
    assert row["suspendTime"]
    assert json.loads(mp("admin", "vendors", "resume", "newco", "--json", env=operator).stdout)["slug"] == "newco"
    assert json.loads(mp("whoami", "--json", env=vendor).stdout)["vendor"]["slug"] == "newco"
    assert mp("admin", "vendors", "suspend", "ghost", env=operator, ok=False).returncode == ExitCode.NOT_FOUND
    assert code not in server.output()
    assert token not in server.output()
