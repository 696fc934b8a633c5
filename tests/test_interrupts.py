"""Tests that send Ctrl-C work from a background job too, where the suite itself starts with SIGINT ignored."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

from tests.helpers.processes import interruptible

SLEEPER = [sys.executable, "-c", "import time; time.sleep(30)"]


def test_a_program_started_for_ctrl_c_gets_it_when_the_suite_ignores_sigint():
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # as in `make test &`
    try:
        child = subprocess.Popen(interruptible(SLEEPER), stderr=subprocess.PIPE, text=True)
    finally:
        signal.signal(signal.SIGINT, previous)
    with child:
        try:
            # Its interpreter installs the KeyboardInterrupt handler once started: give it the time to.
            time.sleep(0.5)
            child.send_signal(signal.SIGINT)
            _, err = child.communicate(timeout=10)
        finally:
            child.kill()
    assert "KeyboardInterrupt" in err
