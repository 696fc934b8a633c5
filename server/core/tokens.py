"""Bearer tokens: format, generation and the keyed digest that is all the server stores.

A token is `<prefix>_<43 base62 chars of secret><6 base62 chars of CRC32>`. The prefix names its
type and lets secret scanners find leaked tokens; the checksum lets a malformed or mistyped token
be refused without a database look-up.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
import secrets
import zlib

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SECRET_CHARS = 43  # 256 bits
_CHECKSUM_CHARS = 6


class TokenType(enum.Enum):
    API = "mpat"
    DEPLOYMENT = "mpdt"
    RUN = "mprt"
    # Not a bearer token: the code of an invitation to register (AcceptInvitation). Shaped like one,
    # so validation refuses it in any field but its own and redaction hides it in logs and errors.
    INVITATION = "mpiv"

    @property
    def label(self) -> str:
        return self.name.lower()


def _base62(value: int, width: int) -> str:
    chars = []
    for _ in range(width):
        value, digit = divmod(value, 62)
        chars.append(_ALPHABET[digit])
    return "".join(reversed(chars))


def _checksum(prefix: str, secret: str) -> str:
    return _base62(zlib.crc32(f"{prefix}_{secret}".encode()), _CHECKSUM_CHARS)


def new_token(token_type: TokenType, seed: bytes | None = None, key: bytes = b"") -> str:
    """A fresh token; with a seed (and key), the same token every time for that seed."""
    raw = hmac.digest(key, seed, "sha256") if seed is not None else secrets.token_bytes(32)
    secret = _base62(int.from_bytes(raw, "big"), _SECRET_CHARS)
    return f"{token_type.value}_{secret}{_checksum(token_type.value, secret)}"


def token_type_of(token: str) -> TokenType | None:
    """The token's type when it is well formed (shape and checksum), else None."""
    prefix, sep, body = token.partition("_")
    if not sep or len(body) != _SECRET_CHARS + _CHECKSUM_CHARS:
        return None
    try:
        token_type = TokenType(prefix)
    except ValueError:
        return None
    secret, checksum = body[:_SECRET_CHARS], body[_SECRET_CHARS:]
    if not hmac.compare_digest(checksum, _checksum(prefix, secret)):
        return None
    return token_type


# A token's shape anywhere in a text: the prefix, then the body. Not anchored, so a token pasted
# inside a longer string (a URL, a sentence) is found too; the checksum then tells it from chance.
_TOKEN_SHAPE = re.compile(
    "(?:" + "|".join(t.value for t in TokenType) + f")_[0-9A-Za-z]{{{_SECRET_CHARS + _CHECKSUM_CHARS}}}"
)


def looks_like_token(text: str) -> bool:
    """True when `text` holds a well-formed token (prefix, length and checksum) anywhere in it."""
    if "_" not in text:  # the common case, without the regular expression
        return False
    for match in _TOKEN_SHAPE.finditer(text):
        candidate = match.group()
        prefix, _, body = candidate.partition("_")
        if body[_SECRET_CHARS:] == _checksum(prefix, body[:_SECRET_CHARS]):
            return True
    return False


def hint(token: str) -> str:
    """Enough to tell tokens apart in a list, nothing that helps guess one."""
    return f"{token.partition('_')[0]}_…{token[-4:]}"


class TokenDigester:
    """HMAC-SHA256 under a key derived from the server's secret: a stolen table alone is useless."""

    def __init__(self, secret_key: bytes) -> None:
        self._key = hmac.digest(secret_key, b"marketplace token digest v1", "sha256")
        self.seed_key = hmac.digest(secret_key, b"marketplace token seed v1", "sha256")

    def digest(self, token: str) -> str:
        return hmac.new(self._key, token.encode(), hashlib.sha256).hexdigest()
