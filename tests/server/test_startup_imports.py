"""A started server keeps the heavy libraries out: pandas, numpy and pyarrow load only to build round
files (the demo round is built in a child process), boto3 only with an S3 store, httpx only to call out."""

import subprocess
import sys
from pathlib import Path

import pytest

# psycopg: the PostgreSQL driver and the notification bus need it; the embedded default (SQLite) does not.
HEAVY = ("pandas", "numpy", "pyarrow", "boto3", "httpx", "psycopg")

# Runs in a fresh interpreter: the test process itself has imported all of them long ago.
START_AND_REPORT = """
import sys
from pathlib import Path

import grpc

from mlmp_marketplace.v1 import datasets_pb2, datasets_pb2_grpc
from mlmp_server.settings import Settings, default_database_url
from tests.helpers.auth import bearer
from tests.helpers.server_thread import ServerThread

data, demo = Path(sys.argv[1]), sys.argv[2] == "on"
server = ServerThread(Settings(data_dir=data, database_url=default_database_url(data), demo_round=demo)).start()
try:
    with grpc.insecure_channel(server.grpc_target) as channel:
        listed = datasets_pb2_grpc.DatasetServiceStub(channel).ListRounds(
            datasets_pb2.ListRoundsRequest(), metadata=bearer(server.admin_token)
        )
    print("rounds", len(listed.rounds))
    print("loaded", *sorted(name for name in sys.argv[3:] if name in sys.modules))
finally:
    server.stop()
"""


@pytest.mark.parametrize("demo", ["on", "off"])
def test_a_started_server_has_not_loaded_pandas_numpy_pyarrow_boto3_or_httpx(tmp_path, demo):
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", START_AND_REPORT, str(tmp_path / "data"), demo, *HEAVY],
        cwd=root, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = dict(line.split(" ", 1) if " " in line else (line, "") for line in done.stdout.splitlines())
    assert report["rounds"] == ("1" if demo == "on" else "0")  # the demo round was built, elsewhere
    assert report["loaded"] == ""
