"""A PostgreSQL server for the tests: MP_TEST_POSTGRES_URL when it is set (and only that one); else the local
server at 127.0.0.1:5432, else a throwaway cluster from the PostgreSQL binaries (as an unprivileged user when
the tests run as root, which initdb refuses), else a skip with the reason — or, with MP_REQUIRE_POSTGRES=1
(CI), a failure."""

from __future__ import annotations

import glob
import os
import pwd
import re
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


def _unreachable_because(url: str) -> str:
    """Why `url` takes no connection; empty when it does."""
    try:
        with psycopg.connect(url, connect_timeout=3):
            return ""
    except psycopg.Error as error:  # OperationalError: down; ProgrammingError: not a URL psycopg reads
        return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def _shown(url: str) -> str:
    """The URL without its password, for a message."""
    return re.sub(r"://([^:/@]*):[^@/]*@", r"://\1:***@", url)


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


UNPRIVILEGED_USERS = ("postgres", "nobody")


def _as_unprivileged() -> list[str]:
    """The command prefix that runs initdb and pg_ctl as a user other than root; empty when not root."""
    if os.geteuid() != 0:
        return []
    runuser = shutil.which("runuser")
    for user in UNPRIVILEGED_USERS:
        try:
            pwd.getpwnam(user)
        except KeyError:
            continue
        if runuser:
            return [runuser, "-u", user, "--"]
    raise PostgresUnavailable(
        "the tests run as root, which initdb refuses, and there is no runuser or no unprivileged user "
        f"({', '.join(UNPRIVILEGED_USERS)}) to run it as; set MP_TEST_POSTGRES_URL to a server"
    )


@contextmanager
def _throwaway_cluster(probed: str) -> Iterator[str]:
    bindir = _initdb_binaries()
    if bindir is None:
        raise PostgresUnavailable(f"{probed}, and no initdb binaries to start a throwaway cluster")
    prefix = _as_unprivileged()
    data = tempfile.mkdtemp(prefix="mp-pg-")
    if prefix:  # the cluster's user owns its folder
        user = pwd.getpwnam(prefix[2])
        os.chown(data, user.pw_uid, user.pw_gid)
    port = _free_port()
    options = f"-p {port} -k {data} -c listen_addresses=127.0.0.1"
    try:
        for step in (
            [f"{bindir}/initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8"],
            # The server's log to a file: on our pipe, it would hold the pipe open and this step never end.
            [f"{bindir}/pg_ctl", "-D", data, "-o", options, "-l", f"{data}/log", "-w", "start"],
        ):
            done = subprocess.run([*prefix, *step], capture_output=True, text=True, cwd=data)
            if done.returncode != 0:
                raise PostgresUnavailable(f"{probed}; the throwaway cluster did not start: {done.stderr.strip()}")
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*prefix, f"{bindir}/pg_ctl", "-D", data, "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(data, ignore_errors=True)


@contextmanager
def postgres_server() -> Iterator[str]:
    """The admin URL of a PostgreSQL server for this test session."""
    chosen = os.environ.get("MP_TEST_POSTGRES_URL", "")
    # The URL mp-server takes works here too.
    url = (chosen or DEFAULT_URL).replace("postgresql+psycopg://", "postgresql://", 1)
    reason = _unreachable_because(url)
    if not reason:
        yield url
        return
    if chosen:  # the server asked for, or none: never another one in its place
        raise PostgresUnavailable(f"MP_TEST_POSTGRES_URL ({_shown(chosen)}) takes no connection: {reason}")
    with _throwaway_cluster(f"no PostgreSQL at {_shown(url)} ({reason})") as throwaway:
        deadline = time.monotonic() + 10
        while _unreachable_because(throwaway):
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
