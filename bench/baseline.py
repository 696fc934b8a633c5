"""The baseline the REST figures are read against: a bare Starlette app under uvicorn (configured and
bound as mp-server does it) answering every GET with the same bytes from memory, in its own process.

python -m bench.baseline BODY_FILE   prints "listening on PORT", then serves until terminated.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path


def start_baseline(body: bytes, work: Path) -> tuple[subprocess.Popen, int]:
    """Starts the baseline serving `body`; returns the process and its port."""
    body_file = work / "baseline-body"
    body_file.write_bytes(body)
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.baseline", str(body_file)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.startswith("listening on "):
        process.kill()
        raise SystemExit("the starlette baseline did not start")
    return process, int(line.split()[-1])


def main(body_file: str) -> None:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route

    body = Path(body_file).read_bytes()

    async def answer(request):
        return Response(body, media_type="application/json")

    app = Starlette(routes=[Route("/{path:path}", answer)])
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="off", server_header=False)
    # Bound as server/process.py binds (not imported: the baseline's memory is a bare app's): with
    # TCP_NODELAY, or Nagle holds each answer's body ~40 ms for the delayed ACK.
    sock = socket.socket()
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(512)  # connections made before uvicorn accepts wait in the backlog
    print(f"listening on {sock.getsockname()[1]}", flush=True)
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main(sys.argv[1])
