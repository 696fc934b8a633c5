"""One streamed HTTP GET, on the standard library's http.client: for downloads, and for the gateway's
discovery document every command may read at start.

Why not httpx here (the CLI's other HTTP calls use it): for discovery, importing httpx and building its
client (its TLS context loads certifi's bundle even for http:// URLs) cost a command about 0.2 s of CPU
before it did anything. For downloads, httpcore reads the socket 64 KiB at a time and
h11 copies every piece twice more, which doubled the CPU a pull spent per byte (0.5 s against 0.26 s for
200 MB, the sha256 included). `HTTPResponse.readinto` fills the caller's buffer straight from the
socket, so a download reads large blocks with no copy and no per-piece Python work. What httpx gave
us and a download needs is kept: redirects, the certifi CA bundle, and proxies from the environment.
"""

from __future__ import annotations

import base64
import http.client
import os
import ssl
from functools import lru_cache
from urllib.parse import unquote, urljoin, urlsplit
from urllib.request import getproxies, proxy_bypass

MAX_REDIRECTS = 5
REDIRECTS = (301, 302, 303, 307, 308)


class HttpGetError(Exception):
    """A URL this client cannot fetch (bad scheme, too many redirects)."""


@lru_cache(maxsize=1)
def tls_context() -> ssl.SSLContext:
    """Verifying TLS with certifi's CA bundle (as httpx does), unless SSL_CERT_FILE/DIR name another."""
    if os.environ.get("SSL_CERT_FILE") or os.environ.get("SSL_CERT_DIR"):
        return ssl.create_default_context()
    try:
        import certifi
    except ImportError:  # pragma: no cover  (installed with httpx)
        return ssl.create_default_context()
    return ssl.create_default_context(cafile=certifi.where())


def _connection(
    scheme: str, host: str, port: int | None, timeout: float
) -> tuple[http.client.HTTPConnection, dict[str, str] | None]:
    """A connection to `host`, through the environment's proxy if one applies. With a plain-HTTP proxy for
    an http:// URL the second item is the headers the proxy wants (the request then names the whole URL);
    else None."""
    proxy = None if proxy_bypass(host) else getproxies().get(scheme)
    if not proxy:
        if scheme == "https":
            return http.client.HTTPSConnection(host, port, timeout=timeout, context=tls_context()), None
        return http.client.HTTPConnection(host, port, timeout=timeout), None
    via = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    if not via.hostname:
        raise HttpGetError(f"the {scheme}_proxy setting has no host")
    auth = {}
    if via.username is not None:
        pair = f"{unquote(via.username)}:{unquote(via.password or '')}".encode()
        auth["Proxy-Authorization"] = "Basic " + base64.b64encode(pair).decode()
    if scheme == "https":  # CONNECT through the proxy, then TLS end to end with the host
        if via.scheme == "https":
            raise HttpGetError("an https:// proxy for https URLs is not supported; give https_proxy as http://")
        tunnel = http.client.HTTPSConnection(via.hostname, via.port, timeout=timeout, context=tls_context())
        tunnel.set_tunnel(host, port, headers=auth)
        return tunnel, None
    conn: http.client.HTTPConnection
    if via.scheme == "https":
        conn = http.client.HTTPSConnection(via.hostname, via.port, timeout=timeout, context=tls_context())
    else:
        conn = http.client.HTTPConnection(via.hostname, via.port, timeout=timeout)
    return conn, auth


class Stream:
    """An open response: `status`, `headers`, `readinto(buffer)`; close it (or use `with`)."""

    def __init__(self, conn: http.client.HTTPConnection, response: http.client.HTTPResponse) -> None:
        self._conn = conn
        self.response = response
        self.status = response.status
        self.headers = response.headers

    def read(self, limit: int) -> bytes:
        """The body, at most `limit` bytes of it."""
        return self.response.read(limit)

    def readinto(self, buffer: memoryview) -> int:
        """Fills `buffer` (fewer bytes only at the end of the body); 0 at the end."""
        return self.response.readinto(buffer)

    def close(self) -> None:
        # Both: when the server said "Connection: close", the connection has already let go of the
        # socket, and only the response's file still holds it.
        self.response.close()
        self._conn.close()

    def __enter__(self) -> Stream:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def get(url: str, headers: dict[str, str] | None = None, timeout: float = 60.0) -> Stream:
    """GET `url` exactly as given (a signed URL's path and query are sent byte for byte), following
    redirects; raises OSError / http.client.HTTPException on network trouble."""
    for _hop in range(MAX_REDIRECTS + 1):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise HttpGetError(f"cannot download from {url.split('?', 1)[0]!r}: not an http(s) URL")
        conn, proxy_headers = _connection(parts.scheme, parts.hostname, parts.port, timeout)
        if proxy_headers is None:
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        else:
            target = url.split("#", 1)[0]
        try:
            conn.request(
                "GET", target, headers={"Accept-Encoding": "identity", **(proxy_headers or {}), **(headers or {})}
            )
            response = conn.getresponse()
        except BaseException:
            conn.close()
            raise
        location = response.headers.get("Location")
        if response.status in REDIRECTS and location:
            conn.close()
            url = urljoin(url, location)
            continue
        return Stream(conn, response)
    raise HttpGetError(f"more than {MAX_REDIRECTS} redirects from {url.split('?', 1)[0]!r}")
