"""The simulator is an edge (DESIGN.md section 1): its own seeded market, any OHLC(V) frame, nothing above it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from peaktrade.errors import DataError
from peaktrade.sim import PAIRS, Feed, SimExchange, synthetic_feeds

REPO = Path(__file__).resolve().parents[2]

#: what an edge may use besides itself: the package root (and what its __init__ loads), errors, _files
ALLOWED = ("peaktrade.sim", "peaktrade.errors", "peaktrade._files", "peaktrade._numba_cache", "peaktrade._telemetry")


def test_simulator_when_serving_its_default_market_then_imports_nothing_above_the_edges():
    """At run time, not only statically: a fresh interpreter builds, serves and trades, then lists its modules."""
    code = """
import json, sys
import peaktrade.sim as sim
ex = sim.SimExchange(seed=0, keys={"K": "c2VjcmV0"})
assert ex.call("OHLC", pair="XBTUSD", interval=60)["error"] == []
assert ex.call("Ticker", pair="ETHUSD")["error"] == []
with sim.serve_in_thread(ex) as srv:
    ex.call("AddOrder", pair="XBTUSD", type="buy", ordertype="market", volume="0.01")
import pandas as pd
sim.Feed.from_frame(pd.DataFrame({"open": [1.0, 2.0], "high": [2.0, 2.0], "low": [1.0, 2.0], "close": [2.0, 2.0],
                                  "volume": [1.0, 1.0]},
                                 index=pd.date_range("2024-01-01", periods=2, freq="1h", tz="UTC")))
print(json.dumps(sorted(m for m in sys.modules if m.startswith("peaktrade"))))
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120,
                         env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "HOME": str(Path.home())})
    assert out.returncode == 0, out.stderr
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    above = [m for m in loaded if m != "peaktrade" and not m.startswith(ALLOWED)]
    assert "peaktrade.sim._book" in loaded and above == []


def test_synthetic_feeds_when_same_seed_then_identical_bars_and_other_seed_differs():
    a = synthetic_feeds(seed=5, n=500, interval=300, start="2024-01-01")
    b = synthetic_feeds(seed=5, n=500, interval=300, start="2024-01-01")
    c = synthetic_feeds(seed=6, n=500, interval=300, start="2024-01-01")
    for pid in PAIRS:
        for col in "tohlcvn":
            np.testing.assert_array_equal(getattr(a[pid], col), getattr(b[pid], col))
        assert not np.array_equal(a[pid].c, c[pid].c)
    assert not np.array_equal(a["XXBTZUSD"].c / 30_000.0, a["XETHZUSD"].c / 2_000.0)  # pairs move on their own


def test_synthetic_feeds_when_built_then_valid_bars_from_the_pair_start_prices_on_the_pair_ticks():
    feeds = synthetic_feeds(seed=1, n=5000, interval=60, start="2024-01-01")
    for pid, start_price in {"XXBTZUSD": 30_000.0, "XETHZUSD": 2_000.0}.items():
        f, decimals = feeds[pid], PAIRS[pid]["pair_decimals"]
        assert f.o[0] == start_price and f.interval == 60
        assert f.t[0] == pd.Timestamp("2024-01-01", tz="UTC").timestamp() and (np.diff(f.t) == 60).all()
        np.testing.assert_array_equal(f.o[1:], f.c[:-1])  # open = previous close
        assert (f.h >= np.maximum(f.o, f.c)).all() and (f.l <= np.minimum(f.o, f.c)).all() and (f.l > 0).all()
        np.testing.assert_allclose(f.c, np.round(f.c, decimals), rtol=0, atol=1e-9)
        assert (f.v > 0).all() and (f.n >= 1).all()
        moves = np.diff(np.log(f.c))
        assert 0 < moves.std() < 0.01 and len(np.unique(f.c)) > 1000  # it moves, at 1m scale


def _bars(n=5, **override):
    idx = pd.date_range("2024-01-01", periods=n, freq="1h", tz="UTC")
    frame = pd.DataFrame({"open": 100.0, "high": 101.0, "low": 99.0, "close": 100.5, "volume": 3.0}, index=idx)
    for col, (row, value) in override.items():
        frame.iloc[row, frame.columns.get_loc(col)] = value
    return frame


def test_feed_from_frame_when_any_ohlc_frame_then_replayed_without_volume_or_trades():
    frame = _bars().drop(columns="volume")
    feed = Feed.from_frame(frame)
    assert feed.interval == 3600 and list(feed.c) == [100.5] * 5 and (feed.v == 0).all() and (feed.n == 1).all()
    ex = SimExchange(feeds={"XXBTZUSD": feed}, start=float(feed.t[2]))
    assert ex.call("Ticker", pair="XBTUSD")["error"] == [] and ex.quote("XXBTZUSD")[2] == pytest.approx(100.0)


@pytest.mark.parametrize("frame, message", [
    (_bars(1), "at least 2"),
    (_bars().reset_index(drop=True), "expected a DatetimeIndex"),
    (_bars().drop(columns="low"), "no low column"),
    (_bars().iloc[[0, 2, 1, 3]], "not strictly increasing at row 2"),
    (pd.concat([_bars(3), _bars(3).iloc[2:]]), "not strictly increasing at row 3"),
    (_bars(close=(3, float("nan"))), "close at 2024-01-01 03:00:00+00:00 is nan"),
    (_bars(low=(1, 0.0)), "low at 2024-01-01 01:00:00+00:00 is 0.0: expected a positive finite price"),
    (_bars(high=(4, float("inf"))), "high at 2024-01-01 04:00:00+00:00 is inf"),
])
def test_feed_from_frame_when_bars_are_invalid_then_data_error_names_what_is_wrong(frame, message):
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace("+", r"\+")):
        Feed.from_frame(frame)
