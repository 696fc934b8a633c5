"""Resumable, verified, parallel downloads of a round's files from signed URLs.

Each file is written to `NAME.part` and renamed only once its sha256 matches the manifest. An
interrupted pull resumes from the bytes on disk with a Range request; an expired link is signed
again and the download goes on; complete files are skipped.

The bytes are read in large blocks straight into a buffer (cli/http_get.py) and hashed and written as
they arrive, on a second thread while the next block is read: the sha256 costs no second pass over the
file, and a write() the kernel makes wait does not stop the reading. A response that brings no new
byte (a server answering 206 with an empty body, a dropped connection) is retried a few times from the
bytes on disk, then the download fails instead of asking again for ever.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from mlmp_cli import http_get

BLOCK = 1024 * 1024  # bytes per read: large, so the Python work per byte is small
MIN_BLOCK = 64 * 1024
MAX_RESIGNS = 3
MAX_STALLS = 3  # responses in a row that bring no new byte before the download gives up
STALL_PAUSE = 0.5  # seconds before retrying after a stall, times the stalls so far
STOP_GRACE = 0.5  # seconds the downloads get to close their .part files after Ctrl-C


class DownloadFailed(Exception):
    pass


@dataclass(frozen=True)
class Wanted:
    name: str  # the round's file name, e.g. "train"
    target: Path  # where it ends up, e.g. DEST/train.parquet
    size: int
    sha256: str
    url: str


@dataclass
class Outcome:
    name: str
    path: str
    size: int
    sha256: str
    status: str  # "downloaded", "resumed", "already complete"
    resumed_from: int = 0


def hash_file(path: Path, digest: Any = None, on_bytes: Callable[[int], None] | None = None) -> Any:
    """Feeds the file into `digest` (a new sha256 when None) and returns it."""
    digest = digest or hashlib.sha256()
    buffer = memoryview(bytearray(BLOCK))
    with open(path, "rb", buffering=0) as handle:
        while count := handle.readinto(buffer):
            digest.update(buffer[:count])
            if on_bytes:
                on_bytes(count)
    return digest


class Stopped(Exception):
    """The pull was told to stop (Ctrl-C): the bytes so far stay in NAME.part for the resume."""


class Throttle:
    """Keeps all the streams of one pull together under `bytes_per_second` (0: no limit); its wait ends
    at once when `stop` is set."""

    def __init__(self, bytes_per_second: float, stop: threading.Event | None = None) -> None:
        self._rate = bytes_per_second
        self._stop = stop or threading.Event()
        self._lock = threading.Lock()
        self._started = time.monotonic()
        self._sent = 0

    @property
    def block(self) -> int:
        """Bytes per read: smaller under a limit, so the pace stays even and a stop is quick."""
        return BLOCK if not self._rate else max(MIN_BLOCK, min(BLOCK, int(self._rate / 8)))

    def pause(self, seconds: float) -> None:
        if self._stop.wait(seconds):
            raise Stopped()

    def __call__(self, count: int) -> None:
        if self._stop.is_set():
            raise Stopped()
        if not self._rate:
            return
        with self._lock:
            self._sent += count
            ahead = self._sent / self._rate - (time.monotonic() - self._started)
        if ahead > 0 and self._stop.wait(ahead):
            raise Stopped()


def download(
    wanted: Wanted,
    resign: Callable[[str], str],
    progress: Callable[[str, int, int], None],
    throttle: Throttle | None = None,
) -> Outcome:
    """Fetches one file; `resign(name)` returns a fresh URL; `progress(name, done, total)`; `throttle`
    is called after each block (it paces the pull, and raises Stopped when the pull must end)."""
    throttle = throttle or Throttle(0)
    if wanted.target.exists() and wanted.target.stat().st_size == wanted.size:
        if hash_file(wanted.target).hexdigest() == wanted.sha256:
            progress(wanted.name, wanted.size, wanted.size)
            return Outcome(wanted.name, str(wanted.target), wanted.size, wanted.sha256, "already complete")
    part = wanted.target.with_name(wanted.target.name + ".part")
    block_size = throttle.block
    url, resigns = wanted.url, 0
    for _attempt in range(2):  # a second, clean attempt if the first one's bytes do not verify
        have = part.stat().st_size if part.exists() else 0
        if have > wanted.size:
            part.unlink()
            have = 0
        resumed_from = have
        digest = hashlib.sha256()
        if have:
            hash_file(part, digest)  # the bytes already on disk count towards the checksum
        progress(wanted.name, have, wanted.size)
        stalls = 0
        while have < wanted.size:
            received = 0
            try:
                with http_get.get(url, {"Range": f"bytes={have}-"} if have else {}) as response:
                    if response.status == 403 and resigns < MAX_RESIGNS:
                        url, resigns = resign(wanted.name), resigns + 1  # expired: ask for a new link, go on
                        continue
                    if response.status not in (200, 206):
                        raise DownloadFailed(f"{wanted.name}: the server answered HTTP {response.status}")
                    if response.status == 206:
                        _check_range(wanted.name, response.headers.get("Content-Range", ""), have)
                    elif have:  # the server ignored the Range: start over
                        have, resumed_from, digest = 0, 0, hashlib.sha256()
                    with open(part, "ab" if have else "wb") as handle, _Writer(handle, digest) as writer:
                        # Never more than the manifest's size: a server sending more cannot fill the disk.
                        while have < wanted.size and (
                            count := response.readinto(writer.buffer(min(block_size, wanted.size - have)))
                        ):
                            writer.write(count)
                            have += count
                            received += count
                            progress(wanted.name, have, wanted.size)
                            throttle(count)
                    problem = "the server sent no bytes"
            except (OSError, http.client.HTTPException) as error:  # kept bytes stay; the next request resumes
                problem = f"the transfer failed ({type(error).__name__}: {error})"
                on_disk = part.stat().st_size if part.exists() else 0
                if on_disk != have:  # a block read was never written (disk full?): go on from the disk's bytes
                    have, received = on_disk, 0
                    digest = hash_file(part) if on_disk else hashlib.sha256()
            except http_get.HttpGetError as error:
                raise DownloadFailed(f"{wanted.name}: {error}") from None
            if have < wanted.size:
                stalls = 0 if received else stalls + 1
                if stalls >= MAX_STALLS:
                    raise DownloadFailed(
                        f"{wanted.name}: {problem} ({MAX_STALLS} times in a row, at byte {have:,} of {wanted.size:,})"
                    )
                if stalls:
                    throttle.pause(STALL_PAUSE * stalls)
        if digest.hexdigest() == wanted.sha256 and have == wanted.size:
            os.replace(part, wanted.target)
            status = "resumed" if resumed_from else "downloaded"
            return Outcome(wanted.name, str(wanted.target), wanted.size, wanted.sha256, status, resumed_from)
        part.unlink(missing_ok=True)  # damaged bytes: never renamed; try once more from zero
    raise DownloadFailed(f"{wanted.name}: the downloaded bytes do not match the manifest's sha256 (twice)")


class _Writer:
    """Writes and hashes each block on a thread of its own while the next block is read into the other
    of two buffers: when the kernel makes write() wait (dirty pages of a big new file), the download
    goes on reading. On leaving, the last write is waited for, so the file holds every block read."""

    def __init__(self, handle: BinaryIO, digest: Any) -> None:
        self._handle, self._digest = handle, digest
        self._buffers = [memoryview(bytearray(BLOCK)), memoryview(bytearray(BLOCK))]
        self._next = 0
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="mp-write")
        self._pending: Future[None] | None = None

    def buffer(self, size: int) -> memoryview:
        """The buffer to read the next block into (never the one being written)."""
        return self._buffers[self._next][:size]

    def write(self, count: int) -> None:
        """Hands the first `count` bytes of buffer() over to be written and hashed."""
        block = self._buffers[self._next][:count]
        self._wait()
        self._pending = self._pool.submit(self._write, block)
        self._next ^= 1

    def _write(self, block: memoryview) -> None:
        self._handle.write(block)
        self._digest.update(block)

    def _wait(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            pending.result()  # a failed write (disk full) is raised here, in the reading thread

    def __enter__(self) -> _Writer:
        return self

    def __exit__(self, *_exc: object) -> None:
        try:
            self._wait()
        finally:
            self._pool.shutdown()


_CONTENT_RANGE = re.compile(r"bytes (\d+)-\d+/(\d+|\*)")


def _check_range(name: str, content_range: str, asked_from: int) -> None:
    """A 206 must start where we asked: bytes from elsewhere would be appended at the wrong place."""
    found = _CONTENT_RANGE.fullmatch(content_range.strip())
    if not found or int(found.group(1)) != asked_from:
        raise DownloadFailed(
            f"{name}: asked for the bytes from {asked_from:,}, the server answered {content_range or 'no range'!r}"
        )


def download_all(
    files: list[Wanted],
    resign: Callable[[str], str],
    progress: Callable[[str, int, int], None],
    parallel: int = 4,
    rate_limit: float = 0,
) -> list[Outcome]:
    """Fetches `files`, `parallel` at once, all together under `rate_limit` bytes/s. Ctrl-C ends every
    download within about a second, leaving each NAME.part for the resume."""
    for wanted in files:
        wanted.target.parent.mkdir(parents=True, exist_ok=True)
    stop = threading.Event()
    throttle = Throttle(rate_limit, stop)
    waiting = list(enumerate(files))
    results: dict[int, Outcome | BaseException] = {}
    lock = threading.Lock()

    def work() -> None:
        while not stop.is_set():
            with lock:
                if not waiting:
                    return
                index, wanted = waiting.pop(0)
            try:
                results[index] = download(wanted, resign, progress, throttle)
            except BaseException as error:  # handed to the caller's thread, in the files' order
                results[index] = error

    # Daemon threads: a read stuck on the network cannot hold `mp` past Ctrl-C.
    workers = [threading.Thread(target=work, daemon=True) for _ in range(max(1, parallel))]
    for worker in workers:
        worker.start()
    try:
        for worker in workers:
            while worker.is_alive():
                worker.join(0.1)
    except KeyboardInterrupt:
        stop.set()
        deadline = time.monotonic() + STOP_GRACE
        for worker in workers:
            worker.join(max(0.0, deadline - time.monotonic()))
        raise
    for index in range(len(files)):
        outcome = results[index]
        if isinstance(outcome, BaseException):
            raise outcome
    return [results[index] for index in range(len(files))]  # type: ignore[misc]
