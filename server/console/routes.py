"""Serves the console's static assets under /marketplace, read once at start and kept in memory.

Every page path (`/marketplace`, `/marketplace/live`, `/marketplace/rounds/12`, …) answers the same
index.html; the browser-side router draws the page. Files are answered by their exact name only, so
no request path ever reaches the file system. Answers carry a strict CSP (no inline script or style,
nothing from another origin), `frame-ancestors 'none'` and nosniff; an ETag lets a second visit
revalidate instead of downloading again, and gzip is served to browsers that ask for it.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

STATIC = Path(__file__).parent / "static"
PREFIX = "/marketplace"
ASSETS = f"{PREFIX}/assets/"

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}
MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".json": "application/json",  # the docs pages' data (static/docs/, written by `make docs`)
}
COMPRESSED = {".html", ".js", ".css", ".svg", ".json"}


@dataclass(frozen=True)
class Asset:
    body: bytes
    gzipped: bytes | None
    media_type: str
    etag: str


def load_assets(root: Path = STATIC) -> dict[str, Asset]:
    """URL path → asset, for every file under `root`; index.html is the page shell."""
    assets: dict[str, Asset] = {}
    for file in sorted(root.rglob("*")):
        if not file.is_file() or file.suffix not in MEDIA_TYPES:
            continue
        body = file.read_bytes()
        # mtime=0: the same bytes give the same gzip, whichever machine or moment built them.
        gzipped = gzip.compress(body, 9, mtime=0) if file.suffix in COMPRESSED else None
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        assets[ASSETS + file.relative_to(root).as_posix()] = Asset(body, gzipped, MEDIA_TYPES[file.suffix], etag)
    return assets


def console_routes(root: Path = STATIC) -> list[Route]:
    assets = load_assets(root)
    shell = assets[ASSETS + "index.html"]

    async def serve(request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            return Response("GET or HEAD only\n", 405, {**SECURITY_HEADERS, "Allow": "GET, HEAD"}, "text/plain")
        path = request.url.path
        asset = assets.get(path) if path.startswith(ASSETS) else shell
        if asset is None:
            return Response(f"no file {path}\n", 404, SECURITY_HEADERS, "text/plain")
        return _answer(request, asset)

    methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
    return [Route(PREFIX, serve, methods=methods), Route(PREFIX + "/{path:path}", serve, methods=methods)]


def _answer(request: Request, asset: Asset) -> Response:
    # no-cache: always revalidated (a 304 costs a round trip, not the bytes), so a new server
    # version is picked up at once without versioned file names or a build step.
    headers = {**SECURITY_HEADERS, "ETag": asset.etag, "Cache-Control": "no-cache", "Vary": "Accept-Encoding"}
    if asset.etag in _etags(request.headers.get("if-none-match", "")):
        return Response(None, 304, headers)
    body = asset.body
    if asset.gzipped is not None and "gzip" in request.headers.get("accept-encoding", ""):
        body = asset.gzipped
        headers["Content-Encoding"] = "gzip"
    response = Response(body if request.method == "GET" else None, 200, headers, asset.media_type)
    if request.method == "HEAD":
        response.headers["Content-Length"] = str(len(body))
    return response


def _etags(header: str) -> set[str]:
    return {tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()}
