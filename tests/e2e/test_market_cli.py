"""`mp admin market replay` as an operator runs it, against a real mp-server: price files become bars in the
feed at the pace asked for, with progress; a bad file is named and nothing is sent; Ctrl-C stops cleanly and
the same command continues where it stopped."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from datetime import date, timedelta
from pathlib import Path

import pytest

from tests.helpers.processes import BIN, ServerProcess, clean_env

pytestmark = pytest.mark.e2e
DAY = 86400


@pytest.fixture
def server_env() -> dict[str, str]:
    return {"MP_DEMO_ROUND": "false"}


@pytest.fixture
def mp_env(server: ServerProcess, tmp_path: Path) -> dict[str, str]:
    return clean_env(MP_CONFIG_DIR=str(tmp_path / "cfg"), MP_API_URL=server.api_url, MP_TOKEN=server.admin_token)


def mp(env: dict[str, str], *args: str, ok: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([str(BIN / "mp"), *args], env=env, capture_output=True, text=True, timeout=120)
    if ok:
        assert result.returncode == 0, f"mp {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result


def prices(folder: Path, symbol: str, days: int, *, bad_day: int | None = None) -> Path:
    """Daily bars from 2026-01-01 in the shape pandas writes (an unnamed date column, lowercase headers)."""
    lines = [",open,high,low,close,volume"]
    for day in range(days):
        close = 100 + day + len(symbol)
        high = close - 3 if day == bad_day else close + 1
        lines.append(f"{date(2026, 1, 1) + timedelta(days=day)},{close - 0.5},{high},{close - 1},{close},{1000 + day}")
    path = folder / f"{symbol}.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def stored(env: dict[str, str]) -> dict[str, int]:
    return {s["symbol"]: int(s["barCount"]) for s in json.loads(mp(env, "admin", "market", "symbols", "--json").stdout)}


def test_a_replay_sends_every_bar_paced_by_the_speed_with_progress(mp_env, tmp_path):
    folder = tmp_path / "prices"
    folder.mkdir()
    prices(folder, "AAA", 30)
    prices(folder, "BBBB", 20)
    speed = 29 * DAY / 3  # the 29 days between the first and the last bar in 3 s
    human = mp(mp_env, "admin", "market", "replay", "--from-csv", str(folder), "--speed", f"{speed}x")
    assert "Replayed 50 bars of 2 symbols" in human.stdout
    assert "50 stored, 0 already there" in human.stdout
    lines = [line for line in human.stderr.splitlines() if line.startswith("replayed ")]
    assert lines, human.stderr  # a progress line a second
    assert "/50 bars" in lines[0]
    assert stored(mp_env) == {"AAA": 30, "BBBB": 20}
    again = json.loads(mp(mp_env, "admin", "market", "replay", "--from-csv", str(folder), "--json").stdout)
    assert (again["skipped"], again["sent"], again["stored"]) == (50, 0, 0)  # all in the feed already

    prices(folder, "AAA", 40)  # ten more days
    paced = json.loads(
        mp(mp_env, "admin", "market", "replay", "--from-csv", str(folder / "AAA.csv"), "--speed", f"{9 * DAY / 2}x",
           "--json").stdout
    )  # fmt: skip
    assert (paced["sent"], paced["stored"], paced["skipped"]) == (10, 10, 30)
    assert paced["elapsed_seconds"] >= 2 * 0.9  # 9 days of gaps at 4.5 days a second; never faster
    assert paced["symbols"][0]["lastBarTime"] == "2026-02-09T00:00:00Z"
    newest = json.loads(mp(mp_env, "admin", "market", "bars", "AAA", "--last", "3", "--json").stdout)
    assert [(b["time"], b["close"]) for b in newest] == [
        ("2026-02-07T00:00:00Z", 140),
        ("2026-02-08T00:00:00Z", 141),
        ("2026-02-09T00:00:00Z", 142),
    ]
    shown = mp(mp_env, "admin", "market", "bars", "AAA", "--last", "2").stdout
    assert "2026-02-09 00:00" in shown
    assert "142" in shown


def test_a_bad_bar_is_named_by_file_and_time_and_nothing_is_replayed(mp_env, tmp_path):
    prices(tmp_path, "AAA", 30)
    bad = prices(tmp_path, "BAD", 30, bad_day=6)
    refused = mp(mp_env, "admin", "market", "replay", "--from-csv", str(tmp_path / "*.csv"), "--speed", "max",
                 ok=False)  # fmt: skip
    assert refused.returncode == 1
    assert "BAD.csv: the bar at 2026-01-07 has a high below its low" in refused.stderr
    assert "Nothing was replayed" in refused.stderr
    assert stored(mp_env) == {}
    bad.write_text(bad.read_text().replace(",", ";", 3))
    unreadable = mp(mp_env, "admin", "market", "replay", "--from-csv", str(bad), ok=False)
    assert unreadable.returncode == 1
    assert "BAD.csv" in unreadable.stderr


def test_ctrl_c_stops_a_replay_cleanly_and_the_same_command_continues(mp_env, tmp_path):
    path = prices(tmp_path, "AAA", 60)
    command = [str(BIN / "mp"), "admin", "market", "replay", "--from-csv", str(path), "--speed", f"{DAY}x"]
    process = subprocess.Popen(command, env=mp_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stderr is not None
        first = process.stderr.readline()  # the first progress line: bars are flowing
        assert first.startswith("replayed "), first
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
    assert process.returncode == 130, err
    assert "Stopped after" in out
    assert "Run the same command again" in err
    so_far = stored(mp_env)["AAA"]
    assert 0 < so_far < 60
    rest = json.loads(mp(mp_env, "admin", "market", "replay", "--from-csv", str(path), "--speed", "max",
                         "--json").stdout)  # fmt: skip
    assert (rest["skipped"], rest["stored"]) == (so_far, 60 - so_far)
    assert stored(mp_env) == {"AAA": 60}
