"""A started mp-server settles its heap: the objects of start-up frozen out of the collector's sight
(a full collection walking them stalled every call for 40-130 ms), young collections less often."""

import os
import signal
import subprocess
import sys
from pathlib import Path

from mlmp_server.process import GC_YOUNG_THRESHOLD

# mp-server itself, its collector's state printed as it exits.
RUN_AND_REPORT = """
import atexit, gc, sys
atexit.register(lambda: print("heap", gc.get_freeze_count(), gc.get_threshold()[0], flush=True))
from mlmp_server.main import main
sys.argv = ["mp-server", *sys.argv[1:]]
main()
"""


def test_a_running_mp_server_has_frozen_its_start_up_objects(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MP_")}
    env.update(MP_DATA_DIR=str(tmp_path / "data"), MP_GRPC_ADDR="127.0.0.1:0", MP_HTTP_ADDR="127.0.0.1:0",
               MP_DEMO_ROUND="false", MP_LOG_LEVEL="WARNING")  # fmt: skip
    root = Path(__file__).resolve().parents[2]
    process = subprocess.Popen(
        [sys.executable, "-c", RUN_AND_REPORT, "run"], cwd=root, env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith("HTTP listening"):
                break
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=60)
    finally:
        process.kill()
    frozen, young = next(line for line in out.splitlines() if line.startswith("heap")).split()[1:]
    assert int(frozen) > 100_000  # modules, descriptors, mappers: all of start-up
    assert int(young) == GC_YOUNG_THRESHOLD
