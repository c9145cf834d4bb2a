"""Strict Kraken OHLCVT reader: formats, zip member choice, and every bad input named by line."""

from __future__ import annotations

import gzip
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from peaktrade.data import read_kraken_ohlcvt
from peaktrade.data.kraken_csv import kraken_altname
from peaktrade.errors import DataError

T0 = 1_700_000_000 - 1_700_000_000 % 3600  # an hour boundary


def lines(n: int = 5, *, trades: bool = True, start: int = T0, step: int = 3600) -> list[str]:
    """Return ``n`` valid OHLCVT lines."""
    out = []
    for i in range(n):
        o, c = 100.0 + i, 100.5 + i
        row = [start + i * step, o, c + 1.0, o - 1.0, c, 1.25 * (i + 1)]
        if trades:
            row.append(3 + i)
        out.append(",".join(str(v) for v in row))
    return out


def write(path: Path, rows: list[str], *, gz: bool | None = None) -> Path:
    text = ("\n".join(rows) + "\n").encode() if rows else b""
    gz = path.name.endswith(".gz") if gz is None else gz
    path.write_bytes(gzip.compress(text, mtime=0) if gz else text)
    return path


def test_read_when_plain_csv_then_returns_valid_bars(tmp_path):
    bars = read_kraken_ohlcvt(write(tmp_path / "x.csv", lines(5)))
    assert list(bars.columns) == ["open", "high", "low", "close", "volume", "trades"]
    assert (bars.dtypes == np.float64).all()
    assert str(bars.index.tz) == "UTC" and bars.index.name == "time"
    assert bars.index[0] == pd.Timestamp(T0, unit="s", tz="UTC")
    assert bars["trades"].tolist() == [3.0, 4.0, 5.0, 6.0, 7.0]
    assert bars.iloc[2].tolist() == [102.0, 103.5, 101.0, 102.5, 3.75, 5.0]


def test_read_when_gzip_then_equals_plain(tmp_path):
    plain = read_kraken_ohlcvt(write(tmp_path / "x.csv", lines(9)))
    packed = read_kraken_ohlcvt(write(tmp_path / "x.csv.gz", lines(9)))
    pd.testing.assert_frame_equal(plain, packed)


def test_read_when_six_columns_then_has_no_trades(tmp_path):
    bars = read_kraken_ohlcvt(write(tmp_path / "x.csv", lines(4, trades=False)))
    assert list(bars.columns) == ["open", "high", "low", "close", "volume"]


def test_read_when_crlf_line_endings_then_accepts(tmp_path):
    p = tmp_path / "x.csv"
    p.write_bytes(("\r\n".join(lines(3)) + "\r\n").encode())
    assert len(read_kraken_ohlcvt(p)) == 3


def test_read_when_daily_interval_then_accepts_any_interval(tmp_path):
    midnight = T0 - T0 % 86400
    bars = read_kraken_ohlcvt(write(tmp_path / "d.csv", lines(4, start=midnight, step=86400)), timeframe="1d")
    assert (np.diff(bars.index.asi8) == 86_400 * 10**9).all()


# ------------------------------------------------------------------ bad inputs, each named by line
def _bad(rows: list[str], lineno: int, value: str) -> list[str]:
    rows = list(rows)
    rows[lineno - 1] = value
    return rows


BAD = {
    "non-numeric field": (lambda r: _bad(r, 3, r[2].replace("102.0", "abc", 1)), 3,
                          "field 2 (open) is not a number: 'abc'"),
    "empty field": (lambda r: _bad(r, 4, r[3].replace("104.5", "", 1)), 4, "field 3 (high) is not a number"),
    "non-integer time": (lambda r: _bad(r, 2, "x" + r[1]), 2, "field 1 (time) is not a whole number"),
    "wrong column count": (lambda r: _bad(r, 4, r[3] + ",9"), 4, "expected 7 comma-separated fields, got 8"),
    "missing column": (lambda r: _bad(r, 5, r[4].rsplit(",", 1)[0]), 5, "got 6 fields"),
    "blank line": (lambda r: _bad(r, 3, ""), 3, "got an empty line"),
    "rows out of order": (lambda r: [r[0], r[2], r[1], *r[3:]], 3, "rows out of order"),
    "duplicate row": (lambda r: [r[0], r[1], r[1], *r[3:]], 3, "duplicate timestamp"),
    "high < low": (lambda r: _bad(r, 2, f"{T0 + 3600},101.0,99.0,100.0,100.5,1.0,3"), 2, "high 99.0 < low 100.0"),
    "close above high": (lambda r: _bad(r, 2, f"{T0 + 3600},101.0,102.0,100.0,103.0,1.0,3"), 2,
                         "high 102.0 is below max(open 101.0, close 103.0)"),
    "open below low": (lambda r: _bad(r, 6, f"{T0 + 5 * 3600},99.0,102.0,100.0,101.0,1.0,3"), 6,
                       "low 100.0 is above min(open 99.0, close 101.0)"),
    "negative volume": (lambda r: _bad(r, 7, f"{T0 + 6 * 3600},101.0,102.0,100.0,101.0,-1.0,3"), 7,
                        "volume -1.0 is negative"),
    "nan price": (lambda r: _bad(r, 4, f"{T0 + 3 * 3600},nan,102.0,100.0,101.0,1.0,3"), 4, "open is nan"),
    "milliseconds": (lambda r: _bad(r, 1, f"{T0 * 1000},101.0,102.0,100.0,101.0,1.0,3"), 1, "milliseconds"),
}


@pytest.mark.parametrize("case", sorted(BAD))
@pytest.mark.parametrize("suffix", [".csv", ".csv.gz"])
def test_read_when_line_is_bad_then_raises_naming_file_and_line(tmp_path, case, suffix):
    mutate, lineno, message = BAD[case]
    path = write(tmp_path / f"bad{suffix}", mutate(lines(8)))
    with pytest.raises(DataError) as e:
        read_kraken_ohlcvt(path)
    text = str(e.value)
    assert text.startswith(f"{path}: line {lineno}: "), text
    assert message in text


def test_read_when_first_line_has_wrong_field_count_then_raises_line_1(tmp_path):
    path = write(tmp_path / "x.csv", ["1,2,3", *lines(3)])
    with pytest.raises(DataError, match=r"x.csv: line 1: expected 7 comma-separated fields .* got 3"):
        read_kraken_ohlcvt(path)


@pytest.mark.parametrize("content", [b"", b"\n\n", gzip.compress(b"", mtime=0)])
def test_read_when_file_is_empty_then_raises_line_1(tmp_path, content):
    path = tmp_path / "empty.csv"
    path.write_bytes(content)
    with pytest.raises(DataError, match=r"empty.csv: line 1: empty file"):
        read_kraken_ohlcvt(path)


def test_read_when_gzip_is_truncated_then_raises_naming_the_line_it_stops_at(tmp_path):
    rows = lines(4000)
    full = gzip.compress(("\n".join(rows) + "\n").encode(), mtime=0)
    path = tmp_path / "cut.csv.gz"
    path.write_bytes(full[: len(full) // 2])
    with pytest.raises(DataError) as e:
        read_kraken_ohlcvt(path)
    text = str(e.value)
    assert "truncated gzip file" in text and text.startswith(f"{path}: line ")
    lineno = int(text.split(": line ")[1].split(":")[0])
    assert 1 < lineno < 4000


def test_read_when_gzip_is_corrupt_then_raises_data_error(tmp_path):
    full = bytearray(gzip.compress(("\n".join(lines(500)) + "\n").encode(), mtime=0))
    full[-6] ^= 0xFF  # damage the CRC trailer
    path = tmp_path / "crc.csv.gz"
    path.write_bytes(bytes(full))
    with pytest.raises(DataError, match=r"crc.csv.gz: line \d+: corrupt gzip data"):
        read_kraken_ohlcvt(path)


def test_read_when_file_missing_then_raises(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        read_kraken_ohlcvt(tmp_path / "nope.csv")


def test_read_when_timestamp_off_the_timeframe_grid_then_raises_naming_line(tmp_path):
    rows = lines(5)
    rows[3] = rows[3].replace(str(T0 + 3 * 3600), str(T0 + 3 * 3600 + 60), 1)
    with pytest.raises(DataError, match=r"line 4: time .* is not on the 60-minute grid"):
        read_kraken_ohlcvt(write(tmp_path / "x.csv", rows), timeframe="1h")


def test_read_when_file_name_contradicts_timeframe_or_symbol_then_raises(tmp_path):
    path = write(tmp_path / "XBTUSD_60.csv", lines(3))
    with pytest.raises(DataError, match="file name says 60-minute bars"):
        read_kraken_ohlcvt(path, timeframe="1d")
    with pytest.raises(DataError, match="file name says pair XBTUSD"):
        read_kraken_ohlcvt(path, symbol="ETH/USD")
    assert len(read_kraken_ohlcvt(path, symbol="BTC/USD", timeframe="1h")) == 3


# ------------------------------------------------------------------ zip archives
@pytest.fixture
def archive(tmp_path) -> Path:
    path = tmp_path / "Kraken_OHLCVT.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("XBTUSD_60.csv", "\n".join(lines(6)) + "\n")
        zf.writestr("XBTUSD_1440.csv", "\n".join(lines(2, step=86400, start=T0 - T0 % 86400)) + "\n")
        zf.writestr("XBTEUR_60.csv", "\n".join(lines(3)) + "\n")
        zf.writestr("ETHUSD_60.csv", "\n".join(lines(4)) + "\n")
        zf.writestr("XDGUSD_5.csv", "\n".join(lines(5, step=300)) + "\n")
    return path


@pytest.mark.parametrize(
    "symbol, timeframe, rows",
    [("BTC/USD", "1h", 6), ("BTC/USD", "1d", 2), ("BTC/EUR", "60m", 3), ("ETH/USD", "1h", 4),
     ("DOGE/USD", "5m", 5), ("XBTUSD", "1h", 6)],
)
def test_read_when_zip_then_chooses_member_by_symbol_and_timeframe(archive, symbol, timeframe, rows):
    assert len(read_kraken_ohlcvt(archive, symbol=symbol, timeframe=timeframe)) == rows


def test_read_when_zip_member_missing_then_lists_available_members(archive):
    with pytest.raises(DataError) as e:
        read_kraken_ohlcvt(archive, symbol="BTC/USD", timeframe="4h")
    text = str(e.value)
    assert "no member XBTUSD_240.csv" in text and "XBTUSD_60.csv" in text and "XBTUSD_1440.csv" in text
    with pytest.raises(DataError, match=r"no member SOLUSD_60.csv .*5 members, e.g. ETHUSD_60.csv"):
        read_kraken_ohlcvt(archive, symbol="SOL/USD", timeframe="1h")


def test_read_when_zip_has_many_members_and_no_symbol_then_asks_for_one(archive):
    with pytest.raises(DataError, match="name --symbol and --timeframe"):
        read_kraken_ohlcvt(archive)
    with pytest.raises(DataError, match="2 members match XBTUSD_"):
        read_kraken_ohlcvt(archive, symbol="BTC/USD")
    assert len(read_kraken_ohlcvt(archive, symbol="ETH/USD")) == 4  # the only ETHUSD member


def test_read_when_zip_member_is_bad_then_names_member_and_line(tmp_path):
    path = tmp_path / "a.zip"
    rows = lines(5)
    rows[2] = rows[2].replace("102.0", "oops", 1)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("XBTUSD_60.csv", "\n".join(rows) + "\n")
    with pytest.raises(DataError, match=r"a.zip:XBTUSD_60.csv: line 3: field 2 \(open\) is not a number"):
        read_kraken_ohlcvt(path, symbol="BTC/USD", timeframe="1h")


def test_read_when_zip_is_truncated_then_raises(tmp_path, archive):
    cut = tmp_path / "cut.zip"
    cut.write_bytes(archive.read_bytes()[:200])
    with pytest.raises(DataError, match="not a readable zip archive"):
        read_kraken_ohlcvt(cut, symbol="BTC/USD", timeframe="1h")


@pytest.mark.parametrize("symbol, alt", [("BTC/USD", "XBTUSD"), ("btc/eur", "XBTEUR"), ("DOGE/USD", "XDGUSD"),
                                         ("ETH/BTC", "ETHXBT"), ("XBTUSD", "XBTUSD"), ("BTCUSD", "XBTUSD")])
def test_kraken_altname_when_symbol_given_then_uses_kraken_asset_names(symbol, alt):
    assert kraken_altname(symbol) == alt


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    steps=st.lists(st.integers(1, 5), min_size=1, max_size=40),
    prices=st.lists(st.floats(0.01, 1e6, allow_nan=False), min_size=41, max_size=41),
)
def test_read_when_any_valid_file_then_round_trips_values(tmp_path, steps, prices):
    ts = T0 + 3600 * np.concatenate(([0], np.cumsum(steps)))
    rows = []
    for i, t in enumerate(ts):
        p = prices[i]
        rows.append(f"{t},{p!r},{p * 1.01!r},{p * 0.99!r},{p!r},{i * 0.5!r},{i}")
    bars = read_kraken_ohlcvt(write(tmp_path / "h.csv", rows), timeframe="1h")
    assert bars.index.asi8.tolist() == [int(t) * 10**9 for t in ts]
    assert bars["close"].tolist() == [prices[i] for i in range(len(ts))]
    assert bars["high"].tolist() == [prices[i] * 1.01 for i in range(len(ts))]


def test_read_when_gzip_has_several_members_then_reads_them_all(tmp_path):
    rng = np.random.default_rng(0)  # random volumes: the first member compresses to more than one read chunk
    rows = [f"{T0 + i * 3600},1.0,2.0,0.5,1.5,{rng.random()!r},{i}" for i in range(50_000)]
    first = gzip.compress(("\n".join(rows[:25_000]) + "\n").encode(), mtime=0)
    assert len(first) > 1 << 18
    path = tmp_path / "multi.csv.gz"
    path.write_bytes(first + gzip.compress(("\n".join(rows[25_000:]) + "\n").encode(), mtime=0))
    bars = read_kraken_ohlcvt(path)
    assert len(bars) == 50_000 and bars["trades"].iloc[-1] == 49_999


def test_read_when_file_named_with_usual_ticker_then_matches_kraken_name(tmp_path):
    path = write(tmp_path / "BTCUSD_60.csv", lines(3))
    assert len(read_kraken_ohlcvt(path, symbol="BTC/USD", timeframe="1h")) == 3
