"""The wheel of the working tree, and `mp` installed from it the way pipx installs it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def build_wheel(source: Path, out: Path) -> tuple[Path, str]:
    """The wheel of the working tree (what a clean clone with these changes would build) and the build's output."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO, capture_output=True,
                            check=True).stdout.decode().split("\0")  # fmt: skip
    for name in filter(None, listed):
        if (REPO / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, source / name)
    # The build tools of this environment (no isolation): no download of setuptools for each run.
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-v",
                             "-w", str(out), str(source)], capture_output=True, text=True, timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    (wheel,) = out.glob("ml_marketplace-*.whl")
    return wheel, result.stdout + result.stderr


def install_pipx_style(wheel: Path, home: Path) -> Path:
    """A folder with only `mp` in it, linked from a virtualenv with the wheel and its dependencies: pipx's layout."""
    venv = home / "venvs" / "ml-marketplace"
    subprocess.run([getattr(sys, "_base_executable", sys.executable), "-m", "venv", str(venv)], check=True)
    installed = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", str(wheel)],
                               capture_output=True, text=True, timeout=300)  # fmt: skip
    assert installed.returncode == 0, installed.stderr
    assert subprocess.run([str(venv / "bin" / "python"), "-c", "import pandas"], capture_output=True).returncode != 0
    (home / "bin").mkdir()
    (home / "bin" / "mp").symlink_to(venv / "bin" / "mp")
    return home / "bin"
