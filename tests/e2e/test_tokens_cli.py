"""`mp tokens …`: a vendor manages its own tokens with the real `mp` against a real `mp-server`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlmp_cli.exit_codes import ExitCode
from tests.helpers.processes import ServerProcess, clean_env, run

pytestmark = pytest.mark.e2e


def mp(*args: str, env: dict[str, str], ok: bool = True):
    result = run("mp", *args, env=env)
    if ok:
        assert result.returncode == 0, f"mp {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result


def test_a_vendor_creates_lists_uses_and_revokes_its_own_token(server: ServerProcess, tmp_path: Path):
    operator = clean_env(MP_CONFIG_DIR=str(tmp_path / "op"), MP_API_URL=server.api_url, MP_TOKEN=server.admin_token)
    mp("admin", "vendors", "create", "acme", "--display-name", "Acme Quant", env=operator)
    manager = mp("admin", "tokens", "create", "--vendor", "acme", "--scopes", "catalog:read,data:read,tokens:write",
                 env=operator).stdout.strip()  # fmt: skip
    vendor = {**operator, "MP_TOKEN": manager}

    made = json.loads(mp("tokens", "create", "--scopes", "catalog:read", "--name", "ci", "--expires-in", "30d",
                         "--json", env=vendor).stdout)  # fmt: skip
    assert made["token"]["scopes"] == ["catalog:read"]
    assert made["secret"].startswith("mpat_")
    listed = json.loads(mp("tokens", "list", "--json", env=vendor).stdout)
    assert {t["id"] for t in listed} == {
        made["token"]["id"],
        json.loads(mp("whoami", "--json", env=vendor).stdout)["tokenId"],
    }
    assert made["secret"] not in json.dumps(listed)
    table = mp("tokens", "list", env=vendor).stdout
    assert "ci" in table
    assert made["token"]["hint"] in table

    fresh = {**operator, "MP_TOKEN": made["secret"]}
    assert "acme" in mp("whoami", env=fresh).stdout
    assert "Revoked" in mp("tokens", "revoke", made["token"]["id"], env=vendor).stdout
    refused = mp("whoami", env=fresh, ok=False)
    assert refused.returncode == ExitCode.NOT_ALLOWED

    escalation = mp("tokens", "create", "--scopes", "training:write", env=vendor, ok=False)
    assert escalation.returncode == ExitCode.NOT_ALLOWED
    assert "cannot give the scope training:write" in escalation.stderr
    operator_token_id = json.loads(mp("whoami", "--json", env=operator).stdout)["tokenId"]
    foreign = mp("tokens", "revoke", operator_token_id, env=vendor, ok=False)
    assert "no API token" in foreign.stderr
    assert manager not in server.output()
    assert made["secret"] not in server.output()
