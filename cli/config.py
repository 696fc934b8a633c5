"""Where the CLI keeps its credentials: MP_CONFIG_DIR (default: the user config dir), file 0600.

MP_API_URL and MP_TOKEN override what is stored, for scripts and CI.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import platformdirs

DEFAULT_API_URL = "http://localhost:3010"
CREDENTIALS_FILE = "credentials.json"


@dataclass(frozen=True)
class Credentials:
    api_url: str
    token: str
    grpc_target: str = ""  # resolved at login; empty: ask the gateway's discovery endpoint
    tls: bool = False
    runpod_api_key: str = ""  # for --provider runpod; RUNPOD_API_KEY takes precedence


def config_dir() -> Path:
    return Path(os.environ.get("MP_CONFIG_DIR") or platformdirs.user_config_dir("mp")).expanduser()


def credentials_path() -> Path:
    return config_dir() / CREDENTIALS_FILE


def load_stored() -> Credentials | None:
    path = credentials_path()
    try:
        data = json.loads(path.read_text())
        fields = ("api_url", "token", "grpc_target", "tls", "runpod_api_key")
        return Credentials(**{k: data[k] for k in fields if k in data})
    except FileNotFoundError:
        return None
    except (ValueError, TypeError, KeyError):
        return None  # unreadable: treated as logged out; `mp login` rewrites it


def save(credentials: Credentials) -> Path:
    directory = config_dir()
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = directory / CREDENTIALS_FILE
    temporary = path.with_suffix(".tmp")
    # Created 0600 before anything secret is written, then moved into place atomically.
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(asdict(credentials), handle, indent=2)
    os.chmod(temporary, 0o600)
    os.replace(temporary, path)
    return path


def forget() -> bool:
    try:
        credentials_path().unlink()
        return True
    except FileNotFoundError:
        return False
