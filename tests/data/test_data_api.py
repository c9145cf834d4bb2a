"""Config-aware entry points: import_file, load_bars, demo_dataset, quality_summary; light import."""

from __future__ import annotations

import gzip
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import peaktrade.data as data
from peaktrade.data import (
    BarStore,
    demo_dataset,
    import_file,
    load_bars,
    quality_summary,
    resample_bars,
    synthetic_bars,
)
from peaktrade.errors import DataError


def kraken_file(path, bars: pd.DataFrame):
    """Write ``bars`` as a Kraken OHLCVT .csv.gz."""
    rows = [
        f"{t.value // 10**9},{r.open!r},{r.high!r},{r.low!r},{r.close!r},{r.volume!r},{int(r.trades)}"
        for t, r in zip(bars.index, bars.itertuples())
    ]
    path.write_bytes(gzip.compress(("\n".join(rows) + "\n").encode(), mtime=0))
    return path


def test_public_surface_when_imported_then_exposes_the_documented_names():
    expected = {"BARS_COLUMNS", "validate_bars", "parse_timeframe", "read_kraken_ohlcvt", "audit_gaps", "GapReport",
                "apply_gap_policy", "resample_bars", "synthetic_bars", "BarStore", "Manifest", "download_ohlcv",
                "load_bars", "import_file", "demo_dataset", "quality_summary"}
    assert expected <= set(data.__all__)
    assert all(hasattr(data, name) for name in data.__all__)


def test_import_package_when_imported_then_ccxt_and_numba_are_not_loaded():
    code = "import sys, peaktrade.data; print(sorted(m for m in ('ccxt', 'numba') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_import_file_when_keep_policy_then_stores_bars_as_read(cfg, tmp_path, bars_of):
    times = pd.date_range("2024-01-01", periods=20, freq="h", tz="UTC").delete([4, 5, 11])
    src = bars_of(times, trades=True)
    m = import_file(kraken_file(tmp_path / "XBTUSD_60.csv.gz", src), symbol="BTC/USD", timeframe="1h", config=cfg)
    assert m.rows == 17 and m.gaps == {"n_gaps": 2, "missing_bars": 3, "longest": 2}
    assert m.sources == ("kraken-ohlcvt:XBTUSD_60.csv.gz",) and m.changes.added == 17
    assert (cfg.data_dir / "kraken" / "BTC-USD" / "1h.parquet").is_file()
    pd.testing.assert_frame_equal(load_bars("BTC/USD", "1h", config=cfg), src, check_freq=False)


def test_import_file_when_fill_policy_configured_then_stores_filled_bars(make_cfg, tmp_path, bars_of):
    cfg = make_cfg(data={"gaps": "fill"})
    times = pd.date_range("2024-01-01", periods=10, freq="h", tz="UTC").delete([3, 4])
    m = import_file(kraken_file(tmp_path / "f.csv.gz", bars_of(times, trades=True)), symbol="BTC/USD",
                    timeframe="1h", config=cfg)
    assert m.rows == 10 and m.gaps["n_gaps"] == 0 and "filled" in m.columns
    got = load_bars("BTC/USD", "1h", config=cfg)
    assert got["filled"].sum() == 2


def test_import_file_when_config_omitted_then_uses_load_config(cfg, tmp_path, hourly_bars):
    import_file(kraken_file(tmp_path / "a.csv.gz", hourly_bars("2024-01-01", 5, trades=True)), symbol="ETH/USD",
                timeframe="1h")
    assert BarStore(cfg.data_dir).exists("kraken", "ETH/USD", "1h")


def test_load_bars_when_exact_timeframe_stored_then_reads_it_with_bounds(cfg, hourly_bars):
    BarStore(cfg.data_dir).write("kraken", "BTC/USD", "1h", hourly_bars("2024-01-01", 48), source="x")
    got = load_bars("BTC/USD", "1h", start="2024-01-01 06:00", end="2024-01-02", config=cfg)
    assert (got.index[0].hour, got.index[-1].hour, len(got)) == (6, 23, 18)


def test_load_bars_when_only_finer_stored_then_resamples_from_the_finest_divisor(cfg):
    store = BarStore(cfg.data_dir)
    fine = synthetic_bars(24 * 20, start="2024-01-01")
    store.write("kraken", "BTC/USD", "1h", fine, source="x")
    coarse = resample_bars(fine, "2h")
    coarse = coarse.assign(close=coarse["close"], volume=coarse["volume"] * 2)  # distinguishable
    store.write("kraken", "BTC/USD", "2h", coarse, source="y")
    got = load_bars("BTC/USD", "4h", config=cfg)
    pd.testing.assert_frame_equal(got, resample_bars(fine, "4h", source_timeframe="1h"))


def test_load_bars_when_resampling_with_start_mid_period_then_first_bar_is_complete(cfg):
    fine = synthetic_bars(24 * 5, start="2024-01-01")
    BarStore(cfg.data_dir).write("kraken", "BTC/USD", "1h", fine, source="x")
    got = load_bars("BTC/USD", "4h", start="2024-01-01 05:00", end="2024-01-02 02:00", config=cfg)
    assert got.index.strftime("%d %H").tolist() == ["01 08", "01 12", "01 16", "01 20"]
    full = resample_bars(fine, "4h")
    pd.testing.assert_frame_equal(got, full.loc[got.index])


def test_load_bars_when_nothing_suitable_stored_then_raises_listing_what_is(cfg, hourly_bars):
    BarStore(cfg.data_dir).write("kraken", "BTC/USD", "1h", hourly_bars("2024-01-01", 5), source="x")
    with pytest.raises(DataError) as e:
        load_bars("BTC/USD", "90m", config=cfg)
    text = str(e.value)
    assert "no kraken BTC/USD bars at 90m" in text and "BTC/USD is stored at 1h" in text
    assert "peaktrade data import" in text
    with pytest.raises(DataError, match=r"stored: kraken BTC/USD 1h"):
        load_bars("ETH/USD", "1h", config=cfg)


def test_load_bars_when_exchange_omitted_then_uses_configured_exchange(make_cfg, hourly_bars):
    cfg = make_cfg(data={"exchange": "binance"})
    BarStore(cfg.data_dir).write("binance", "BTC/USDT", "1h", hourly_bars("2024-01-01", 5), source="x")
    assert len(load_bars("BTC/USDT", "1h", config=cfg)) == 5


def test_demo_dataset_when_first_called_then_generates_stores_and_marks_synthetic(cfg):
    bars = demo_dataset(cfg)
    assert len(bars) == cfg.demo.bars
    m = BarStore(cfg.data_dir).manifest("synthetic", cfg.demo.symbol, cfg.demo.timeframe)
    assert m.synthetic and m.rows == cfg.demo.bars
    expected = synthetic_bars(cfg.demo.bars, timeframe=cfg.demo.timeframe, seed=cfg.demo.seed, start="2020-01-01")
    pd.testing.assert_frame_equal(bars, expected, check_freq=False)


def test_demo_dataset_when_called_again_then_reads_without_regenerating(cfg, snapshot, monkeypatch):
    first = demo_dataset(cfg)
    before = snapshot(cfg.data_dir)
    monkeypatch.setattr("peaktrade.data._api.synthetic_bars", lambda *a, **k: pytest.fail("regenerated"))
    again = demo_dataset(cfg)
    assert snapshot(cfg.data_dir) == before
    pd.testing.assert_frame_equal(first, again)


def test_demo_dataset_when_seed_changes_then_replaces_the_data_set(make_cfg):
    a = demo_dataset(make_cfg(demo={"seed": 1, "bars": 300}))
    b = demo_dataset(make_cfg(demo={"seed": 2, "bars": 300}))
    assert len(b) == 300 and not a.equals(b)


def test_quality_summary_when_bars_have_gaps_then_reports_stable_keys(bars_of):
    times = pd.date_range("2024-01-01", periods=12, freq="h", tz="UTC").delete([3, 4, 5, 9])
    bars = bars_of(times, close=np.linspace(100, 110, 8))
    bars.iloc[2, bars.columns.get_loc("volume")] = 0.0
    q = quality_summary(bars, "1h")
    assert list(q) == ["rows", "timeframe", "first", "last", "n_gaps", "missing_bars", "longest_gap",
                       "longest_gap_start", "longest_gap_end", "coverage_pct", "filled_pct", "zero_volume_bars",
                       "return_mean", "return_std", "return_ann_vol", "return_min", "return_max", "return_skew",
                       "return_kurtosis", "fingerprint"]
    assert (q["rows"], q["n_gaps"], q["missing_bars"], q["longest_gap"]) == (8, 2, 4, 3)
    assert (q["first"], q["last"]) == ("2024-01-01T00:00:00Z", "2024-01-01T11:00:00Z")
    assert (q["longest_gap_start"], q["longest_gap_end"]) == ("2024-01-01T03:00:00Z", "2024-01-01T05:00:00Z")
    assert q["coverage_pct"] == pytest.approx(8 / 12 * 100) and q["filled_pct"] == 0.0 and q["zero_volume_bars"] == 1
    r = np.diff(np.log(np.linspace(100, 110, 8)))
    assert q["return_mean"] == pytest.approx(r.mean())
    assert q["return_ann_vol"] == pytest.approx(r.std(ddof=1) * np.sqrt(8760))
    assert len(q["fingerprint"]) == 64


def test_quality_summary_when_one_bar_then_undefined_stats_are_none(hourly_bars):
    q = quality_summary(hourly_bars("2024-01-01", 1), "1h")
    assert q["rows"] == 1 and q["return_std"] is None and q["return_kurtosis"] is None
