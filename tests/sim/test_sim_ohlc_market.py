"""OHLC window/since/last semantics, the replayed clock, and bar sources."""

from __future__ import annotations

import pandas as pd
import pytest

from peaktrade.data.venue_feeds import load_feeds
from peaktrade.sim import SimExchange


@pytest.fixture
def ex(make_exchange):
    return make_exchange()


def _ohlc(ex, **kw):
    r = ex.call("OHLC", pair="XXBTZUSD", **kw)
    assert r["error"] == []
    return r["result"]["XXBTZUSD"], r["result"]["last"]


def test_ohlc_when_no_since_then_720_rows_last_unfinished_and_last_is_previous_open(ex):
    ex.advance(seconds=30)  # mid-bar
    rows, last = _ohlc(ex, interval=1)
    assert len(rows) == 720
    now = ex.now()
    assert rows[-1][0] == int(now // 60 * 60) and last == rows[-2][0] == rows[-1][0] - 60
    feed = ex.feeds["XXBTZUSD"]
    i = feed.index_at(now)
    assert float(rows[-1][1]) == pytest.approx(feed.o[i], abs=0.05)
    assert float(rows[-1][6]) == pytest.approx(feed.v[i] * 0.5, rel=1e-6)  # half a bar's volume so far
    assert float(rows[-2][4]) == pytest.approx(feed.c[i - 1], abs=0.05)
    assert [len(r) for r in rows[:1]] == [8] and isinstance(rows[0][7], int)


def test_ohlc_when_since_given_then_exclusive_and_unfinished_row_always_present(ex):
    rows, last = _ohlc(ex, interval=1)
    since = rows[700][0]
    after, _ = _ohlc(ex, interval=1, since=since)
    assert after[0][0] == rows[701][0] and after == rows[701:]
    newest, last2 = _ohlc(ex, interval=1, since=last)
    assert len(newest) == 1 and newest[0][0] == rows[-1][0] and last2 == last
    future, _ = _ohlc(ex, interval=1, since=rows[-1][0] + 10_000)
    assert len(future) == 1
    old, _ = _ohlc(ex, interval=1, since=0)
    assert len(old) == 720  # older data cannot be retrieved


def test_ohlc_when_polling_with_last_then_new_committed_rows_arrive(ex):
    _, last = _ohlc(ex, interval=1)
    ex.advance(bars=3)
    rows, new_last = _ohlc(ex, interval=1, since=last)
    assert [r[0] for r in rows] == [last + 60 * k for k in range(1, 5)] and new_last == last + 180


def test_ohlc_when_coarser_interval_then_aggregates_base_bars(ex):
    rows5, _ = _ohlc(ex, interval=5)
    rows1, _ = _ohlc(ex, interval=1)
    r = rows5[-3]
    parts = [x for x in rows1 if r[0] <= x[0] < r[0] + 300]
    assert len(parts) == 5
    assert r[1] == parts[0][1] and r[4] == parts[-1][4]
    assert float(r[2]) == max(float(p[2]) for p in parts) and float(r[3]) == min(float(p[3]) for p in parts)
    assert float(r[6]) == pytest.approx(sum(float(p[6]) for p in parts), rel=1e-6)
    assert all(x[0] % 300 == 0 for x in rows5)


@pytest.mark.parametrize(("params", "err"), [
    ({"interval": 7}, "EGeneral:Invalid arguments"),
    ({"pair": "DOGEUSD"}, "EQuery:Unknown asset pair"),
])
def test_ohlc_when_bad_arguments_then_kraken_error(ex, params, err):
    p = {"pair": "XXBTZUSD", **params}
    assert ex.call("OHLC", **p) == {"error": [err]}


def test_clock_when_speed_set_then_advances_bars_per_wall_second(sim_feeds):
    wall = [0.0]
    ex = SimExchange(feeds=sim_feeds, speed=2.0, wall_clock=lambda: wall[0])
    t0 = ex.now()
    wall[0] = 5.0
    assert ex.now() == pytest.approx(t0 + 5 * 2 * 60)
    ex.set_speed(0)
    wall[0] = 50.0
    assert ex.now() == pytest.approx(t0 + 600)
    ex.advance(bars=10**9)
    assert ex.now() == pytest.approx(ex.feeds["XXBTZUSD"].end)  # clamped at the end of the data


def test_load_feeds_when_csv_parquet_and_kraken_files_then_bars_replayed(tmp_path, sim_feeds):
    from peaktrade.data import synthetic_bars

    bars = synthetic_bars(800, timeframe="1h", seed=3, start="2023-01-01")
    csv = tmp_path / "b.csv"
    table = bars.rename_axis("time").reset_index()
    table.assign(time=table["time"].astype("int64") // 10**9).to_csv(csv, index=False)
    pq = tmp_path / "b.parquet"
    bars.to_parquet(pq)
    raw = tmp_path / "XBTUSD_60.csv"
    pd.DataFrame({"t": bars.index.asi8 // 10**9, "o": bars.open, "h": bars.high, "l": bars.low, "c": bars.close,
                  "v": bars.volume, "n": bars.trades.astype(int)}).to_csv(raw, header=False, index=False)
    for path in (csv, pq, raw):
        feeds = load_feeds([f"BTC/USD={path}"])
        assert feeds["XXBTZUSD"].interval == 3600 and len(feeds["XXBTZUSD"].t) == 800
        assert feeds["XETHZUSD"].interval == 3600 and feeds["XETHZUSD"].t[0] == feeds["XXBTZUSD"].t[0]
        assert feeds["XXBTZUSD"].c[5] == pytest.approx(bars.close.iloc[5])
    ex = SimExchange(feeds=load_feeds([str(pq)]))
    rows = ex.call("OHLC", pair="XBTUSD", interval=240)["result"]["XXBTZUSD"]
    assert rows[-1][0] % (4 * 3600) == 0 and ex.call("OHLC", pair="XBTUSD", interval=1)["error"] == [
        "EGeneral:Invalid arguments"]
    assert len(load_feeds(["synthetic:seed=2,n=900,tf=5m"])["XXBTZUSD"].t) == 900
    for bad in ["DOGE/USD=synthetic", "/nope.parquet", "store:BTC/USD", "synthetic:x=1"]:
        with pytest.raises(ValueError):
            load_feeds([bad])


def test_default_exchange_when_no_bars_given_then_starts_at_wall_time_with_two_weeks_of_history():
    import time

    ex = SimExchange(seed=4)
    assert abs(ex.now() - time.time()) < 5
    hourly = ex.call("OHLC", pair="ETHUSD", interval=60)["result"]["XETHZUSD"]
    assert 335 <= len(hourly) <= 337 and ex.call("Ticker", pair="XBTUSD")["error"] == []
