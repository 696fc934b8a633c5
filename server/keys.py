"""The server's secret key: from MP_SECRET_KEY, or generated once into the data dir (mode 0600)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

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
