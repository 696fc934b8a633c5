"""The bytes a first visit transfers, in Chromium against a local server:
`python -m bench.console` prints the console's own files (HTML, modules, CSS, icon) and
the API answers of signing in and showing a catalog of 1,000 vendors, with the time until it is shown."""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from mlmp_server.settings import Settings, default_database_url
from tests.helpers.browser import chromium
from tests.helpers.console import Api
from tests.helpers.server_thread import ServerThread


def transferred(page: Any, visit) -> dict[str, int]:
    """Bytes on the wire (headers and encoded bodies) per kind: "assets" and "api"."""
    requests: list[Any] = []

    def finished(request: Any) -> None:
        requests.append(request)

    page.on("requestfinished", finished)
    visit()
    page.remove_listener("requestfinished", finished)
    totals = {"assets": 0, "api": 0, "requests": 0}
    for request in requests:
        sizes = request.sizes()
        kind = "api" if "/api/" in request.url else "assets"
        totals[kind] += sizes["responseHeadersSize"] + sizes["responseBodySize"]
        totals["requests"] += 1
    return totals


def main(vendors: int = 1000) -> None:
    data = Path(tempfile.mkdtemp()) / "data"
    server = ServerThread(Settings(data_dir=data, database_url=default_database_url(data), log_level="WARNING"))
    server.start()
    api = Api(server.http_url, server.admin_token)
    for number in range(vendors):
        api.call("POST", "/api/admin/vendors", {"slug": f"vendor-{number:04d}", "displayName": f"Vendor {number:04d}"})
    try:
        with chromium() as browser:
            page = browser.new_context().new_page()
            first = transferred(
                page, lambda: (page.goto(server.http_url + "/marketplace"), page.wait_for_selector("#token"))
            )
            page.fill("#token", server.admin_token)
            started = time.perf_counter()

            def sign_in_and_list() -> None:
                page.click(".signin-form button[type=submit]")
                page.wait_for_selector(".vendor")
                while page.locator("#catalog-more").is_visible():
                    page.click("#catalog-more")
                    page.wait_for_timeout(50)

            shown = transferred(page, sign_in_and_list)
            elapsed = time.perf_counter() - started
            count = page.locator(".vendor").count()
    finally:
        server.stop()
    sys.stdout.write(
        f"first visit, console files: {first['assets']} bytes in {first['requests']} requests (gzip)\n"
        f"sign-in and the catalog of {count} vendors: {shown['api']} bytes of API answers in {shown['requests']}"
        f" requests, {elapsed:.2f} s until all are shown\n"
    )


if __name__ == "__main__":
    main()
