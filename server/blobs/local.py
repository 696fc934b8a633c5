"""Blob storage for dataset files and model artifacts, behind one small interface (BlobStore):
a local directory by default, an S3-compatible bucket when MP_S3_BUCKET is set (server/blobs/s3.py).

Keys are relative, slash-separated names (`rounds/12/train.parquet`). A key that could leave the
store's root (`..`, absolute paths, backslashes, or a symlink pointing out) is refused, never read.
Writes go to a local staging file first (hashed as they arrive) and are moved into place whole.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from mlmp_server.core.errors import InvalidArgument, NotFound

CHUNK = 1024 * 1024


@dataclass(frozen=True)
class StoredFile:
    size_bytes: int
    sha256: str


def check_arrived(stored: StoredFile, expected_size: int, expected_sha256: str, what: str) -> None:
    """Refuses bytes that do not match what the sender declared (when it declared a digest)."""
    if expected_sha256 and (stored.sha256, stored.size_bytes) != (expected_sha256, expected_size):
        raise InvalidArgument(
            f"{what} arrived damaged: {stored.size_bytes} bytes, sha256 {stored.sha256}; "
            f"expected {expected_size} bytes, sha256 {expected_sha256}. Nothing was stored."
        )


class UnsafeKey(InvalidArgument):
    """A key that would reach outside the store."""


def check_key(key: str) -> str:
    parts = key.split("/")
    if not key or key.startswith("/") or "\\" in key or "\x00" in key or any(part in ("", ".", "..") for part in parts):
        raise UnsafeKey(f"{key!r} is not a blob key")
    return key


class StagedWrite:
    """An open staging file that hashes what is written to it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = open(path, "wb")  # noqa: SIM115  (closed by finish/abandon)
        self._hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> None:
        self._file.write(data)
        self._hash.update(data)
        self.size += len(data)

    def finish(self) -> StoredFile:
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        return StoredFile(self.size, self._hash.hexdigest())

    def abandon(self) -> None:
        self._file.close()
        self.path.unlink(missing_ok=True)


class BlobStore(Protocol):
    def stage(self) -> StagedWrite:
        """A new staging file to write into."""
        ...

    def commit(self, staged: StagedWrite, key: str) -> None:
        """Stores a finished staging file under `key` (blocking I/O: call it from a thread)."""
        ...

    def delete(self, key: str) -> None: ...

    def presigned_url(self, key: str, ttl_seconds: float) -> tuple[str, int] | None:
        """The store's own download URL and its expiry, or None to serve through /blobs/."""
        ...


class LocalBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._staging = root / ".staging"
        self._staging.mkdir(parents=True, exist_ok=True, mode=0o700)

    def path_of(self, key: str) -> Path:
        """The file behind a key; UnsafeKey if it would be outside the root, NotFound if absent."""
        check_key(key)
        root = self.root.resolve()
        path = (root / key).resolve()  # follows symlinks: one pointing out is caught below
        if not path.is_relative_to(root) or path.is_relative_to(self._staging.resolve()):
            raise UnsafeKey(f"{key!r} is not a blob key")
        if not path.is_file():
            raise NotFound(f"no blob {key!r}")
        return path

    def stage(self) -> StagedWrite:
        return StagedWrite(self._staging / uuid.uuid4().hex)

    def commit(self, staged: StagedWrite, key: str) -> None:
        """Moves a finished staging file to `key` (atomically, replacing any old one)."""
        check_key(key)
        target = self.root / key
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staged.path, target)

    def delete(self, key: str) -> None:
        check_key(key)
        (self.root / key).unlink(missing_ok=True)

    def presigned_url(self, key: str, ttl_seconds: float) -> tuple[str, int] | None:
        return None  # served by mp-server itself, through signed /blobs/ URLs
