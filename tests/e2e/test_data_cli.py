"""Rounds through the real CLI against a real server: publish → list → info → pull → verify, resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.helpers.processes import BIN, ServerProcess, clean_env
from tests.helpers.rounds import price_csv

pytestmark = pytest.mark.e2e


def write_prices(folder: Path, symbols=("AAPL", "MSFT"), bars: int = 120) -> list[Path]:
    paths = []
    for offset, symbol in enumerate(symbols):
        path = folder / f"{symbol}.csv"
        path.write_text(price_csv(offset, bars))
        paths.append(path)
    return paths


@pytest.fixture
def server_env() -> dict[str, str]:
    return {"MP_DEMO_ROUND": "false"}


@pytest.fixture
def mp_env(server: ServerProcess, tmp_path: Path) -> dict[str, str]:
    return clean_env(MP_CONFIG_DIR=str(tmp_path / "cfg"), MP_API_URL=server.api_url, MP_TOKEN=server.admin_token)


def mp(env: dict[str, str], *args: str, cwd: Path | None = None, ok: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([str(BIN / "mp"), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120)
    if ok:
        assert result.returncode == 0, f"mp {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result


def test_publish_list_info_pull_verify(mp_env, tmp_path):
    csvs = write_prices(tmp_path)
    published = json.loads(
        mp(mp_env, "admin", "rounds", "publish", *(a for p in csvs for a in ("--from-csv", str(p))),
           "--closes", "+3d", "--json").stdout
    )  # fmt: skip
    assert published["number"] == 1
    assert published["symbols"] == ["AAPL", "MSFT"]
    assert (published["barSeconds"], published["horizonBars"], published["horizon"]) == (86400, 5, "432000s")
    listed = mp(mp_env, "data", "list").stdout
    assert "open" in listed.splitlines()[1]
    info = json.loads(mp(mp_env, "data", "info", "--round", "current", "--json").stdout)
    assert [f["name"] for f in info["files"]] == ["train", "validation", "live"]
    assert "target_fwd_ret_5" in info["files"][0]["columns"]

    work = tmp_path / "vendor"
    work.mkdir()
    pulled = json.loads(mp(mp_env, "data", "pull", "--round", "current", "--json", cwd=work).stdout)
    assert [f["status"] for f in pulled["files"]] == ["downloaded"] * 3
    folder = work / "mp-data" / "round-1"
    assert sorted(p.name for p in folder.iterdir()) == ["live.parquet", "train.parquet", "validation.parquet"]
    assert json.loads(mp(mp_env, "data", "verify", "--json", cwd=work).stdout)["ok"] is True
    again = json.loads(mp(mp_env, "data", "pull", "--json", cwd=work).stdout)
    assert [f["status"] for f in again["files"]] == ["already complete"] * 3

    (folder / "live.parquet").write_bytes(b"tampered")
    verify = mp(mp_env, "data", "verify", cwd=work, ok=False)
    assert verify.returncode == 1
    assert "mismatch" in verify.stdout


def test_a_bad_csv_publishes_nothing(mp_env, tmp_path):
    good, _ = write_prices(tmp_path)
    bad = tmp_path / "BAD.csv"
    bad.write_text(good.read_text().replace(",1003\n", ",lots\n", 1))
    result = mp(mp_env, "admin", "rounds", "publish", "--from-csv", str(good), "--from-csv", str(bad), ok=False)
    assert result.returncode == 1
    assert "BAD.csv line 5, column Volume: 'lots' is not a number. Nothing was published." in result.stderr
    assert "No rounds published yet." in mp(mp_env, "data", "list").stdout


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "EMPTY.csv: the file is empty; it needs a header line such as Date,Open,High,Low,Close,Volume"),
        ("Date,Open,High,Low,Close,Volume\n2026-01-01,1,1,1,1,1,9\n", "EMPTY.csv line 2: 7 fields, but the header"),
    ],
)
def test_an_empty_or_ragged_csv_is_refused_naming_the_file(mp_env, tmp_path, content, message):
    good, _ = write_prices(tmp_path)
    bad = tmp_path / "EMPTY.csv"
    bad.write_text(content)
    result = mp(mp_env, "admin", "rounds", "publish", "--from-csv", str(good), "--from-csv", str(bad), ok=False)
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_a_killed_pull_resumes_from_the_bytes_on_disk(mp_env, tmp_path):
    big = tmp_path / "big.csv"
    big.write_bytes(os.urandom(6 * 1024 * 1024).hex().encode()[: 6 * 1024 * 1024])
    mp(mp_env, "admin", "rounds", "publish", "--file", str(big))
    work = tmp_path / "vendor"
    work.mkdir()
    part = work / "mp-data" / "round-1" / "big.csv.part"
    slow = subprocess.Popen(
        [str(BIN / "mp"), "data", "pull", "--limit-rate", "1M"], env=mp_env, cwd=work,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while (not part.exists() or part.stat().st_size < 1024 * 1024) and time.monotonic() < deadline:
        time.sleep(0.05)
    slow.send_signal(signal.SIGKILL)
    slow.wait()
    kept = part.stat().st_size
    assert 1024 * 1024 <= kept < 6 * 1024 * 1024
    pulled = json.loads(mp(mp_env, "data", "pull", "--json", cwd=work).stdout)
    outcome = pulled["files"][0]
    assert outcome["status"] == "resumed"
    assert outcome["resumed_from"] == kept  # exactly the bytes the killed pull left
    assert (work / "mp-data" / "round-1" / "big.csv").read_bytes() == big.read_bytes()
    assert not part.exists()


def test_inside_a_project_pull_and_verify_use_the_rounds_folder_train_start_reads(mp_env, tmp_path):
    mp(mp_env, "admin", "rounds", "publish", "--from-csv", str(write_prices(tmp_path)[0]))
    project = tmp_path / "my-model"
    created = mp(mp_env, "init", str(project))
    assert "mp data pull" in created.stderr  # what mp init suggests works in the project
    inside = project / "src"
    inside.mkdir()  # anywhere under the project's mp.yaml
    pulled = json.loads(mp(mp_env, "data", "pull", "--json", cwd=inside).stdout)
    rounds = project / ".mp" / "rounds" / "round-1"
    assert pulled["dest"] == str(rounds)
    assert sorted(p.name for p in rounds.iterdir()) == ["live.parquet", "train.parquet", "validation.parquet"]
    assert not (inside / "mp-data").exists()
    verified = json.loads(mp(mp_env, "data", "verify", "--json", cwd=project).stdout)
    assert verified["ok"] is True
    assert {Path(f["path"]).parent for f in verified["files"]} == {rounds}


def test_ctrl_c_stops_a_throttled_pull_at_once_keeping_the_parts_and_the_rate_caps_the_whole_pull(mp_env, tmp_path):
    sources = []
    for name in ("north", "south"):
        source = tmp_path / f"{name}.csv"
        source.write_bytes(os.urandom(3 * 1024 * 1024).hex().encode())  # 6 MiB each: 6 s each at the cap
        sources.append(source)
    mp(mp_env, "admin", "rounds", "publish", "--file", str(sources[0]), "--file", str(sources[1]))
    work = tmp_path / "vendor"
    work.mkdir()
    parts = [work / "mp-data" / "round-1" / f"{name}.csv.part" for name in ("north", "south")]
    rate = 1024 * 1024
    pull = subprocess.Popen(
        [str(BIN / "mp"), "data", "pull", "--limit-rate", "1M", "--parallel", "2"], env=mp_env, cwd=work,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while not all(part.exists() for part in parts) and time.monotonic() < deadline:
        time.sleep(0.01)
    started = time.monotonic()
    time.sleep(2)
    pull.send_signal(signal.SIGINT)
    signalled = time.monotonic()
    _, err = pull.communicate(timeout=30)
    stopped_in = time.monotonic() - signalled
    assert stopped_in < 1.5, f"mp data pull took {stopped_in:.1f} s to stop after Ctrl-C"
    assert pull.returncode == 130, err
    assert "run the same command again to resume" in err
    assert "Traceback" not in err
    kept = [part.stat().st_size for part in parts]
    assert all(size > 0 for size in kept), kept
    # Both files together stay under the cap (a cap per file would let twice as much through).
    allowance = rate * (signalled - started) * 1.25 + 2 * 256 * 1024
    assert sum(kept) <= allowance, f"{sum(kept):,} bytes in {signalled - started:.1f} s at a cap of {rate:,}/s"
    resumed = json.loads(mp(mp_env, "data", "pull", "--json", cwd=work).stdout)
    assert [(f["status"], f["resumed_from"]) for f in resumed["files"]] == [("resumed", size) for size in kept]
    assert (work / "mp-data" / "round-1" / "north.csv").read_bytes() == sources[0].read_bytes()
