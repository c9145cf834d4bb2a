"""Generic CSV/Parquet OHLCV import ("your own data"): mappings, time formats, errors, store, end to end."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import random_bars

from peaktrade.data import BarStore, ColumnMap, FileFormat, import_file, load_bars, read_ohlcv_file
from peaktrade.data.schema import fingerprint
from peaktrade.errors import DataError

ODD = {"time": "Timestamp", "open": "Px Open", "high": "Px Hi", "low": "Px Lo", "close": "Px Last", "volume": "Qty"}
ODD_MAP = "time=Timestamp,open=Px Open,high=Px Hi,low=Px Lo,close=Px Last,volume=Qty"


def myex_frame(bars: pd.DataFrame, time_values) -> pd.DataFrame:
    """The bars as a made-up exchange exports them: odd column names, its own time column."""
    df = bars.reset_index(drop=True)[["open", "high", "low", "close", "volume"]].rename(columns=ODD)
    df.insert(0, "Timestamp", list(time_values))
    return df


def write_myex_csv(path: Path, bars: pd.DataFrame, time_values=None, *, sep: str = ";") -> Path:
    if time_values is None:
        time_values = bars.index.asi8 // 10**6  # milliseconds
    myex_frame(bars, time_values).to_csv(path, sep=sep, index=False)
    return path


def same(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(got, expected, check_freq=False)


@pytest.fixture
def bars() -> pd.DataFrame:
    return random_bars(48, start="2024-01-01", seed=7)


def stored(cfg, exchange="myex", symbol="BTC/USDT", timeframe="1h") -> pd.DataFrame:
    return BarStore(cfg.data_dir).read(exchange, symbol, timeframe)


# ------------------------------------------------------------------------------------------- layouts
def test_import_when_made_up_exchange_csv_with_odd_columns_and_ms_then_stores_the_bars(cfg, cli, tmp_path, bars):
    path = write_myex_csv(tmp_path / "myex-btcusdt-1h.csv", bars)
    r = cli("data", "import", str(path), "--format", "csv", "--exchange", "myex", "--symbol", "BTC/USDT",
            "--timeframe", "1h", "--columns", ODD_MAP)
    assert r.exit_code == 0, r.stderr
    assert "Imported myex-btcusdt-1h.csv into myex BTC/USDT 1h" in r.stdout
    assert "delimiter ';'" in r.stdout and "Unix milliseconds (inferred from the first value)" in r.stdout
    assert "added: 48" in r.stdout
    same(stored(cfg), bars)
    m = BarStore(cfg.data_dir).manifest("myex", "BTC/USDT", "1h")
    assert m.sources == ("csv:myex-btcusdt-1h.csv",) and m.fingerprint == fingerprint(bars)


def test_import_when_parquet_file_then_stores_the_same_bars_as_the_csv(cfg, cli, tmp_path, bars):
    df = myex_frame(bars, bars.index.tz_convert("America/New_York"))  # a tz-aware timestamp column
    df.to_parquet(tmp_path / "myex.parquet", index=False)
    r = cli("data", "import", str(tmp_path / "myex.parquet"), "-e", "myex", "-s", "BTC/USDT", "-t", "1h",
            "--columns", ODD_MAP)
    assert r.exit_code == 0, r.stderr
    assert "read as: parquet" in r.stdout
    same(stored(cfg), bars)


def test_import_when_parquet_has_ms_integers_and_no_mapping_then_finds_columns_by_name(cfg, tmp_path, bars):
    df = bars.reset_index(drop=True)
    df.insert(0, "timestamp", bars.index.asi8 // 10**6)
    df.to_parquet(tmp_path / "plain.parquet", index=False)
    m = import_file(tmp_path / "plain.parquet", exchange="myex", symbol="BTC/USDT", timeframe="1h", config=cfg)
    assert m.rows == 48 and m.fingerprint == fingerprint(bars)


def test_read_when_parquet_has_naive_local_timestamps_and_timezone_then_converts_to_utc(tmp_path, bars):
    myex_frame(bars, bars.index.tz_convert("Asia/Tokyo").tz_localize(None)).to_parquet(tmp_path / "jp.parquet")
    fmt = FileFormat(columns=ColumnMap.parse(ODD_MAP), timezone="Asia/Tokyo")
    got, read_as = read_ohlcv_file(tmp_path / "jp.parquet", timeframe="1h", file_format=fmt)
    assert "naive times in Asia/Tokyo" in read_as
    same(got, bars)


def test_import_when_iso_strings_with_offset_then_times_are_converted_to_utc(cfg, cli, tmp_path, bars):
    local = bars.index.tz_convert("Asia/Kolkata").strftime("%Y-%m-%dT%H:%M:%S%z")  # +0530
    path = write_myex_csv(tmp_path / "iso.csv", bars, local, sep=",")
    r = cli("data", "import", str(path), "-e", "myex", "-s", "BTC/USDT", "-t", "1h", "--columns", ODD_MAP)
    assert r.exit_code == 0, r.stderr
    assert "ISO 8601 with UTC offsets" in r.stdout
    assert stored(cfg).index[0] == pd.Timestamp("2024-01-01 00:00", tz="UTC")
    same(stored(cfg), bars)


def test_import_when_strptime_format_with_timezone_then_local_times_are_converted(cfg, cli, tmp_path, bars):
    local = bars.index.tz_convert("Europe/Berlin").strftime("%d.%m.%Y %H:%M")  # January: UTC+1
    path = write_myex_csv(tmp_path / "berlin.csv", bars, local, sep="\t")
    r = cli("data", "import", str(path), "-e", "myex", "-s", "BTC/USDT", "-t", "1h", "--columns", ODD_MAP,
            "--time-format", "%d.%m.%Y %H:%M", "--timezone", "Europe/Berlin")
    assert r.exit_code == 0, r.stderr
    assert "naive times in Europe/Berlin" in r.stdout and "delimiter tab" in r.stdout
    assert local[0] == "01.01.2024 01:00"
    same(stored(cfg), bars)


def test_import_when_naive_iso_and_no_timezone_then_reads_utc_and_says_so(cfg, cli, tmp_path, bars):
    path = write_myex_csv(tmp_path / "naive.csv", bars, bars.index.strftime("%Y-%m-%d %H:%M"), sep=",")
    r = cli("data", "import", str(path), "-e", "myex", "-s", "BTC/USDT", "-t", "1h", "--columns", ODD_MAP)
    assert r.exit_code == 0, r.stderr
    assert "naive times read as UTC (the default)" in r.stdout
    same(stored(cfg), bars)


def test_read_when_headerless_gzip_with_positions_and_microseconds_then_maps_by_position(tmp_path, bars):
    # Binance's kline files: no header, 12 columns, open time in microseconds since 2025
    rows = [
        f"{t // 1000},{r.open!r},{r.high!r},{r.low!r},{r.close!r},{r.volume!r},{t // 1000 + 3_599_999_999},0,17,0,0,0"
        for t, r in zip(bars.index.asi8, bars.itertuples())
    ]
    path = tmp_path / "BTCUSDT-1h-2024-01.csv.gz"
    path.write_bytes(gzip.compress(("\n".join(rows) + "\n").encode(), mtime=0))
    fmt = FileFormat(columns=ColumnMap(time=1, open=2, high=3, low=4, close=5, volume=6, trades=9))
    got, read_as = read_ohlcv_file(path, timeframe="1h", file_format=fmt)
    assert "no header" in read_as and "Unix microseconds" in read_as
    same(got, bars.assign(trades=17.0))


def test_import_when_zip_of_one_headerless_csv_then_detected_as_generic_and_read_by_position(cfg, tmp_path, bars):
    rows = [f"{t // 10**6},{r.open!r},{r.high!r},{r.low!r},{r.close!r},{r.volume!r},{t // 10**6 + 3_599_999},0,5,0,0,0"
            for t, r in zip(bars.index.asi8, bars.itertuples())]
    path = tmp_path / "BTCUSDT-1h-2024-01.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("BTCUSDT-1h-2024-01.csv", "\n".join(rows) + "\n")
    m = import_file(path, exchange="binance", symbol="BTC/USDT", timeframe="1h", config=cfg)
    assert m.sources == ("csv:BTCUSDT-1h-2024-01.zip",)
    same(stored(cfg, "binance"), bars)


def test_import_when_rows_newest_first_then_they_are_stored_oldest_first(cfg, tmp_path, bars):
    path = write_myex_csv(tmp_path / "desc.csv", bars.iloc[::-1])
    fmt = FileFormat(columns=ColumnMap.parse(ODD_MAP))
    import_file(path, exchange="myex", symbol="BTC/USDT", timeframe="1h", file_format=fmt, config=cfg)
    kept = stored(cfg)
    assert kept.index.is_monotonic_increasing
    same(kept, bars)


def test_import_when_no_volume_flag_then_volume_is_zero(cfg, cli, tmp_path, bars):
    df = myex_frame(bars, bars.index.asi8 // 10**9).drop(columns="Qty")
    df.to_csv(tmp_path / "novol.csv", index=False)
    cmap = "time=Timestamp,open=Px Open,high=Px Hi,low=Px Lo,close=Px Last"
    r = cli("data", "import", str(tmp_path / "novol.csv"), "-e", "myex", "-s", "BTC/USDT", "-t", "1h",
            "--columns", cmap)
    assert r.exit_code == 2 and "no column for volume" in r.stderr and "--no-volume" in r.stderr
    r = cli("data", "import", str(tmp_path / "novol.csv"), "-e", "myex", "-s", "BTC/USDT", "-t", "1h",
            "--columns", cmap, "--no-volume")
    assert r.exit_code == 0, r.stderr
    assert "no volume (stored as 0)" in r.stdout
    same(stored(cfg), bars.assign(volume=0.0))


def test_import_when_format_file_given_then_options_come_from_it_and_flags_override(cfg, cli, tmp_path, bars):
    path = write_myex_csv(tmp_path / "myex.csv", bars, bars.index.asi8 // 10**9)
    spec = tmp_path / "myex.toml"
    spec.write_text('format = "csv"\ntime_format = "ms"\ndelimiter = ";"\n[columns]\n'
                    + "".join(f'{k} = "{v}"\n' for k, v in ODD.items()))
    r = cli("data", "import", str(path), "-e", "myex", "-s", "BTC/USDT", "-t", "1h", "--format-file", str(spec))
    # seconds read as milliseconds land in January 1970, 3.6 s apart: off the hourly grid
    assert r.exit_code == 2 and "line 3: time '1704070800' (1970-01-20 17:21:10.800000+00:00) is not on the " \
        "60-minute grid" in r.stderr
    r = cli("data", "import", str(path), "-e", "myex", "-s", "BTC/USDT", "-t", "1h", "--format-file", str(spec),
            "--time-format", "s")
    assert r.exit_code == 0, r.stderr
    same(stored(cfg), bars)


# ---------------------------------------------------------------------------- the store: idempotent, merging
def test_import_when_same_file_imported_twice_then_second_changes_nothing(cfg, cli, tmp_path, bars, snapshot):
    path = write_myex_csv(tmp_path / "myex.csv", bars)
    argv = ("data", "import", str(path), "-e", "myex", "-s", "BTC/USDT", "-t", "1h", "--columns", ODD_MAP)
    assert cli(*argv).exit_code == 0
    before = snapshot(cfg.data_dir)
    r = cli(*argv)
    assert r.exit_code == 0 and "nothing changed" in r.stdout and "unchanged: 48" in r.stdout
    assert snapshot(cfg.data_dir) == before


def test_import_when_files_overlap_then_merges_by_bar_time(cfg, tmp_path, bars):
    fmt = FileFormat(columns=ColumnMap.parse(ODD_MAP))
    later = bars.iloc[30:].copy()
    later.loc[later.index[0], ["high", "close"]] = [500.0, 400.0]  # a corrected bar in the overlap
    import_file(write_myex_csv(tmp_path / "a.csv", bars.iloc[:36]), exchange="myex", symbol="BTC/USDT",
                timeframe="1h", file_format=fmt, config=cfg)
    m = import_file(write_myex_csv(tmp_path / "b.csv", later), exchange="myex", symbol="BTC/USDT",
                    timeframe="1h", file_format=fmt, config=cfg)
    assert (m.changes.added, m.changes.updated, m.changes.unchanged) == (12, 1, 5)
    expected = pd.concat([bars.iloc[:30], later])
    same(stored(cfg), expected)
    assert m.sources == ("csv:a.csv", "csv:b.csv")


# ------------------------------------------------------------------------- bad files: one line, store unchanged
def _bad_file(tmp_path: Path, bars: pd.DataFrame, case: str) -> Path:
    ms = list(bars.index.asi8 // 10**6)
    df = myex_frame(bars, ms)
    if case == "missing column":
        df = df.drop(columns="Px Lo")
    elif case == "bad time":
        df["Timestamp"] = df["Timestamp"].astype(str)
        df.loc[6, "Timestamp"] = "17O4088800000"
    elif case == "high < low":
        df.loc[4, "Px Hi"] = df.loc[4, "Px Lo"] - 1.0
    elif case == "unsorted":
        df.loc[[9, 10], "Timestamp"] = [ms[10], ms[9]]
    elif case == "duplicate":
        df.loc[12, "Timestamp"] = ms[11]
    path = tmp_path / f"bad-{case.replace(' ', '-').replace('<', 'lt')}.csv"
    df.to_csv(path, sep=";", index=False)
    return path


@pytest.mark.parametrize(("case", "message"), [
    ("missing column", "column 'Px Lo' (low) is not in the file; its columns are 'Timestamp', 'Px Open', "
                       "'Px Hi', 'Px Last', 'Qty'"),
    ("bad time", "line 8, column 'Timestamp' (time): '17O4088800000' is not a Unix time (a number)"),
    ("high < low", "line 6: high (column 'Px Hi')"),
    ("unsorted", "line 12: rows out of order: time '1704099600000' (2024-01-01 09:00:00+00:00) is before "
                 "line 11's '1704103200000' (2024-01-01 10:00:00+00:00)"),
    ("duplicate", "line 14: duplicate timestamp '1704106800000' (2024-01-01 11:00:00+00:00), same as line 13"),
])
def test_import_when_file_is_malformed_then_one_line_error_exit_2_and_store_unchanged(
    cfg, cli, tmp_path, bars, snapshot, case, message
):
    good = write_myex_csv(tmp_path / "good.csv", bars.iloc[:24])
    assert cli("data", "import", str(good), "-e", "myex", "-s", "BTC/USDT", "-t", "1h", "--columns", ODD_MAP
               ).exit_code == 0
    before = snapshot(cfg.data_dir)
    bad = _bad_file(tmp_path, bars, case)
    r = cli("data", "import", str(bad), "-e", "myex", "-s", "BTC/USDT", "-t", "1h", "--columns", ODD_MAP)
    assert r.exit_code == 2
    assert r.stderr.startswith(f"error: {bad}: ") and r.stderr.count("\n") == 1, r.stderr
    assert message in r.stderr
    assert "Traceback" not in r.stderr and r.stdout == ""
    assert snapshot(cfg.data_dir) == before


def test_import_when_high_below_low_then_message_names_both_values(tmp_path, bars):
    bad = _bad_file(tmp_path, bars, "high < low")
    lo = bars["low"].iloc[4]
    with pytest.raises(DataError) as e:
        read_ohlcv_file(bad, timeframe="1h", file_format=FileFormat(columns=ColumnMap.parse(ODD_MAP)))
    assert f"line 6: high (column 'Px Hi') {lo - 1.0} < low (column 'Px Lo') {lo}" in str(e.value)


@pytest.mark.parametrize(("text", "options", "message"), [
    ("time,open,high,low,close,volume\n2024-01-01 00:00,1,2,0.5,1.5,3\n2024-01-01 01:00,1,2,0.5,x,3\n", {},
     "line 3, column 'close' (close): 'x' is not a number"),
    ("time,open,high,low,close,volume\n1704067200,1,2,0.5,1.5,3\n1704069000,1,2,0.5,1.5,3\n", {},
     "line 3: time '1704069000' (2024-01-01 00:30:00+00:00) is not on the 60-minute grid"),
    ("time,open,high,low,close,volume\n1704067200,1,2,0.5,1.5,3\n1704070800,1,2,0.5,1.5,3\n",
     {"timezone": "Europe/Berlin"}, "timezone='Europe/Berlin' applies only to times without an offset"),
    ("time,open,high,low,close,volume\n2024-03-31 01:00,1,2,0.5,1.5,3\n2024-03-31 02:00,1,2,0.5,1.5,3\n",
     {"timezone": "Europe/Berlin"}, "line 3, column 'time' (time): '2024-03-31 02:00:00' does not exist or is "
                                    "ambiguous in Europe/Berlin"),
    ("time,open,high,low,close,volume\n2024-01-01 00:00+01:00,1,2,0.5,1.5,3\n2024-01-01 01:00,1,2,0.5,1.5,3\n", {},
     "line 3, column 'time' (time): '2024-01-01 01:00' is not like line 2's time, which has a UTC offset"),
    ("time,open,high,low,close,volume\n1704067200,1,2,0.5,1.5,3\n1704070800,1,2,0.5,1.5,3,9\n", {},
     "line 3: expected 6 fields separated by ',' like line 1, got 7"),
    ("date,unix,open,high,low,close,volume\n2024-01-01,1704067200,1,2,0.5,1.5,3\n", {},
     "columns ['date', 'unix'] could each be time; choose one with --columns time=NAME"),
    ("Time,Open,High,Low,Close,Volume\n01/01/2024 00:00,1,2,0.5,1.5,3\n2024-01-01 01:00,1,2,0.5,1.5,3\n",
     {"time_format": "%m/%d/%Y %H:%M"}, "line 3, column 'Time' (time): '2024-01-01 01:00' is not a time in the "
                                        "format '%m/%d/%Y %H:%M'"),
])
def test_read_when_csv_is_wrong_then_error_names_line_column_value_and_expectation(tmp_path, text, options, message):
    path = tmp_path / "x.csv"
    path.write_text(text)
    with pytest.raises(DataError, match=None) as e:
        read_ohlcv_file(path, timeframe="1h", file_format=FileFormat(**options))
    assert str(e.value).startswith(f"{path}: ") and message in str(e.value), str(e.value)


@pytest.mark.parametrize(("data", "message"), [
    (b"time,open,high,low,close,volume\n", "no data rows after line 1 (empty file)"),
    (b"time,open,high,low,close,volume\n1704067200,1,2,0.5,1.5,3\n1704070800,1,2,0.5,1.5,\xff\n",
     "line 3: not UTF-8 text (invalid start byte at byte 24"),
])
def test_read_when_csv_is_empty_or_not_utf8_then_names_the_line(tmp_path, data, message):
    path = tmp_path / "x.csv"
    path.write_bytes(data)
    with pytest.raises(DataError) as e:
        read_ohlcv_file(path, timeframe="1h")
    assert str(e.value).startswith(f"{path}: ") and message in str(e.value), str(e.value)


def test_format_file_when_key_unknown_or_column_bad_then_error_names_the_file(tmp_path):
    spec = tmp_path / "f.toml"
    spec.write_text('time_fmt = "ms"\n')
    with pytest.raises(DataError, match=r"f.toml: unknown key\(s\) \['time_fmt'\]"):
        FileFormat.from_toml(spec)
    spec.write_text("[columns]\ntime = 0\n")
    with pytest.raises(DataError, match=r"f.toml: columns.time=0 is invalid: expected a column name or a 1-based"):
        FileFormat.from_toml(spec)


def test_import_when_generic_file_has_no_exchange_then_refuses_to_guess(cfg, tmp_path, bars):
    path = write_myex_csv(tmp_path / "myex.csv", bars)
    with pytest.raises(DataError, match="name the exchange the bars come from"):
        import_file(path, symbol="BTC/USDT", timeframe="1h", file_format=FileFormat(columns=ColumnMap.parse(ODD_MAP)),
                    config=cfg)


def test_options_when_invalid_then_one_line_names_option_value_and_expectation(tmp_path):
    with pytest.raises(DataError, match=r"--columns='tme=Date' is invalid: expected FIELD=COLUMN"):
        ColumnMap.parse("tme=Date")
    with pytest.raises(DataError, match=r"time_format='%' is invalid|time_format='epoch' is invalid"):
        FileFormat(time_format="epoch")
    with pytest.raises(DataError, match=r"timezone='Mars/Olympus' is invalid: expected an IANA time zone"):
        FileFormat(timezone="Mars/Olympus")
    with pytest.raises(DataError, match="no_volume=True contradicts the mapped volume column 'Qty'"):
        FileFormat(no_volume=True, columns=ColumnMap(volume="Qty"))


def test_format_auto_when_headerless_six_fields_in_ms_then_read_as_generic_csv_not_kraken(cfg, tmp_path, bars):
    rows = [f"{t // 10**6},{r.open!r},{r.high!r},{r.low!r},{r.close!r},{r.volume!r}"
            for t, r in zip(bars.index.asi8, bars.itertuples())]
    path = tmp_path / "export.csv"
    path.write_text("\n".join(rows) + "\n")
    m = import_file(path, exchange="myex", symbol="BTC/USDT", timeframe="1h", config=cfg)
    assert m.sources == ("csv:export.csv",) and m.fingerprint == fingerprint(bars)


# ------------------------------------------------------------------------------------------------ end to end
def _peaktrade() -> Path:
    script = Path(sys.executable).with_name("peaktrade")
    assert script.exists(), f"the peaktrade console script is not installed next to {sys.executable}"
    return script


def test_import_then_backtest_when_own_exchange_then_backtest_runs_on_the_imported_bars(cfg, tmp_path):
    bars = random_bars(600, start="2024-01-01", seed=3, vol=0.02)
    path = write_myex_csv(tmp_path / "myex-solusdt.csv", bars)
    env = {**os.environ, "COLUMNS": "200"}  # no wrapped table titles
    run = [str(_peaktrade())]
    imp = subprocess.run([*run, "data", "import", str(path), "--format", "csv", "--exchange", "myex", "--symbol",
                          "SOL/USDT", "--timeframe", "1h", "--columns", ODD_MAP],
                         capture_output=True, text=True, env=env, timeout=120)
    assert imp.returncode == 0, imp.stderr
    show = subprocess.run([*run, "data", "show", "SOL/USDT", "1h", "--exchange", "myex", "--json"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert show.returncode == 0, show.stderr
    assert '"rows": 600' in show.stdout and fingerprint(bars) in show.stdout
    bt = subprocess.run([*run, "backtest", "ma_crossover", "--exchange", "myex", "--symbol", "SOL/USDT",
                         "--timeframe", "1h"], capture_output=True, text=True, env=env, timeout=300)
    assert bt.returncode == 0, bt.stderr
    title = " ".join(bt.stdout.split())  # the table title wraps to the table's width
    assert title.startswith("ma_crossover {") and "on SOL/USDT 1h (600 bars, 2024-01-01 → 2024-01-25)" in title
    loaded = load_bars("SOL/USDT", "4h", exchange="myex", config=cfg)  # resampled on the fly like Kraken's
    assert len(loaded) == 150 and np.isclose(loaded["volume"].sum(), bars["volume"].sum())


def test_console_script_when_generic_file_malformed_then_one_line_exit_2_and_no_traceback(cfg, tmp_path, bars):
    bad = _bad_file(tmp_path, bars, "bad time")
    out = subprocess.run([str(_peaktrade()), "data", "import", str(bad), "-e", "myex", "-s", "BTC/USDT", "-t", "1h",
                          "--columns", ODD_MAP], capture_output=True, text=True, env=dict(os.environ), timeout=120)
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr
    assert out.stderr == (f"error: {bad}: line 8, column 'Timestamp' (time): '17O4088800000' is not a Unix time "
                          "(a number)\n")
    assert not Path(cfg.data_dir).exists() or not any(Path(cfg.data_dir).rglob("*.parquet"))


@pytest.mark.realdata
def test_import_when_real_kraken_bars_exported_as_generic_csv_then_store_holds_identical_bars(cfg, tmp_path,
                                                                                               shared_data):
    kraken = import_file(shared_data / "XBTUSD_60.csv.gz", symbol="BTC/USD", timeframe="1h", config=cfg)
    real = BarStore(cfg.data_dir).read("kraken", "BTC/USD", "1h")
    path = tmp_path / "xbtusd-export.csv"
    df = myex_frame(real, real.index.asi8 // 10**6)
    df["Trade Count"] = real["trades"].to_numpy()
    df.to_csv(path, sep=";", index=False)
    fmt = FileFormat.from_toml(_write(tmp_path / "myex.toml", "[columns]\n" + "".join(
        f'{k} = "{v}"\n' for k, v in {**ODD, "trades": "Trade Count"}.items())))
    mine = import_file(path, exchange="myex", symbol="BTC/USD", timeframe="1h", file_format=fmt, config=cfg)
    assert (mine.rows, mine.gaps, mine.fingerprint) == (kraken.rows, kraken.gaps, kraken.fingerprint)
    assert mine.rows == 70_253 and mine.gaps["n_gaps"] == 3_254


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_read_when_local_times_repeat_the_autumn_hour_in_order_then_each_gets_its_own_utc_hour(tmp_path):
    rows = "".join(f"2024-10-27 {h},1,2,0.5,1.5,3\n" for h in ("01:00", "02:00", "02:00", "03:00"))
    path = _write(tmp_path / "dst.csv", "time,open,high,low,close,volume\n" + rows)
    got, _ = read_ohlcv_file(path, timeframe="1h", file_format=FileFormat(timezone="Europe/Berlin"))
    assert list(got.index) == list(pd.date_range("2024-10-26 23:00", periods=4, freq="h", tz="UTC"))


def test_read_when_newest_first_local_times_repeat_the_autumn_hour_then_reversed_and_each_gets_its_own_utc_hour(
        tmp_path):
    # the repeated hour is read from the rows' order: a newest-first file is localized oldest first
    rows = "".join(f"2024-10-27 {h},1,2,0.5,1.5,3\n" for h in ("03:00", "02:00", "02:00", "01:00", "00:00"))
    path = _write(tmp_path / "dst_desc.csv", "time,open,high,low,close,volume\n" + rows)
    got, how = read_ohlcv_file(path, timeframe="1h", file_format=FileFormat(timezone="Europe/Berlin"))
    assert list(got.index) == list(pd.date_range("2024-10-26 22:00", periods=5, freq="h", tz="UTC"))
    assert "rows newest first, reversed" in how
    # a skipped local hour in a newest-first file is still named by its own line
    rows = "".join(f"2024-03-31 {h},1,2,0.5,1.5,3\n" for h in ("03:00", "02:00", "01:00"))
    path = _write(tmp_path / "spring_desc.csv", "time,open,high,low,close,volume\n" + rows)
    with pytest.raises(DataError, match=r"line 3, column 'time' \(time\): '2024-03-31 02:00:00' does not exist"):
        read_ohlcv_file(path, timeframe="1h", file_format=FileFormat(timezone="Europe/Berlin"))
