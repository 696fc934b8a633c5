"""A PostgreSQL server for the tests: the local one (MP_TEST_POSTGRES_URL, default 127.0.0.1:5432),
else a throwaway cluster from the PostgreSQL binaries, else a skip with the reason — or, with
MP_REQUIRE_POSTGRES=1 (CI), a failure."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


class PostgresUnavailable(Exception):
    pass


def _reachable(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


def _initdb_binaries() -> str | None:
    found = shutil.which("initdb")
    if found:
        return os.path.dirname(found)
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb")) + sorted(
        glob.glob("/usr/local/opt/postgresql*/bin/initdb")
    )
    return os.path.dirname(candidates[-1]) if candidates else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def _throwaway_cluster() -> Iterator[str]:
    bindir = _initdb_binaries()
    if bindir is None:
        raise PostgresUnavailable("no PostgreSQL at 127.0.0.1:5432 and no initdb binaries to start one")
    if os.geteuid() == 0:
        raise PostgresUnavailable("no PostgreSQL at 127.0.0.1:5432, and initdb refuses to run as root")
    data = tempfile.mkdtemp(prefix="mp-pg-")
    port = _free_port()
    try:
        subprocess.run(
            [f"{bindir}/initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8"],
            check=True,
            capture_output=True,
        )
        subprocess.run(
            [f"{bindir}/pg_ctl", "-D", data, "-o", f"-p {port} -k {data} -c listen_addresses=127.0.0.1", "-w", "start"],
            check=True,
            capture_output=True,
        )
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([f"{bindir}/pg_ctl", "-D", data, "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(data, ignore_errors=True)


@contextmanager
def postgres_server() -> Iterator[str]:
    """The admin URL of a PostgreSQL server for this test session."""
    url = os.environ.get("MP_TEST_POSTGRES_URL", DEFAULT_URL)
    if _reachable(url):
        yield url
        return
    with _throwaway_cluster() as throwaway:
        deadline = time.monotonic() + 10
        while not _reachable(throwaway):
            if time.monotonic() > deadline:
                raise PostgresUnavailable("the throwaway PostgreSQL cluster did not accept connections")
            time.sleep(0.1)
        yield throwaway


@contextmanager
def fresh_database(admin_url: str) -> Iterator[str]:
    """A new, empty database (unique name) for one test; dropped afterwards."""
    name = f"mp_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = admin_url.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
