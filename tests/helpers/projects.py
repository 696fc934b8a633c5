"""A vendor's project as the external developer makes it, through the real CLI against a real `mp-server`:
vendor and token created by the operator, `mp login`, `mp init` of the template, `mp train start` locally."""

from __future__ import annotations

import os
from pathlib import Path

from tests.helpers.processes import BIN, ServerProcess, clean_env, mp_in, run

VENDOR_SCOPES = "data:read,training:write,deploy:write,signals:read,catalog:read"


def trained_project(
    server: ServerProcess, tmp_path: Path, slug: str = "acme", display_name: str = "Acme Quant"
) -> tuple[Path, dict[str, str], dict[str, str]]:
    """The project folder with a trained model, the vendor's CLI environment and the operator's."""
    admin = clean_env(MP_CONFIG_DIR=str(tmp_path / "admin"), MP_API_URL=server.api_url, MP_TOKEN=server.admin_token)
    assert run("mp", "admin", "vendors", "create", slug, "--display-name", display_name, env=admin).returncode == 0
    created = run("mp", "admin", "tokens", "create", "--vendor", slug, "--scopes", VENDOR_SCOPES, env=admin)
    token = created.stdout.strip()
    env = clean_env(MP_CONFIG_DIR=str(tmp_path / "vendor"), MP_STATE_DIR=str(tmp_path / "state"),
                    PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}")  # fmt: skip
    assert run("mp", "login", "--api-url", server.api_url, env=env, input=token + "\n").returncode == 0
    assert run("mp", "init", "--template", "runpod-signal-http", str(tmp_path / "my-model"), env=env).returncode == 0
    folder = tmp_path / "my-model"
    trained = mp_in(folder, env, "train", "start")
    assert trained.returncode == 0, trained.stderr
    return folder, env, admin
