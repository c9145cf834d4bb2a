"""Real Kraken hourly data from ../shared/data/kraken (skipped where that folder is absent)."""

from __future__ import annotations

import csv
import gzip
import io

import pandas as pd
import pytest

from peaktrade.data import BarStore, audit_gaps, import_file, load_bars, read_kraken_ohlcvt, resample_bars
from peaktrade.errors import DataError

pytestmark = pytest.mark.realdata

FILES = {
    "XBTUSD": ("BTC/USD", 70_253, "2013-10-06 21:00", "2023-01-07 09:00"),
    "ETHUSD": ("ETH/USD", 63_568, "2015-08-07 14:00", "2023-03-31 23:00"),
}


def independent_gap_count(path) -> tuple[int, int, int, int]:
    """Count rows, holes, missing hours and the longest hole with a plain loop over the raw CSV."""
    rows = holes = missing = longest = 0
    prev = None
    with gzip.open(path, "rt", newline="") as f:
        for record in csv.reader(f):
            t = int(record[0])
            rows += 1
            if prev is not None and t - prev > 3600:
                gap = (t - prev) // 3600 - 1
                holes += 1
                missing += gap
                longest = max(longest, gap)
            prev = t
    return rows, holes, missing, longest


@pytest.mark.parametrize("pair", sorted(FILES))
def test_import_when_real_kraken_file_with_keep_policy_then_matches_published_facts(cfg, shared_data, pair):
    symbol, rows, first, last = FILES[pair]
    path = shared_data / f"{pair}_60.csv.gz"
    m = import_file(path, symbol=symbol, timeframe="1h", config=cfg)
    assert cfg.data.gaps == "keep"
    assert m.rows == rows
    assert m.first == pd.Timestamp(first, tz="UTC") and m.last == pd.Timestamp(last, tz="UTC")
    bars = load_bars(symbol, "1h", config=cfg)
    assert len(bars) == rows and "trades" in bars.columns
    report = audit_gaps(bars, "1h")
    n, holes, missing, longest = independent_gap_count(path)
    assert n == rows
    assert (report.n_gaps, report.missing_bars, report.longest) == (holes, missing, longest)
    assert m.gaps == {"n_gaps": holes, "missing_bars": missing, "longest": longest}


def test_audit_when_real_xbtusd_then_finds_the_3254_documented_gaps(shared_data):
    report = audit_gaps(read_kraken_ohlcvt(shared_data / "XBTUSD_60.csv.gz"), "1h")
    assert report.n_gaps == 3_254
    assert report.table["start"].dt.year.value_counts().sort_index().index[0] == 2013


def test_resample_when_real_hourly_to_daily_then_matches_pandas_groupby(shared_data):
    bars = read_kraken_ohlcvt(shared_data / "ETHUSD_60.csv.gz", symbol="ETH/USD", timeframe="1h")
    got = resample_bars(bars, "1d", source_timeframe="1h")
    want = bars.groupby(bars.index.floor("D")).agg(
        {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum", "trades": "sum"}
    )
    want.index.name = "time"
    assert bars.index[-1].hour == 23  # the last day is complete, so it is kept
    pd.testing.assert_frame_equal(got, want, check_freq=False)


def _real_lines(shared_data) -> list[bytes]:
    return gzip.decompress((shared_data / "XBTUSD_60.csv.gz").read_bytes()).splitlines()


def _pack(lines: list[bytes]) -> bytes:
    return gzip.compress(b"\n".join(lines) + b"\n", compresslevel=1, mtime=0)


def _set_field(lines: list[bytes], lineno: int, field: int, value: bytes) -> list[bytes]:
    out = list(lines)
    parts = out[lineno - 1].split(b",")
    parts[field] = value
    out[lineno - 1] = b",".join(parts)
    return out


def _high_below_low(lines: list[bytes], lineno: int) -> list[bytes]:
    low = float(lines[lineno - 1].split(b",")[3])
    return _set_field(lines, lineno, 2, repr(low - 1.0).encode())


def _swap(lines: list[bytes], a: int) -> list[bytes]:
    out = list(lines)
    out[a - 1], out[a] = out[a], out[a - 1]
    return out


BAD_REAL = {
    "truncated gzip": (lambda sd: (sd / "XBTUSD_60.csv.gz").read_bytes()[:800_000], None, "truncated gzip file"),
    "non-numeric field": (lambda sd: _pack(_set_field(_real_lines(sd), 1234, 2, b"12O.5")), 1234, "is not a number"),
    "rows out of order": (lambda sd: _pack(_swap(_real_lines(sd), 5000)), 5001, "rows out of order"),
    "high < low": (lambda sd: _pack(_high_below_low(_real_lines(sd), 777)), 777, "< low"),
    "wrong column count": (lambda sd: _pack([*(_real_lines(sd)[:41]), _real_lines(sd)[41] + b",1",
                                             *_real_lines(sd)[42:]]), 42, "got 8 fields"),
    "empty file": (lambda sd: b"", 1, "empty file"),
}


@pytest.mark.parametrize("case", sorted(BAD_REAL))
def test_import_when_real_file_is_damaged_then_names_line_and_store_stays_byte_identical(
    cfg, shared_data, tmp_path, snapshot, case
):
    import_file(shared_data / "XBTUSD_60.csv.gz", symbol="BTC/USD", timeframe="1h", config=cfg)
    before = snapshot(cfg.data_dir)
    make, lineno, message = BAD_REAL[case]
    bad = tmp_path / "XBTUSD_60.csv.gz"
    bad.write_bytes(make(shared_data))
    with pytest.raises(DataError) as e:
        import_file(bad, symbol="BTC/USD", timeframe="1h", config=cfg)
    text = str(e.value)
    assert text.startswith(f"{bad}: line "), text
    assert message in text
    if lineno is not None:
        assert text.startswith(f"{bad}: line {lineno}: "), text
    assert snapshot(cfg.data_dir) == before
    assert BarStore(cfg.data_dir).manifest("kraken", "BTC/USD", "1h").rows == 70_253


def test_read_when_real_file_then_values_match_the_raw_csv(shared_data):
    bars = read_kraken_ohlcvt(shared_data / "XBTUSD_60.csv.gz")
    with gzip.open(shared_data / "XBTUSD_60.csv.gz", "rt") as f:
        raw = pd.read_csv(io.StringIO(f.read()), header=None, names=["t", "o", "h", "l", "c", "v", "n"])
    assert (bars.index.asi8 // 10**9 == raw["t"].to_numpy()).all()
    assert (bars["close"].to_numpy() == raw["c"].to_numpy()).all()
    assert (bars["trades"].to_numpy() == raw["n"].to_numpy()).all()
