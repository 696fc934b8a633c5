"""Signed download URLs: HMAC-SHA256 over method, path, expiry and key id.

The first key signs; every listed key verifies, so a key can be rotated out gradually (add a new
first key, keep the old one until the URLs it signed have expired, then retire it). Checks use a
constant-time comparison; every failure is the same 403 to the caller, the reason only in the log.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote, urlencode

from mlmp_server.core.clock import Clock, system_clock

if TYPE_CHECKING:
    from mlmp_server.blobs.local import BlobStore

# The expiry exactly as sign() writes it: another spelling of the same number ("0…", " …", "+…") is refused.
_EXPIRES = re.compile(r"[1-9][0-9]{0,15}")
DEFAULT_TTL = 15 * 60
MAX_TTL = 7 * 24 * 3600


class SignatureRefused(Exception):
    """A URL that must not be served; the message is for the server log only."""


@dataclass(frozen=True)
class SigningKey:
    key_id: str
    secret: bytes


class UrlSigner:
    def __init__(self, keys: Sequence[SigningKey], clock: Clock = system_clock) -> None:
        if not keys:
            raise ValueError("at least one signing key is needed")
        self._active = keys[0]
        self._keys = {key.key_id: key for key in keys}
        self._clock = clock

    @staticmethod
    def _mac(key: SigningKey, method: str, path: str, expires: int) -> str:
        message = f"{method.upper()}\n{path}\n{expires}\n{key.key_id}".encode()
        digest = hmac.digest(key.secret, message, hashlib.sha256)
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def sign(self, method: str, path: str, ttl_seconds: float) -> tuple[str, int]:
        """(query string, expiry in epoch seconds) for `path`, the URL's raw (percent-encoded) path."""
        expires = int(self._clock() + ttl_seconds)
        signature = self._mac(self._active, method, path, expires)
        return urlencode({"expires": expires, "kid": self._active.key_id, "sig": signature}), expires

    def verify(self, method: str, path: str, query: Mapping[str, str]) -> None:
        expires_text, signature = query.get("expires", ""), query.get("sig")
        key = self._keys.get(query.get("kid", ""))
        if not _EXPIRES.fullmatch(expires_text) or signature is None or key is None:
            raise SignatureRefused("missing or malformed signature parameters, or a retired key id")
        expires = int(expires_text)
        # HEAD is the metadata-only form of GET: a GET URL may be probed with HEAD.
        signed_method = "GET" if method.upper() == "HEAD" else method
        # On bytes: compare_digest refuses str with non-ASCII characters (a TypeError, not a refusal).
        given = signature.encode("utf-8", "surrogatepass")
        if not hmac.compare_digest(given, self._mac(key, signed_method, path, expires).encode()):
            raise SignatureRefused("signature does not match (tampered URL, other method or other key)")
        if expires <= self._clock():
            raise SignatureRefused("URL expired")


def parse_signing_keys(text: str) -> list[SigningKey]:
    """`kid:secret,kid2:secret2` (the first one signs)."""
    keys = []
    for part in text.split(","):
        key_id, sep, secret = part.strip().partition(":")
        if not sep or not key_id or len(secret) < 32:
            raise ValueError("MP_SIGNING_KEYS must be kid:secret pairs, comma-separated, secrets of 32+ characters")
        keys.append(SigningKey(key_id, secret.encode()))
    return keys


def derived_signing_key(secret_key: bytes) -> SigningKey:
    return SigningKey("k1", hmac.digest(secret_key, b"marketplace url signing v1", hashlib.sha256))


def download_url(blobs: BlobStore, signer: UrlSigner, public_url: str, key: str, ttl: float) -> tuple[str, int]:
    """(URL, expiry) for a blob: the store's own presigned URL (S3), else ours under /blobs/."""
    presigned = blobs.presigned_url(key, ttl)
    if presigned is not None:
        return presigned
    path = "/blobs/" + quote(key, safe="/")
    query, expires = signer.sign("GET", path, ttl)
    return f"{public_url}{path}?{query}", expires
