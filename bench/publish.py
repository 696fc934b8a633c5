"""Publishing benchmark: a round built from price CSVs, against a plain pandas script; prints figures, asserts nothing.

1. The round builder (cli/rounds/features.py) end to end: every file read and checked, the features, the splits
   and three Parquet files, against a plain pandas script doing the same features, splits and Parquet with no
   checks. Both run in this process, alternating, medians of three; the ratio is builder ÷ pandas.
2. `mp admin rounds publish --from-csv` on the same files against a real mp-server process, and `--file` with the
   three Parquet files ready, so the part that is not building (CLI start-up, digests, upload, commit) shows apart.
3. PublishRoundFromCsv (what the console's Rounds page calls): the same CSVs uploaded and built on the server, in
   a child process it spawns, against the CLI's --from-csv, which builds on the operator's machine.

BENCH_QUICK=1 uses 50 symbols × 500 bars instead of 500 × 2,000.
"""

from __future__ import annotations

import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from bench.gateway import start_server
from mlmp_cli.rounds.features import build_round, encode, read_prices

QUICK = os.environ.get("BENCH_QUICK") == "1"
SYMBOLS, BARS = (50, 500) if QUICK else (500, 2000)
RUNS = 3


def write_csvs(folder: Path) -> list[Path]:
    """One Date,Open,High,Low,Close,Volume file per symbol: daily bars from a random walk, 4 decimals."""
    rng = np.random.default_rng(1)
    dates = pd.date_range("2015-01-01", periods=BARS, freq="B").strftime("%Y-%m-%d")
    paths = []
    for index in range(SYMBOLS):
        close = 100 * np.exp(np.cumsum(rng.normal(0.0002, 0.02, BARS)))
        open_ = close * np.exp(rng.normal(0, 0.005, BARS))
        frame = pd.DataFrame({
            "Date": dates, "Open": open_.round(4), "High": (np.maximum(open_, close) * 1.01).round(4),
            "Low": (np.minimum(open_, close) * 0.99).round(4), "Close": close.round(4),
            "Volume": rng.lognormal(13, 0.4, BARS).round().astype(int),
        })  # fmt: skip
        path = folder / f"S{index:04d}.csv"
        frame.to_csv(path, index=False)
        paths.append(path)
    return paths


def ours(paths: list[Path], out: Path | None = None) -> int:
    built = build_round(read_prices(path.name, path.read_text()) for path in paths)
    size = 0
    for name, table in built.tables.items():
        data = encode(table, "parquet")
        size += len(data)
        if out:
            (out / f"{name}.parquet").write_bytes(data)
    return size


def plain_pandas(paths: list[Path]) -> int:
    """What someone would write without the checks: read, features per symbol, split by time, Parquet."""
    bars = pd.concat(
        [pd.read_csv(path, parse_dates=["Date"]).assign(symbol=path.stem.upper()) for path in paths],
        ignore_index=True,
    )
    bars.columns = [column.lower() for column in bars.columns]
    bars["time"] = bars.pop("date").dt.tz_localize("UTC")
    bars = bars.sort_values(["symbol", "time"], ignore_index=True)
    by_symbol = bars.groupby("symbol")
    close = bars["close"]
    table = bars[["symbol", "time"]].copy()
    for horizon in (1, 5, 20):
        table[f"ret_{horizon}"] = close / by_symbol["close"].shift(horizon) - 1
    table["volatility_20"] = table.groupby("symbol")["ret_1"].rolling(20).std().droplevel(0)
    table["volume_ratio_20"] = bars["volume"] / by_symbol["volume"].rolling(20).mean().droplevel(0)
    table["range"] = (bars["high"] - bars["low"]) / close
    table["target_fwd_ret_5"] = by_symbol["close"].shift(-5) / close - 1
    table = table.dropna(subset=["ret_20", "volatility_20", "volume_ratio_20"])
    times = np.sort(table["time"].unique())
    cut1, cut2 = round(len(times) * 0.6), round(len(times) * 0.6) + round(len(times) * 0.2)
    splits = {
        "train": table[table["time"] < times[cut1 - 5]].dropna(subset=["target_fwd_ret_5"]),
        "validation": table[(table["time"] >= times[cut1]) & (table["time"] < times[cut2 - 5])].dropna(
            subset=["target_fwd_ret_5"]
        ),
        "live": table[table["time"] >= times[cut2]].assign(target_fwd_ret_5=float("nan")),
    }
    size = 0
    for rows in splits.values():
        buffer = io.BytesIO()
        rows.sort_values(["time", "symbol"]).to_parquet(buffer, index=False)
        size += len(buffer.getvalue())
    return size


def median_seconds(runs: dict[str, Callable[[], object]]) -> dict[str, float]:
    timings: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(RUNS):
        for name, run in runs.items():  # alternating, so load on the shared machine falls on both
            started = time.perf_counter()
            run()
            timings[name].append(time.perf_counter() - started)
    return {name: statistics.median(values) for name, values in timings.items()}


def on_server_seconds(grpc_port: int, token: str, csvs: list[Path]) -> float:
    """PublishRoundFromCsv with the CSVs over gRPC, 1 MiB chunks: seconds until the round is published."""
    import grpc

    from mlmp_marketplace.v1 import datasets_pb2, datasets_pb2_grpc

    Request = datasets_pb2.PublishRoundFromCsvRequest

    def messages():
        yield Request(header=Request.Header(files=[Request.CsvFile(name=p.name) for p in csvs]))
        for path in csvs:
            data = path.read_bytes()
            for start in range(0, len(data), 2**20):
                yield Request(chunk=Request.Chunk(file=path.name, data=data[start : start + 2**20]))

    with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
        started = time.perf_counter()
        datasets_pb2_grpc.DatasetServiceStub(channel).PublishRoundFromCsv(
            messages(), metadata=(("authorization", f"Bearer {token}"),), timeout=600
        )
        return time.perf_counter() - started


def publish_seconds(work: Path, csvs: list[Path], parquets: list[Path]) -> tuple[float, float, float]:
    """`mp admin rounds publish` from the CSVs, then with the Parquet files as they are, then PublishRoundFromCsv:
    seconds for each."""
    process, token, grpc_port, http_port = start_server(str(work / "data"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("MP_")}
    env.update(MP_API_URL=f"http://127.0.0.1:{http_port}", MP_TOKEN=token, MP_CONFIG_DIR=str(work / "cfg"))
    mp = os.path.join(os.path.dirname(sys.executable), "mp")
    seconds = []
    try:
        for option, paths in (("--from-csv", csvs), ("--file", parquets)):
            command = [mp, "admin", "rounds", "publish", "--json", *(a for p in paths for a in (option, str(p)))]
            started = time.perf_counter()
            subprocess.run(command, env=env, check=True, capture_output=True)
            seconds.append(time.perf_counter() - started)
        seconds.append(on_server_seconds(grpc_port, token, csvs))
    finally:
        process.terminate()
        process.wait(30)
    return seconds[0], seconds[1], seconds[2]


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "csv").mkdir()
        (work / "parquet").mkdir()
        paths = write_csvs(work / "csv")
        size = ours(paths, work / "parquet")
        times = median_seconds({"ours": lambda: ours(paths), "pandas": lambda: plain_pandas(paths)})
        csv_bytes = sum(path.stat().st_size for path in paths)
        from_csv, prepared, on_server = publish_seconds(work, paths, sorted((work / "parquet").iterdir()))
    print(f"building a round from {SYMBOLS} symbols × {BARS:,} bars of CSV ({size / 2**20:.0f} MB of Parquet), "
          f"median of {RUNS}")  # fmt: skip
    print(f"  round builder (read, check, features, splits, Parquet): {times['ours']:.2f} s")
    print(f"  plain pandas script, same features and Parquet, no checks: {times['pandas']:.2f} s")
    print(f"  ratio builder/pandas {times['ours'] / times['pandas']:.2f}")
    print("mp admin rounds publish against one mp-server process, one run each:")
    print(f"  --from-csv, the same files: {from_csv:.2f} s (÷ the pandas script: {from_csv / times['pandas']:.2f})")
    print(f"  --file, the three Parquet files as they are (start-up, digests, upload, commit): {prepared:.2f} s")
    print(f"PublishRoundFromCsv, the {csv_bytes / 2**20:.0f} MB of CSVs built on the server (the console's path):")
    print(f"  {on_server:.2f} s (÷ --from-csv built on the operator's machine: {on_server / from_csv:.2f})")


if __name__ == "__main__":
    main()
