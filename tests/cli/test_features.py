"""The feature builder on a small hand-made price file, checked against values worked out by hand."""

from __future__ import annotations

import gzip
import math
import statistics

import pandas as pd
import pytest

from mlmp_cli.rounds.features import TARGET, PriceDataError, build_round, read_price_bytes, read_price_file, read_prices
from tests.helpers.price_files import fetch_price_files

# 60 daily bars: close = 100 + i, high/low = close ± 1, volume 1000, open = close.
ROWS = [f"2026-01-{1 + i:02d}" if i < 31 else f"2026-02-{i - 30:02d}" for i in range(59)] + ["2026-03-01"]
CSV = "Date,Open,High,Low,Close,Volume\n" + "".join(
    f"{day},{100 + i},{101 + i},{99 + i},{100 + i},1000\n" for i, day in enumerate(ROWS)
)


def close(i: int) -> float:
    return 100.0 + i


@pytest.fixture(scope="module")
def built():
    return build_round([read_prices("abc.csv", CSV)])


def row_at(built, split: str, i: int):
    table = built.tables[split]
    return table[table["time"].dt.strftime("%Y-%m-%d") == ROWS[i]].iloc[0]


def test_features_match_the_hand_computation(built):
    row = row_at(built, "train", 25)
    assert row["symbol"] == "ABC"  # from the file name
    assert row["ret_1"] == pytest.approx(close(25) / close(24) - 1)
    assert row["ret_5"] == pytest.approx(close(25) / close(20) - 1)
    assert row["ret_20"] == pytest.approx(close(25) / close(5) - 1)
    daily = [close(k) / close(k - 1) - 1 for k in range(6, 26)]  # the 20 daily returns up to bar 25
    assert row["volatility_20"] == pytest.approx(statistics.stdev(daily))
    assert row["volume_ratio_20"] == pytest.approx(1.0)
    assert row["range"] == pytest.approx(2 / close(25))
    assert row[TARGET] == pytest.approx(close(30) / close(25) - 1)


def test_splits_follow_time_with_no_look_ahead(built):
    # Usable bars are 20..59 (a 20-bar warm-up): train 20..43, validation 44..51, live 52..59;
    # the last 5 bars of train and validation are dropped, their targets reaching the next split.
    def days(split):
        return sorted(built.tables[split]["time"].dt.strftime("%Y-%m-%d"))

    assert days("train") == ROWS[20:39]
    assert days("validation") == ROWS[44:47]
    assert days("live") == ROWS[52:60]
    assert built.tables["live"][TARGET].isna().all()  # the future is not in the live file
    assert built.tables["train"][TARGET].notna().all()


@pytest.mark.parametrize(
    ("csv", "message"),
    [
        ("Date,Open,High,Low,Close\n2026-01-01,1,1,1,1\n", "abc.csv: missing column Volume"),
        ("Open,High,Low,Close,Volume\n1,1,1,1,1\n", "missing column Date"),
        (CSV.replace("2026-01-04,", "04/31/2026,", 1), "abc.csv line 5, column Date: '04/31/2026' is not a date"),
        (CSV.replace(",103,1000", ",abc,1000", 1), "abc.csv line 5, column Close: 'abc' is not a number"),
        (CSV.replace(",1000\n", ",-5\n", 1), "line 2, column Volume: '-5' is negative"),
        (CSV + "2026-03-01,1,1,1,1,1\n", "line 62, column Date: '2026-03-01' repeats an earlier time"),
        ("", "abc.csv: the file is empty; it needs a header line such as Date,Open,High,Low,Close,Volume"),
        ("\n\n", "abc.csv: the file is empty"),
        (CSV.replace(",1000\n", ",1000,7\n", 1), "abc.csv line 2: 7 fields, but the header names 6 columns"),
        (CSV.replace(",102,1000\n", ",102,1000,7\n", 1), "abc.csv line 4: 7 fields, but the header names 6 columns"),
        (CSV.replace(",1000\n", ",1e400\n", 1), "abc.csv line 2, column Volume: '1e400' is not a finite number"),
        (CSV.replace(",103,1000", ",inf,1000", 1), "abc.csv line 5, column Close: 'inf' is not a finite number"),
    ],
)
def test_bad_price_files_name_file_line_and_column(csv, message):
    with pytest.raises(PriceDataError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_prices("abc.csv", csv)


def test_too_little_history_is_refused():
    short = "Date,Open,High,Low,Close,Volume\n" + "".join(f"2026-01-{d:02d},1,1,1,1,1\n" for d in range(1, 25))
    with pytest.raises(PriceDataError, match="too little history"):
        build_round([read_prices("x.csv", short)])


def test_a_symbol_column_names_the_symbols():
    text = "symbol,timestamp,open,high,low,close,volume\n" + "".join(
        f"{s},2026-01-01T{h:02d}:00:00Z,1,2,1,{1 + h + (s == 'B')},10\n" for s in "AB" for h in range(24)
    )
    frame = read_prices("mixed.csv", text)
    assert sorted(frame["symbol"].unique()) == ["A", "B"]
    assert not math.isnan(frame["close"].iloc[0])


def test_each_symbol_gets_the_features_it_gets_alone():
    # Features are computed for all symbols in one pass: no shift or window may reach into another symbol.
    other = "Date,Open,High,Low,Close,Volume\n" + "".join(
        f"{day},{200 + 2 * i},{203 + 2 * i},{198 + 2 * i},{200 + 2 * i + (i % 3)},{1000 + 500 * (i % 2)}\n"
        for i, day in enumerate(ROWS)
    )
    together = build_round([read_prices("xyz.csv", other), read_prices("abc.csv", CSV)])
    assert together.symbols == ["ABC", "XYZ"]
    for name, text in (("abc.csv", CSV), ("xyz.csv", other)):
        alone = build_round([read_prices(name, text)])
        for split, table in together.tables.items():
            mine = table[table["symbol"] == name[:3].upper()].reset_index(drop=True)
            pd.testing.assert_frame_equal(mine, alone.tables[split], check_exact=True)
    first = together.tables["train"].iloc[1]  # XYZ at bar 20, its first bar with a full warm-up
    assert (first["symbol"], first["time"].strftime("%Y-%m-%d")) == ("XYZ", ROWS[20])
    xyz = [200 + 2 * i + (i % 3) for i in range(60)]
    assert first["ret_20"] == pytest.approx(xyz[20] / xyz[0] - 1)
    volume = [1000 + 500 * (i % 2) for i in range(60)]
    assert first["volume_ratio_20"] == pytest.approx(volume[20] / statistics.mean(volume[1:21]))


@pytest.mark.parametrize(
    "dates",
    [
        [f"{d[5:7]}/{d[8:10]}/{d[:4]}" for d in ROWS],  # 01/31/2026
        [d.replace("-", "") for d in ROWS],  # 20260131, which a CSV reader takes for a number
        [f"{d}T00:00:00Z" for d in ROWS],
    ],
)
def test_dates_in_other_spellings_read_the_same(dates):
    respelled = CSV
    for iso, other in zip(ROWS, dates, strict=True):
        respelled = respelled.replace(f"\n{iso},", f"\n{other},", 1)
    pd.testing.assert_frame_equal(read_prices("abc.csv", respelled), read_prices("abc.csv", CSV), check_exact=True)


def test_cells_a_csv_reader_would_take_for_numbers_are_judged_as_text():
    with pytest.raises(PriceDataError, match="abc.csv line 3, column Volume: 'True' is not a number"):
        read_prices("abc.csv", CSV.replace(",101,1000\n", ",101,True\n", 1))
    frame = read_prices("abc.csv", CSV.replace(",100,1000\n", ",100,-0\n", 1))  # zero, not negative
    assert frame["volume"].iloc[0] == 0
    assert math.copysign(1, frame["volume"].iloc[0]) == 1
    numbered = "Symbol,Date,Open,High,Low,Close,Volume\n" + "".join(f"7203,{day},1,2,1,2,3\n" for day in ROWS)
    assert read_prices("tse.csv", numbered)["symbol"].unique().tolist() == ["7203"]


# Price data as people have it.

def frame_of(text: str, name: str = "abc.csv") -> pd.DataFrame:
    return read_prices(name, text)


def test_a_pandas_to_csv_file_with_an_unnamed_date_column_reads_like_a_named_one():
    unnamed = CSV.replace("Date,Open", ",Open", 1)
    pd.testing.assert_frame_equal(frame_of(unnamed), frame_of(CSV), check_exact=True)


def test_lowercase_headers_and_adj_close_in_place_of_close_are_read():
    yahoo = CSV.replace("Date,Open,High,Low,Close,Volume", "date,open,high,low,adj close,volume", 1)
    pd.testing.assert_frame_equal(frame_of(yahoo), frame_of(CSV), check_exact=True)


@pytest.mark.parametrize("scale", [1, 1000], ids=["seconds", "milliseconds"])
def test_epoch_times_read_as_the_same_moments(scale: int):
    def epoch(day: str) -> str:
        return str(int(pd.Timestamp(day, tz="UTC").timestamp()) * scale)

    lines = CSV.splitlines()
    text = "\n".join([lines[0], *(epoch(line.split(",", 1)[0]) + "," + line.split(",", 1)[1] for line in lines[1:])])
    pd.testing.assert_frame_equal(frame_of(text + "\n"), frame_of(CSV), check_exact=True)


def test_times_with_a_zone_are_read_in_utc():
    zoned = frame_of("Date,Open,High,Low,Close,Volume\n2026-01-02T09:30:00-05:00,1,1,1,1,1\n")
    assert zoned["time"].iloc[0] == pd.Timestamp("2026-01-02T14:30:00Z")


def test_a_gzip_file_reads_like_its_text_and_keeps_its_symbol(tmp_path):
    path = tmp_path / "abc.csv.gz"
    path.write_bytes(gzip.compress(CSV.encode()))
    pd.testing.assert_frame_equal(read_price_file(path), frame_of(CSV), check_exact=True)


def hourly(symbol_file: str, start: str, bars: int) -> pd.DataFrame:
    times = pd.date_range(start, periods=bars, freq="h", tz="UTC")
    text = "Date,Open,High,Low,Close,Volume\n" + "".join(
        f"{t.isoformat()},{100 + i % 7},{101 + i % 7},{99 + i % 7},{100 + (i * 3) % 11},{1000 + i}\n"
        for i, t in enumerate(times)
    )
    return frame_of(text, symbol_file)


def test_symbols_whose_histories_do_not_overlap_each_get_train_validation_and_live_rows():
    # A daily series ending years before an hourly one: one global time cut gave the daily one no live rows.
    built = build_round([frame_of(CSV, "old.csv"), hourly("new.csv", "2029-06-01", 200)])
    for split, table in built.tables.items():
        assert set(table["symbol"]) == {"OLD", "NEW"}, split
    old = built.tables["live"][built.tables["live"]["symbol"] == "OLD"]
    assert sorted(old["time"].dt.strftime("%Y-%m-%d")) == ROWS[52:60]  # the same split as alone


def test_a_symbol_with_too_little_history_is_left_out_and_named():
    built = build_round([frame_of(CSV), hourly("short.csv", "2026-01-01", 30)])
    assert built.symbols == ["ABC"]
    assert "SHORT" in built.left_out
    assert "10 usable bars" in built.left_out["SHORT"]


@pytest.fixture(scope="module")
def public_files(tmp_path_factory):
    return fetch_price_files(tmp_path_factory.mktemp("prices"))


def test_real_public_price_files_build_a_round_with_every_symbol_in_every_split(public_files):
    built = build_round(read_price_file(path) for path in public_files.values())
    assert built.symbols == ["BTCUSD", "EURUSD", "GOOG"]
    assert not built.left_out
    for split in built.per_symbol:
        assert min(split.rows.values()) > 0, split
    bars = {split.symbol: split.bar for split in built.per_symbol}
    assert bars["GOOG"] == pd.Timedelta(days=1)
    assert bars["EURUSD"] == pd.Timedelta(hours=1)


def test_a_byte_order_mark_is_not_part_of_the_first_column_and_bad_bytes_are_named():
    pd.testing.assert_frame_equal(read_price_bytes("abc.csv", b"\xef\xbb\xbf" + CSV.encode()), frame_of(CSV))
    with pytest.raises(PriceDataError, match=r"abc.csv: not UTF-8 text \(byte 3 is b'\\xff'\)"):
        read_price_bytes("abc.csv", b"Dat\xff")


def test_a_round_knows_its_bar_length_and_target_horizon(built):
    assert built.bar_seconds == 86400  # daily bars (a month's end is no gap of its own)
    assert (built.horizon_bars, built.horizon_seconds) == (5, 5 * 86400)
    hourly_only = build_round([hourly("h.csv", "2026-01-01", 200), hourly("g.csv", "2027-01-01", 100)])
    assert hourly_only.bar_seconds == 3600
    assert hourly_only.horizon_seconds == 5 * 3600
    # Weekends are gaps of three days, but rare ones: business-day bars are daily bars.
    weekdays = pd.bdate_range("2026-01-05", periods=80)
    text = "Date,Open,High,Low,Close,Volume\n" + "".join(
        f"{day:%Y-%m-%d},{100 + i % 5},{102 + i % 5},{98 + i % 5},{100 + i % 3},1000\n"
        for i, day in enumerate(weekdays)
    )
    assert build_round([read_prices("wk.csv", text)]).bar_seconds == 86400
