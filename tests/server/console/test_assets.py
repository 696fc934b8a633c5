"""How mp-server serves the console's assets, and what the assets themselves may not do
(inline code, HTML from strings, anything from another origin)."""

from __future__ import annotations

import gzip
import re

import httpx
import pytest

from mlmp_server.console.routes import STATIC
from mlmp_server.settings import Settings, default_database_url
from tests.helpers.server_thread import ServerThread

ASSETS = sorted(path for path in STATIC.rglob("*") if path.is_file())


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    data = tmp_path_factory.mktemp("console") / "data"
    settings = Settings(data_dir=data, database_url=default_database_url(data), log_level="WARNING", demo_round=False)
    server = ServerThread(settings).start()
    with httpx.Client(base_url=server.http_url) as open_client:
        yield open_client
    server.stop()


@pytest.mark.parametrize("path", ["/marketplace", "/marketplace/", "/marketplace/live", "/marketplace/rounds/12"])
def test_every_page_path_answers_the_shell_with_a_strict_policy(client, path):
    answer = client.get(path)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/html; charset=utf-8"
    assert '<main id="view"' in answer.text
    policy = answer.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert "unsafe-eval" not in policy
    assert "frame-ancestors 'none'" in policy
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["x-frame-options"] == "DENY"


def test_assets_have_their_types_and_unknown_files_are_404(client):
    assert client.get("/marketplace/assets/app.js").headers["content-type"] == "text/javascript; charset=utf-8"
    assert client.get("/marketplace/assets/console.css").headers["content-type"] == "text/css; charset=utf-8"
    missing = client.get("/marketplace/assets/nothing.js")
    assert missing.status_code == 404
    assert "content-security-policy" in missing.headers
    # No path reaches the file system: a dotted path is a page path (the shell) or an unknown asset.
    dotted = ("assets/../routes.py", "assets/%2e%2e/routes.py", "assets/pages/../../routes.py")
    for path in (f"/marketplace/{tail}" for tail in dotted):
        answer = client.get(path)
        assert "console_routes" not in answer.text
        assert answer.status_code in (200, 404)


def test_writes_are_refused_with_405(client):
    answer = client.post("/marketplace/live")
    assert answer.status_code == 405
    assert answer.headers["allow"] == "GET, HEAD"


def test_a_second_visit_revalidates_and_gzip_is_served_when_asked(client):
    first = client.get("/marketplace/assets/app.js", headers={"Accept-Encoding": "identity"})
    assert first.headers["cache-control"] == "no-cache"
    assert "content-encoding" not in first.headers
    again = client.get("/marketplace/assets/app.js", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    assert again.content == b""
    raw = client.get("/marketplace/assets/app.js", headers={"Accept-Encoding": "gzip"})
    assert raw.headers["content-encoding"] == "gzip"
    assert raw.content == first.content  # httpx decodes it: the same bytes
    assert len(gzip.compress(first.content)) < len(first.content)
    head = client.head("/marketplace/assets/app.js", headers={"Accept-Encoding": "identity"})
    assert head.status_code == 200
    assert head.headers["content-length"] == str(len(first.content))


def test_the_console_does_not_shadow_the_api(client):
    answer = client.get("/api/whoami")
    assert answer.status_code == 401
    assert answer.headers["content-type"] == "application/json"
    assert "content-security-policy" not in answer.headers


@pytest.mark.parametrize("path", ASSETS, ids=lambda path: path.relative_to(STATIC).as_posix())
def test_no_asset_builds_html_from_strings_or_loads_from_elsewhere(path):
    text = path.read_text("utf-8")
    for forbidden in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
        assert forbidden not in text, f"{path.name} uses {forbidden}"
    assert not re.search(r"\b(localStorage|sessionStorage|indexedDB)\s*[.\[]", text), f"{path.name} stores data"
    urls = re.findall(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text)
    elsewhere = [url for url in urls if url != "http://www.w3.org"]  # the SVG namespace is a name, never fetched
    if path.suffix == ".json":  # docs data (static/docs/): shown as text, e.g. an example in a command's help
        elsewhere = [url for url in elsewhere if not url.endswith(".example.com")]
    assert elsewhere == [], f"{path.name} refers to another origin"


def test_the_shell_has_no_inline_script_or_style():
    shell = (STATIC / "index.html").read_text("utf-8")
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", shell) == []
    assert "<style" not in shell
    assert " style=" not in shell
    assert re.findall(r"\son[a-z]+=", shell) == []
