"""The named pipe through which `mp deployments rotate-token` hands a server that `mp deploy` started
its new token (never written to a file): a refused token is then replaced, not fatal."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("mp.publisher")


def listen_for_tokens(pipe: Path, stop: threading.Event, on_token: Callable[[str], None]) -> None:
    """Hands each token written to the pipe to `on_token`, until `stop` is set."""
    while not stop.is_set():
        try:
            with open(pipe) as readings:  # blocks until a writer opens it
                for line in readings:
                    token = line.strip()
                    if token and not stop.is_set():
                        on_token(token)
                        log.info("the deployment's token was rotated; continuing with the new one")
        except OSError as error:
            log.warning("token pipe %s unusable (%s); a rotated token will stop this publisher", pipe, error)
            return


def wake_reader(pipe: Path) -> None:
    """Opens the pipe for writing and closes it: a listener blocked opening it wakes and sees the stop."""
    try:
        os.close(os.open(pipe, os.O_WRONLY | os.O_NONBLOCK))
    except OSError:
        pass  # no listener is waiting
