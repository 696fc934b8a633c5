"""Real Chromium for the console's tests: Debian's `chromium` driven by Playwright, else a skip with
the reason — or, with MP_REQUIRE_BROWSER=1 (CI), a failure (as MP_REQUIRE_POSTGRES does for PostgreSQL).

Playwright cannot download its own browser build here, so it is pointed at the system one
(MP_CHROMIUM overrides the path)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

REQUIRE_BROWSER = os.environ.get("MP_REQUIRE_BROWSER") == "1"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]  # fmt: skip


class BrowserUnavailable(Exception):
    pass


def chromium_path() -> str:
    path = os.environ.get("MP_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not os.access(path, os.X_OK):
        raise BrowserUnavailable(f"no Chromium at {path} (apt-get install -y chromium, or set MP_CHROMIUM)")
    return path


@contextmanager
def chromium() -> Iterator[Any]:
    """A launched Playwright Browser; BrowserUnavailable when Playwright or Chromium is missing."""
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError as error:
        raise BrowserUnavailable(f"Playwright is not installed ({error}); `make dev` installs it") from None
    path = chromium_path()
    with sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        except Error as error:
            raise BrowserUnavailable(f"Chromium at {path} did not start: {error.message.splitlines()[0]}") from None
        try:
            yield browser
        finally:
            browser.close()
