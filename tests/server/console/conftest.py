"""Fixtures for the console's browser tests: Chromium, a real server on SQLite with the demo round,
and a page that records every console error, page error and dialog."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from mlmp_server.settings import Settings, default_database_url
from tests.helpers.browser import REQUIRE_BROWSER, BrowserUnavailable, chromium
from tests.helpers.console import Api
from tests.helpers.server_thread import ServerThread


# Per module, not per session: while Playwright's sync API is open, its event loop counts as running
# in this thread, so asyncio.run() in any later test's fixture (e.g. migrating PostgreSQL) would fail.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        with chromium() as launched:
            yield launched
    except BrowserUnavailable as error:
        if REQUIRE_BROWSER:
            pytest.fail(f"MP_REQUIRE_BROWSER=1, but Chromium is not usable: {error}")
        pytest.skip(f"browser tests skipped: {error}")


@pytest.fixture
def console_settings(tmp_path: Path) -> Settings:
    data = tmp_path / "data"
    return Settings(data_dir=data, database_url=default_database_url(data), log_level="WARNING", shutdown_grace=0.5)


@pytest.fixture
def console_server(console_settings: Settings) -> Iterator[ServerThread]:
    running = ServerThread(console_settings).start()
    yield running
    running.stop()


@pytest.fixture
def api(console_server: ServerThread) -> Api:
    return Api(console_server.http_url, console_server.admin_token)


@dataclass
class Watched:
    """A page and what went wrong on it: console errors, uncaught errors, dialogs (an injected alert())."""

    page: Any
    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)


@pytest.fixture
def watched(browser: Any) -> Iterator[Watched]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(15_000)
    found = Watched(page)
    page.on("console", lambda message: message.type == "error" and found.errors.append(message.text))
    page.on("pageerror", lambda error: found.errors.append(str(error)))

    def dismiss(dialog: Any) -> None:
        found.dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", dismiss)
    yield found
    context.close()
