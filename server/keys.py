"""The server's secret key: from MP_SECRET_KEY, or generated once into the data dir (mode 0600)."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path
from typing import Any

from mlmp_server.settings import Settings

KEY_FILE = "secret.key"


def load_secret_key(settings: Settings) -> bytes:
    if settings.secret_key is not None:
        return settings.secret_key
    path = settings.data_dir / KEY_FILE
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        # O_EXCL: two processes starting at once never end up with different keys.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_key(path)
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_urlsafe(48) + "\n")
    return _read_key(path)


def _read_key(path: Path) -> bytes:
    key = path.read_text().strip().encode()
    if len(key) < 32:
        raise SystemExit(f"{path} holds no usable key (fewer than 32 characters); remove it to make a new one.")
    return key


SECRET_KEY_CHECK = b"mp-server replicas share this key"


def secret_key_fingerprint(secret_key: bytes) -> str:
    """Tells keys apart without telling anything of them."""
    return hmac.new(secret_key, SECRET_KEY_CHECK, hashlib.sha256).hexdigest()[:32]


async def agree_on_secret_key(redis: Any, prefix: str, secret_key: bytes) -> str:
    """Replica mode: the first replica leaves its key's fingerprint in Redis; one whose key differs refuses to
    start (it would refuse every token the others issued, and they its own). Returns what was found:
    `agreed`, `first` or `unchecked` (Redis did not answer: the limiter has logged it)."""
    from redis.exceptions import RedisError

    name = f"{prefix}secret-key-fingerprint"
    mine = secret_key_fingerprint(secret_key)
    try:
        if await redis.set(name, mine, nx=True):
            return "first"
        theirs = await redis.get(name)
    except (RedisError, OSError):
        return "unchecked"
    if theirs is None or theirs.decode() == mine:
        return "agreed"
    raise SystemExit(
        f"MP_SECRET_KEY is not the key the other replicas use (its fingerprint differs from the one at Redis key "
        f"{name}): every replica needs the same MP_SECRET_KEY. If you changed it on purpose (which invalidates "
        f"every token), delete that key once all replicas run with the new one."
    )
