"""Progress bars cost nothing when there are none: `mp data pull --json` never imports rich."""

import subprocess
import sys

PULL_WITHOUT_BARS = """
import sys
from mlmp_cli.transfers.progress import TransferProgress
import mlmp_cli.main, mlmp_cli.transfers.pull
with TransferProgress({"train": 10}, enabled=False) as bars:
    bars.update("train", 10, 10)
print("rich" in sys.modules)
"""


def test_a_pull_without_progress_bars_does_not_import_rich():
    loaded = subprocess.run(
        [sys.executable, "-c", PULL_WITHOUT_BARS], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == "False"


def test_bars_that_are_wanted_still_take_updates():
    from mlmp_cli.transfers.progress import TransferProgress

    with TransferProgress({"train": 10, "live": 5}) as bars:  # not a terminal here: drawn nowhere
        bars.update("train", 4, 10)
        bars.update("live", 5, 5)
