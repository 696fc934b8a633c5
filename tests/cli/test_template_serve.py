"""The template's inference server when it cannot publish: it must not stay up looking live while publishing
nothing (a deployment that answers /ping but never signals)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parents[2] / "cli" / "templates" / "runpod-signal-http"
# serve.py run as its own program, with `mlmp_cli.publisher` made unimportable when asked (None in sys.modules).
RUN_SERVE = "import runpy, sys\n{hide}\nsys.argv = ['serve.py']\nrunpy.run_path('serve.py', run_name='__main__')"


def serve(tmp_path: Path, *, hide_publisher: bool, **env: str) -> subprocess.CompletedProcess:
    code = RUN_SERVE.format(hide="sys.modules['mlmp_cli.publisher'] = None" if hide_publisher else "")
    return subprocess.run([sys.executable, "-c", code], cwd=TEMPLATE, capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "PORT": "0", "MP_DEPLOYMENT_TOKEN": "x", **env})  # fmt: skip


def test_a_deployed_server_without_the_publisher_exits_saying_what_to_install(tmp_path: Path):
    done = serve(tmp_path, hide_publisher=True)
    assert done.returncode == 1
    assert "cannot publish signals" in done.stderr
    assert "ml-marketplace" in done.stderr


def test_a_server_whose_publisher_fails_exits_instead_of_serving_on(tmp_path: Path):
    done = serve(tmp_path, hide_publisher=False)  # no MP_GRPC_TARGET: the publisher cannot start
    assert done.returncode == 1
    assert "publishing signals failed; the server stops" in done.stderr
