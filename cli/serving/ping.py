"""Waiting for a freshly started inference server: its /ping answers 200 once the model is loaded."""

from __future__ import annotations

import time
from collections.abc import Callable

import click
import httpx

PING_TIMEOUT = 120.0


def wait_for_ping(url: str, still_running: Callable[[], str], timeout: float = PING_TIMEOUT) -> None:
    """Until GET {url}/ping answers 200 (204: still loading). `still_running()` says what went wrong
    ("" while all is well). Raises ClickException on such a problem or a timeout."""
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    while time.monotonic() < deadline:
        problem = still_running()
        if problem:
            raise click.ClickException(problem)
        try:
            response = httpx.get(url.rstrip("/") + "/ping", timeout=5)
            if response.status_code == 200:
                return
            last = f"HTTP {response.status_code}" + (" (loading)" if response.status_code == 204 else "")
        except httpx.HTTPError as error:
            last = type(error).__name__
        time.sleep(0.25)
    raise click.ClickException(f"{url}/ping did not answer 200 within {timeout:.0f} s (last: {last})")
