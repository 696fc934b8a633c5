"""The one `mp-server` of the end-to-end tests: a real process on free ports over the test's database
(SQLite and PostgreSQL). A module whose server needs settings of its own overrides `server_env`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.processes import ServerProcess, start_server
from tests.helpers.wheel import build_wheel, install_pipx_style


@pytest.fixture
def server_env() -> dict[str, str]:
    """MP_* settings this module's server runs with, beyond free ports and the test's database."""
    return {}


@pytest.fixture
def server(database_url: str, tmp_path: Path, server_env: dict[str, str]) -> Iterator[ServerProcess]:
    process = start_server(database_url, tmp_path / "data", **server_env)
    yield process
    process.stop()


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The wheel of the working tree and its build's output, built once for every test that installs it."""
    return build_wheel(tmp_path_factory.mktemp("source"), tmp_path_factory.mktemp("dist"))


@pytest.fixture(scope="session")
def pipx_bin(built: tuple[Path, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with only `mp` in it, from the wheel installed as pipx installs it."""
    return install_pipx_style(built[0], tmp_path_factory.mktemp("pipx"))
