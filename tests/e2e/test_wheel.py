"""The vendor's path from the wheel, installed the way pipx installs it: `mp` alone in a virtualenv of its own,
without the project's requirements, trains and serves the template project in the project's own virtualenv."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.helpers.processes import ServerProcess, clean_env, run
from tests.helpers.wheel import REPO

pytestmark = pytest.mark.e2e

# A machine's own programs: python3 there, no `python` (as on Debian and Ubuntu), and nothing of the project.
SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"


def project_venv(folder: Path) -> Path:
    """The project's .venv with its requirements importable. They come from this test environment (a .pth file)
    rather than from a download: the point is where mp looks for them, not pip."""
    venv = folder / ".venv"
    subprocess.run([getattr(sys, "_base_executable", sys.executable), "-m", "venv", "--without-pip", str(venv)],
                   check=True)  # fmt: skip
    (site_packages,) = venv.glob("lib/python*/site-packages")
    import pandas

    (site_packages / "requirements-from-tests.pth").write_text(str(Path(pandas.__file__).parents[1]) + "\n")
    return venv / "bin" / "python"


@pytest.fixture
def pipx_vendor(server: ServerProcess, pipx_bin: Path, tmp_path: Path) -> dict[str, str]:
    admin = clean_env(MP_CONFIG_DIR=str(tmp_path / "admin"), MP_API_URL=server.api_url, MP_TOKEN=server.admin_token)
    assert run("mp", "admin", "vendors", "create", "acme", "--display-name", "Acme", env=admin).returncode == 0
    token = run("mp", "admin", "tokens", "create", "--vendor", "acme", "--scopes",
                "data:read,training:write,deploy:write", env=admin).stdout.strip()  # fmt: skip
    env = {"HOME": str(tmp_path), "PATH": f"{pipx_bin}:{SYSTEM_PATH}", "MP_CONFIG_DIR": str(tmp_path / "vendor"),
           "MP_STATE_DIR": str(tmp_path / "state")}  # fmt: skip
    assert pipx_mp(tmp_path, env, "login", "--api-url", server.api_url, input=token + "\n").returncode == 0
    return env


def pipx_mp(folder: Path, env: dict[str, str], *args: str, input: str | None = None) -> subprocess.CompletedProcess:
    """`mp` as the vendor's shell finds it: on PATH, from pipx's folder."""
    return subprocess.run(["mp", *args], cwd=folder, env=env, input=input, capture_output=True, text=True,
                          timeout=120)  # fmt: skip


@pytest.mark.timeout(600)  # the first test to need the wheel builds and installs it
def test_a_pipx_installed_mp_trains_and_serves_in_the_projects_virtualenv(pipx_vendor: dict[str, str],
                                                                          tmp_path: Path):  # fmt: skip
    env = pipx_vendor
    assert pipx_mp(tmp_path, env, "init", "--template", "runpod-signal-http", "my-model").returncode == 0
    folder = tmp_path / "my-model"
    python = project_venv(folder)
    trained = pipx_mp(folder, env, "train", "start")
    assert trained.returncode == 0, trained.stdout + trained.stderr
    assert f"python is {python} (the project's virtualenv .venv)" in trained.stderr
    deployed = pipx_mp(folder, env, "deploy", "--json")
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    deployment = json.loads(deployed.stdout)
    try:
        assert deployment["state"] == "DEPLOYMENT_STATE_LIVE"
        log = pipx_mp(folder, env, "deployments", "logs", deployment["id"]).stdout
        assert f"python is {python} (the project's virtualenv .venv)" in log
    finally:
        assert pipx_mp(folder, env, "deployments", "stop", deployment["id"]).returncode == 0


@pytest.mark.timeout(600)
def test_the_wheel_ships_the_templates_and_builds_without_warnings(built: tuple[Path, str]):
    wheel, output = built
    names = set(zipfile.ZipFile(wheel).namelist())
    template = REPO / "cli" / "templates" / "runpod-signal-http"
    shipped = {in_wheel(p) for p in template.rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    assert shipped <= names, shipped - names
    assert "mlmp_cli/templates/runpod-signal-http/mp.yaml" in names
    # setuptools' 40-line warning on data in folders that look like packages (include-package-data)
    assert "is absent from the `packages` configuration" not in output
    assert not [name for name in names if name.startswith("mlmp_cli/templates/") and name.endswith("__init__.py")]


# The repository's folders and the names they install under (setup.py): nothing named server, cli, interceptors
# or marketplace lands in site-packages, where other distributions ship those names too.
INSTALLED_AS = {"server": "mlmp_server", "interceptors": "mlmp_interceptors", "cli": "mlmp_cli",
                "generated/marketplace": "mlmp_marketplace"}  # fmt: skip


def in_wheel(path: Path) -> str:
    """Where a file of the repository sits in the wheel."""
    relative = path.relative_to(REPO).as_posix()
    for folder, name in INSTALLED_AS.items():
        if relative.startswith(folder + "/"):
            return name + relative[len(folder):]
    raise AssertionError(f"{relative} is in no installed folder")


def test_the_wheel_installs_only_names_of_our_own(built: tuple[Path, str]):
    names = zipfile.ZipFile(built[0]).namelist()
    top_level = {name.split("/")[0] for name in names}
    (dist_info,) = {name for name in top_level if name.endswith(".dist-info")}
    assert dist_info.startswith("ml_marketplace-")
    assert top_level - {dist_info} == set(INSTALLED_AS.values()), top_level
    # every package of the tree ships, under its import name (a new subpackage needs no listing)
    packages = {in_wheel(init) for folder in INSTALLED_AS for init in (REPO / folder).rglob("__init__.py")
                if "templates" not in init.relative_to(REPO).parts}  # fmt: skip
    assert packages <= set(names), packages - set(names)
    entry_points = zipfile.ZipFile(built[0]).read(f"{dist_info}/entry_points.txt").decode()
    assert "mp = mlmp_cli.main:main" in entry_points
    assert "mp-server = mlmp_server.main:main" in entry_points
