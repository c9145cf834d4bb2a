"""Parquet bar store: layout, round trip, idempotent merge, atomic and validated writes, manifest."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from peaktrade.data import BarStore, Manifest, apply_gap_policy
from peaktrade.data import store as store_mod
from peaktrade.data.schema import fingerprint
from peaktrade.errors import DataError


@pytest.fixture
def store(tmp_path) -> BarStore:
    return BarStore(tmp_path / "bars")


def test_write_when_new_then_lays_out_parquet_and_manifest_per_dataset(store, hourly_bars):
    m = store.write("Kraken", "btc/usd", "60m", hourly_bars("2024-01-01", 24, trades=True), source="test")
    assert (store.root / "kraken" / "BTC-USD" / "1h.parquet").is_file()
    assert (store.root / "kraken" / "BTC-USD" / "1h.manifest.json").is_file()
    assert (m.exchange, m.symbol, m.timeframe, m.rows) == ("kraken", "BTC/USD", "1h", 24)
    assert store.exists("kraken", "BTC/USD", "1h") and not store.exists("kraken", "BTC/USD", "4h")
    assert [p.name for p in store.root.rglob("*") if p.name.startswith(".")] == []  # no temp files left


def test_read_when_written_then_round_trips_exactly(store, hourly_bars):
    bars = hourly_bars("2024-01-01", 50, trades=True)
    store.write("kraken", "BTC/USD", "1h", bars, source="test")
    pd.testing.assert_frame_equal(store.read("kraken", "BTC/USD", "1h"), bars, check_exact=True, check_freq=False)


def test_read_when_filled_column_then_round_trips_bools(store, bars_of):
    bars = apply_gap_policy(bars_of(pd.to_datetime(["2024-01-01 00:00", "2024-01-01 03:00"], utc=True)), "1h", "fill")
    store.write("kraken", "BTC/USD", "1h", bars, source="test")
    back = store.read("kraken", "BTC/USD", "1h")
    assert back["filled"].dtype == np.bool_ and back["filled"].tolist() == [False, True, True, False]


def test_manifest_when_written_then_describes_the_data_set(store, bars_of):
    times = pd.date_range("2024-01-01", periods=30, freq="h", tz="UTC").delete([5, 6, 7, 20])
    bars = bars_of(times, trades=True)
    m = store.write("kraken", "BTC/USD", "1h", bars, source="kraken-ohlcvt:XBTUSD_60.csv.gz")
    assert m == store.manifest("kraken", "BTC/USD", "1h")
    assert m.sources == ("kraken-ohlcvt:XBTUSD_60.csv.gz",)
    assert (m.rows, m.first, m.last) == (26, times[0], times[-1])
    assert m.gaps == {"n_gaps": 2, "missing_bars": 4, "longest": 3}
    assert m.columns == ("open", "high", "low", "close", "volume", "trades")
    assert m.fingerprint == fingerprint(bars) and len(m.fingerprint) == 64
    assert m.synthetic is False and m.updated_at.tzinfo is not None
    on_disk = json.loads((store.root / "kraken" / "BTC-USD" / "1h.manifest.json").read_text())
    assert on_disk["first"] == "2024-01-01T00:00:00Z" and on_disk["fingerprint"] == m.fingerprint
    assert set(on_disk) >= {"exchange", "symbol", "timeframe", "sources", "rows", "first", "last", "gaps",
                            "fingerprint", "synthetic", "updated_at"}


def test_write_when_same_bars_again_then_files_byte_identical_and_nothing_added(store, hourly_bars, snapshot):
    bars = hourly_bars("2024-01-01", 100, trades=True)
    first = store.write("kraken", "BTC/USD", "1h", bars, source="a.csv")
    before = snapshot(store.root)
    again = store.write("kraken", "BTC/USD", "1h", bars.copy(), source="a.csv")
    assert snapshot(store.root) == before
    assert (again.changes.added, again.changes.updated, again.changes.unchanged) == (0, 0, 100)
    assert not again.changes.changed
    assert again == first and again.updated_at == first.updated_at


def test_write_when_same_bars_from_another_source_then_still_nothing_written(store, hourly_bars, snapshot):
    bars = hourly_bars("2024-01-01", 10)
    store.write("kraken", "BTC/USD", "1h", bars, source="a.csv")
    before = snapshot(store.root)
    store.write("kraken", "BTC/USD", "1h", bars.iloc[3:7], source="b.csv")
    assert snapshot(store.root) == before


def test_write_when_rewritten_into_another_store_then_parquet_bytes_are_deterministic(tmp_path, hourly_bars):
    bars = hourly_bars("2024-01-01", 500, trades=True)
    a, b = BarStore(tmp_path / "a"), BarStore(tmp_path / "b")
    a.write("kraken", "BTC/USD", "1h", bars, source="x")
    b.write("kraken", "BTC/USD", "1h", bars.copy(), source="x")
    rel = "kraken/BTC-USD/1h.parquet"
    assert (a.root / rel).read_bytes() == (b.root / rel).read_bytes()


def test_write_when_overlapping_then_unions_and_incoming_wins_only_where_different(store, hourly_bars):
    old = hourly_bars("2024-01-01", 10, seed=1)
    store.write("kraken", "BTC/USD", "1h", old, source="old")
    new = old.iloc[6:].copy()
    new.iloc[1, new.columns.get_loc("volume")] = 999.0  # 07:00 differs
    new = pd.concat([new, hourly_bars("2024-01-01 10:00", 3, seed=2)])
    m = store.write("kraken", "BTC/USD", "1h", new, source="new")
    assert (m.changes.added, m.changes.updated, m.changes.unchanged) == (3, 1, 3)
    got = store.read("kraken", "BTC/USD", "1h")
    assert len(got) == 13 and m.rows == 13
    assert got["volume"].iloc[7] == 999.0
    pd.testing.assert_frame_equal(got.iloc[:7], old.iloc[:7], check_freq=False)
    assert m.sources == ("new", "old")


def test_write_when_older_bars_arrive_then_they_are_merged_in_order(store, hourly_bars):
    store.write("kraken", "BTC/USD", "1h", hourly_bars("2024-01-02", 5), source="a")
    store.write("kraken", "BTC/USD", "1h", hourly_bars("2024-01-01 20:00", 4), source="b")
    got = store.read("kraken", "BTC/USD", "1h")
    assert got.index.is_monotonic_increasing and len(got) == 9


def test_write_when_incoming_bar_is_filled_then_it_never_replaces_a_stored_bar(store, bars_of, hourly_bars):
    real = hourly_bars("2024-01-01", 4)
    store.write("kraken", "BTC/USD", "1h", real, source="download")
    holey = bars_of(pd.to_datetime(["2024-01-01 00:00", "2024-01-01 03:00"], utc=True), close=[1.0, 2.0])
    m = store.write("kraken", "BTC/USD", "1h", apply_gap_policy(holey, "1h", "fill"), source="csv")
    got = store.read("kraken", "BTC/USD", "1h")
    assert got["filled"].tolist() == [False, False, False, False]
    pd.testing.assert_series_equal(got["close"].iloc[1:3], real["close"].iloc[1:3], check_freq=False)
    assert m.changes.updated == 2  # 00:00 and 03:00 differ; the filled 01:00 and 02:00 are ignored


def test_write_when_real_bar_arrives_for_a_filled_one_then_replaces_it(store, bars_of):
    holey = bars_of(pd.to_datetime(["2024-01-01 00:00", "2024-01-01 02:00"], utc=True), close=[1.0, 2.0])
    store.write("kraken", "BTC/USD", "1h", apply_gap_policy(holey, "1h", "fill"), source="csv")
    flat = pd.DataFrame({"open": [1.0], "high": [1.0], "low": [1.0], "close": [1.0], "volume": [0.0]},
                        index=pd.DatetimeIndex([pd.Timestamp("2024-01-01 01:00", tz="UTC")], name="time"))
    m = store.write("kraken", "BTC/USD", "1h", flat, source="download")  # same values, but real
    assert m.changes.updated == 1
    assert not store.read("kraken", "BTC/USD", "1h")["filled"].any()


def test_write_when_trades_missing_in_new_bars_then_drops_trades_with_a_note(store, hourly_bars):
    store.write("kraken", "BTC/USD", "1h", hourly_bars("2024-01-01", 5, trades=True), source="csv")
    m = store.write("kraken", "BTC/USD", "1h", hourly_bars("2024-01-01 05:00", 2), source="ccxt:kraken")
    assert "trades" not in m.columns and any("trades" in n for n in m.changes.notes)
    assert "trades" not in store.read("kraken", "BTC/USD", "1h").columns


def test_write_when_trades_missing_but_only_overlap_then_nothing_changes(store, hourly_bars, snapshot):
    bars = hourly_bars("2024-01-01", 5, trades=True)
    store.write("kraken", "BTC/USD", "1h", bars, source="csv")
    before = snapshot(store.root)
    store.write("kraken", "BTC/USD", "1h", bars.drop(columns="trades").iloc[2:], source="ccxt:kraken")
    assert snapshot(store.root) == before


@pytest.mark.parametrize(
    "bad, message",
    [
        (lambda b: b.assign(close=np.r_[b["close"].to_numpy()[:-1], np.nan]), "close is nan"),
        (lambda b: b.assign(extra=1.0), "unexpected column(s) ['extra']"),
        (lambda b: b.iloc[::-1], "out of order"),
        (lambda b: b.set_axis(b.index + pd.Timedelta(minutes=30)).iloc[:3].pipe(
            lambda x: pd.concat([x, b.iloc[5:6].set_axis(b.index[5:6])])), "not a whole multiple of the timeframe"),
    ],
)
def test_write_when_bars_invalid_then_raises_and_store_is_byte_identical(store, hourly_bars, snapshot, bad, message):
    bars = hourly_bars("2024-01-01", 20, trades=True)
    store.write("kraken", "BTC/USD", "1h", bars, source="good")
    before = snapshot(store.root)
    with pytest.raises(DataError) as e:
        store.write("kraken", "BTC/USD", "1h", bad(hourly_bars("2024-01-02", 8, trades=True)), source="bad")
    assert message in str(e.value)
    assert snapshot(store.root) == before


def test_write_when_parquet_write_fails_midway_then_store_is_untouched(store, hourly_bars, snapshot, monkeypatch):
    store.write("kraken", "BTC/USD", "1h", hourly_bars("2024-01-01", 20), source="good")
    before = snapshot(store.root)

    def boom(table, path):
        path.write_bytes(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(store_mod, "_write_parquet", boom)
    with pytest.raises(OSError, match="disk full"):
        store.write("kraken", "BTC/USD", "1h", hourly_bars("2024-01-01 20:00", 5), source="more")
    assert snapshot(store.root) == before  # no temp file left, nothing replaced


def test_write_when_synthetic_meets_market_data_then_refuses(store, hourly_bars):
    store.write("kraken", "BTC/USD", "1h", hourly_bars("2024-01-01", 5), source="csv")
    with pytest.raises(DataError, match="refusing to merge synthetic bars into the market data set"):
        store.write("kraken", "BTC/USD", "1h", hourly_bars("2024-01-02", 5), source="gen", synthetic=True)


def test_write_when_replace_then_drops_old_bars(store, hourly_bars):
    store.write("synthetic", "BTC/USD", "1h", hourly_bars("2024-01-01", 10), source="seed=1", synthetic=True)
    m = store.write("synthetic", "BTC/USD", "1h", hourly_bars("2024-01-01", 4, seed=9), source="seed=2",
                    synthetic=True, replace=True)
    assert m.rows == 4 and m.sources == ("seed=2",) and m.changes.removed == 6 and m.synthetic


@pytest.mark.parametrize(
    "kw, message",
    [({"exchange": "../x"}, "exchange='../x'"), ({"symbol": "BTC/../USD"}, "symbol="),
     ({"timeframe": "1y"}, "timeframe='1y'"), ({"source": ""}, "source=''")],
)
def test_write_when_names_invalid_then_raises_before_touching_disk(store, hourly_bars, kw, message):
    args = {"exchange": "kraken", "symbol": "BTC/USD", "timeframe": "1h", "source": "x", **kw}
    with pytest.raises(DataError, match=message):
        store.write(args.pop("exchange"), args.pop("symbol"), args.pop("timeframe"), hourly_bars("2024-01-01", 3),
                    **args)
    assert not store.root.exists()


def test_write_when_no_bars_for_new_data_set_then_raises(store, hourly_bars):
    with pytest.raises(DataError, match="no bars to write"):
        store.write("kraken", "BTC/USD", "1h", hourly_bars("2024-01-01", 0), source="x")


def test_read_when_start_and_end_given_then_end_is_exclusive_and_naive_is_utc(store, hourly_bars):
    store.write("kraken", "BTC/USD", "1h", hourly_bars("2024-01-01", 48), source="x")
    end = pd.Timestamp("2024-01-01 14:00", tz="UTC")
    got = store.read("kraken", "BTC/USD", "1h", start="2024-01-01 10:00", end=end)
    assert got.index.strftime("%H").tolist() == ["10", "11", "12", "13"]
    assert store.read("kraken", "BTC/USD", "1h", start="2025-01-01").empty
    shifted = store.read("kraken", "BTC/USD", "1h", start=pd.Timestamp("2024-01-01 12:00", tz="Europe/Berlin"))
    assert shifted.index[0] == pd.Timestamp("2024-01-01 11:00", tz="UTC")


def test_read_when_data_set_missing_then_raises_listing_what_is_stored(store, hourly_bars):
    store.write("kraken", "ETH/USD", "1h", hourly_bars("2024-01-01", 3), source="x")
    with pytest.raises(DataError, match=r"no data set kraken BTC/USD 1h in .* \(stored: kraken ETH/USD 1h\)"):
        store.read("kraken", "BTC/USD", "1h")
    with pytest.raises(DataError, match="no data set"):
        store.manifest("kraken", "BTC/USD", "1h")


def test_read_when_parquet_is_damaged_then_raises_naming_the_file(store, hourly_bars):
    store.write("kraken", "BTC/USD", "1h", hourly_bars("2024-01-01", 3), source="x")
    (store.root / "kraken" / "BTC-USD" / "1h.parquet").write_bytes(b"garbage")
    with pytest.raises(DataError, match=r"1h.parquet: unreadable Parquet file"):
        store.read("kraken", "BTC/USD", "1h")


def test_datasets_when_several_then_sorted_by_exchange_symbol_and_timeframe(store, hourly_bars, bars_of):
    assert store.datasets() == []
    store.write("kraken", "ETH/USD", "1h", hourly_bars("2024-01-01", 3), source="x")
    for tf, freq in (("1d", "D"), ("15m", "15min")):
        store.write("kraken", "BTC/USD", tf, bars_of(pd.date_range("2024-01-01", periods=3, freq=freq, tz="UTC")),
                    source="x")
    store.write("synthetic", "BTC/USD", "1h", hourly_bars("2024-01-01", 3), source="x", synthetic=True)
    got = [(m.exchange, m.symbol, m.timeframe) for m in store.datasets()]
    assert got == [("kraken", "BTC/USD", "15m"), ("kraken", "BTC/USD", "1d"), ("kraken", "ETH/USD", "1h"),
                   ("synthetic", "BTC/USD", "1h")]
    assert all(isinstance(m, Manifest) for m in store.datasets())


def test_manifest_when_json_round_trips_then_equal(store, hourly_bars):
    m = store.write("kraken", "BTC/USD", "1h", hourly_bars("2024-01-01", 3), source="x")
    assert Manifest.from_dict(json.loads(m.to_json())) == m
