"""`mp admin rounds publish --from-csv … --dry-run`: what a round would hold, per symbol, with no server at all;
folders and quoted globs name the files."""

from __future__ import annotations

import gzip
import json
import subprocess
from pathlib import Path

from tests.helpers.processes import BIN, clean_env

HEADER = "Date,Open,High,Low,Close,Volume\n"


def prices(days: int, header: str = HEADER) -> str:
    dates = [f"2026-{1 + i // 28:02d}-{1 + i % 28:02d}" for i in range(days)]
    return header + "".join(f"{d},{100 + i % 9},{101 + i % 9},{99 + i % 9},{100 + i % 5},{1000 + i}\n"
                            for i, d in enumerate(dates))  # fmt: skip


def mp(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = clean_env(MP_CONFIG_DIR=str(tmp_path / "config"), MP_API_URL="http://127.0.0.1:9")  # nothing listens there
    return subprocess.run([str(BIN / "mp"), "admin", "rounds", "publish", *args], env=env, capture_output=True,
                          text=True, timeout=60)  # fmt: skip


def test_a_folder_dry_run_shows_each_symbols_split_and_who_is_left_out(tmp_path: Path):
    folder = tmp_path / "prices"
    folder.mkdir()
    (folder / "abc.csv").write_text(prices(80))
    (folder / "xyz.csv.gz").write_bytes(gzip.compress(prices(80, header=",Open,High,Low,Close,Volume\n").encode()))
    (folder / "tiny.csv").write_text(prices(30))
    (folder / "notes.md").write_text("not a price file")
    done = mp(tmp_path, "--from-csv", str(folder), "--dry-run", "--json")
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    assert [s["symbol"] for s in shown["symbols"]] == ["ABC", "XYZ"]
    assert all(min(s["rows"].values()) > 0 for s in shown["symbols"])
    assert shown["left_out"][0]["symbol"] == "TINY"
    assert (shown["bar_seconds"], shown["horizon_bars"], shown["horizon_seconds"]) == (86400, 5, 432000)
    human = mp(tmp_path, "--from-csv", str(folder / "*.csv"), "--dry-run")
    assert human.returncode == 0, human.stderr
    assert "ABC " in human.stdout
    assert "left out: TINY" in human.stdout
    assert "Bars of 1d: the target looks 5 bars (5d) ahead." in human.stdout
    assert "nothing was published" in human.stdout


def test_a_glob_that_matches_nothing_is_a_usage_error_naming_it(tmp_path: Path):
    done = mp(tmp_path, "--from-csv", str(tmp_path / "nowhere" / "*.csv"), "--dry-run")
    assert done.returncode == 2
    assert "nowhere/*.csv: no such file, and no file matches it" in done.stderr


def test_a_bad_cell_is_named_by_file_line_and_column(tmp_path: Path):
    (tmp_path / "abc.csv").write_text(prices(80).replace(",1003\n", ",lots\n", 1))
    done = mp(tmp_path, "--from-csv", str(tmp_path / "abc.csv"), "--dry-run")
    assert done.returncode == 1
    assert "abc.csv line 5, column Volume: 'lots' is not a number" in done.stderr
