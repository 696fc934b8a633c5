"""The one `mp-server` of the end-to-end tests: a real process on free ports over the test's database
(SQLite and PostgreSQL). A module whose server needs settings of its own overrides `server_env`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.processes import ServerProcess, start_server


@pytest.fixture
def server_env() -> dict[str, str]:
    """MP_* settings this module's server runs with, beyond free ports and the test's database."""
    return {}


@pytest.fixture
def server(database_url: str, tmp_path: Path, server_env: dict[str, str]) -> Iterator[ServerProcess]:
    process = start_server(database_url, tmp_path / "data", **server_env)
    yield process
    process.stop()
