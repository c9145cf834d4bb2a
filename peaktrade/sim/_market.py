"""Static venue data (assets, pairs) and the replayed price feed of the simulator."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from peaktrade.errors import DataError, bad_value

#: Kraken ``Assets`` entries (the fields ccxt reads: ``decimals``, ``status``).
ASSETS: dict[str, dict[str, Any]] = {
    "XXBT": {"aclass": "currency", "altname": "XBT", "decimals": 10, "display_decimals": 5,
             "collateral_value": 1.0, "status": "enabled"},
    "XETH": {"aclass": "currency", "altname": "ETH", "decimals": 10, "display_decimals": 5,
             "collateral_value": 1.0, "status": "enabled"},
    "ZUSD": {"aclass": "currency", "altname": "USD", "decimals": 4, "display_decimals": 2,
             "collateral_value": 1.0, "status": "enabled"},
}

_FEES = [[0, 0.26], [10000, 0.24], [50000, 0.22], [100000, 0.2], [250000, 0.18], [500000, 0.16],
         [1000000, 0.14], [2500000, 0.12], [5000000, 0.1], [10000000, 0.08]]
_FEES_MAKER = [[0, 0.16], [10000, 0.14], [50000, 0.12], [100000, 0.1], [250000, 0.08], [500000, 0.06],
               [1000000, 0.04], [2500000, 0.02], [5000000, 0.0], [10000000, 0.0]]


def _pair(altname: str, wsname: str, base: str, quote: str, *, pair_decimals: int, ordermin: str,
          costmin: str, tick_size: str) -> dict[str, Any]:
    return {
        "altname": altname, "wsname": wsname, "aclass_base": "currency", "base": base,
        "aclass_quote": "currency", "quote": quote, "lot": "unit", "cost_decimals": 5,
        "pair_decimals": pair_decimals, "lot_decimals": 8, "lot_multiplier": 1,
        "leverage_buy": [2, 3, 4, 5], "leverage_sell": [2, 3, 4, 5],
        "fees": [list(x) for x in _FEES], "fees_maker": [list(x) for x in _FEES_MAKER],
        "fee_volume_currency": "ZUSD", "margin_call": 80, "margin_stop": 40,
        "ordermin": ordermin, "costmin": costmin, "tick_size": tick_size, "status": "online",
        "long_position_limit": 250, "short_position_limit": 200,
    }


#: Kraken ``AssetPairs`` entries keyed by pair id (values as in Kraken's spec example).
PAIRS: dict[str, dict[str, Any]] = {
    "XXBTZUSD": _pair("XBTUSD", "XBT/USD", "XXBT", "ZUSD", pair_decimals=1, ordermin="0.0001",
                      costmin="0.5", tick_size="0.1"),
    "XETHZUSD": _pair("ETHUSD", "ETH/USD", "XETH", "ZUSD", pair_decimals=2, ordermin="0.002",
                      costmin="0.5", tick_size="0.01"),
}

#: unified symbol → pair id (what the CLI and the Python API accept besides ids and altnames)
SYMBOLS = {"BTC/USD": "XXBTZUSD", "ETH/USD": "XETHZUSD"}
#: first price of the synthetic series of each pair
START_PRICES = {"XXBTZUSD": 30_000.0, "XETHZUSD": 2_000.0}


def resolve_pair(name: str) -> str | None:
    """Return the pair id for an id, altname, wsname or unified symbol (None when unknown)."""
    if name in PAIRS:
        return name
    if name in SYMBOLS:
        return SYMBOLS[name]
    for pid, p in PAIRS.items():
        if name in (p["altname"], p["wsname"]):
            return pid
    return None


@dataclass
class Feed:
    """Bars of one pair as arrays: open time (unix s), OHLC, volume, trade count."""

    t: np.ndarray
    o: np.ndarray
    h: np.ndarray
    l: np.ndarray  # noqa: E741
    c: np.ndarray
    v: np.ndarray
    n: np.ndarray
    interval: int  # seconds

    @classmethod
    def from_frame(cls, bars: pd.DataFrame) -> Feed:
        """Build a feed from any OHLC(V) frame indexed by bar open times (UTC; naive times are read as UTC).

        ``volume`` is optional (zero when absent); ``trades`` is optional (derived from volume). Raises
        :class:`~peaktrade.errors.DataError` naming what is wrong: fewer than 2 rows, an index that is not a
        DatetimeIndex or not strictly increasing (sorted, no duplicates), a missing price column, or a price
        that is not positive and finite.
        """
        if not isinstance(bars, pd.DataFrame):
            raise DataError(bad_value("bars", type(bars).__name__, "a DataFrame of OHLC(V) bars"))
        if len(bars) < 2:
            raise DataError(f"bars has {len(bars)} rows: the simulator needs at least 2")
        if not isinstance(bars.index, pd.DatetimeIndex):
            raise DataError(f"bars index is a {type(bars.index).__name__}: expected a DatetimeIndex of bar open "
                            "times (UTC)")
        missing = [c for c in ("open", "high", "low", "close") if c not in bars.columns]
        if missing:
            raise DataError(f"bars has no {', '.join(missing)} column(s): expected open, high, low, close "
                            "(volume and trades optional)")
        # any resolution (pandas 3 builds microsecond indexes); tz-aware values are UTC instants already
        t = (bars.index.as_unit("ns").asi8 // 10**9).astype(np.int64)
        diffs = np.diff(t)
        if (diffs <= 0).any():
            k = int(np.flatnonzero(diffs <= 0)[0]) + 1
            raise DataError(f"bars index is not strictly increasing at row {k} ({bars.index[k]} after "
                            f"{bars.index[k - 1]}): expected sorted, unique open times")
        prices = {c: bars[c].to_numpy(dtype=np.float64) for c in ("open", "high", "low", "close")}
        for col, x in prices.items():
            bad = ~(np.isfinite(x) & (x > 0))
            if bad.any():
                k = int(np.flatnonzero(bad)[0])
                raise DataError(f"bars {col} at {bars.index[k]} is {float(x[k])!r}: expected a positive finite price")
        v = (bars["volume"].to_numpy(dtype=np.float64) if "volume" in bars.columns
             else np.zeros(len(bars), dtype=np.float64))
        n = (bars["trades"].to_numpy(dtype=np.int64) if "trades" in bars.columns
             else np.maximum(1, (v * 10).astype(np.int64)))
        return cls(t, prices["open"], prices["high"], prices["low"], prices["close"], v, n, int(np.min(diffs)))

    @property
    def end(self) -> float:
        """Last instant covered by the bars (just before the last bar closes)."""
        return float(self.t[-1] + self.interval) - 1e-3

    def index_at(self, ts: float) -> int:
        """Index of the bar containing ``ts`` (clamped to the data)."""
        i = int(np.searchsorted(self.t, ts, side="right")) - 1
        return min(max(i, 0), len(self.t) - 1)

    def price_at(self, ts: float) -> float:
        """Price at ``ts``: a straight path from the bar's open to its close."""
        i = self.index_at(ts)
        if ts < self.t[0]:
            return float(self.o[0])
        frac = min(1.0, max(0.0, (ts - self.t[i]) / self.interval))
        return float(self.o[i] + (self.c[i] - self.o[i]) * frac)

    def range_between(self, t0: float, t1: float) -> tuple[float, float]:
        """Lowest and highest price the path touched in ``[t0, t1]``."""
        p0, p1 = self.price_at(t0), self.price_at(t1)
        i0, i1 = self.index_at(t0), self.index_at(t1)
        lo, hi = min(p0, p1), max(p0, p1)
        if i1 > i0:
            lo = min(lo, self.c[i0], self.o[i1])
            hi = max(hi, self.c[i0], self.o[i1])
            if i1 > i0 + 1:
                lo = min(lo, float(self.l[i0 + 1:i1].min()))
                hi = max(hi, float(self.h[i0 + 1:i1].max()))
        return float(lo), float(hi)

    def ohlc(self, now: float, interval: int, since: int | None, limit: int = 720):
        """Return Kraken OHLC rows (last one in progress) and ``last`` at ``now`` for ``interval`` s."""
        i = self.index_at(now)
        frac = min(1.0, max(0.0, (now - self.t[i]) / self.interval))
        p = self.price_at(now)
        cur_bucket = int(self.t[i] // interval * interval)
        first_bucket = cur_bucket - (limit - 1) * interval
        j0 = int(np.searchsorted(self.t, first_bucket, side="left"))
        sl = slice(j0, i + 1)
        t, o, h, lo, c = self.t[sl], self.o[sl].copy(), self.h[sl].copy(), self.l[sl].copy(), self.c[sl].copy()
        v, n = self.v[sl].copy(), self.n[sl].copy()
        # the current base bar is unfinished: its path so far
        h[-1], lo[-1], c[-1] = max(o[-1], p), min(o[-1], p), p
        v[-1] = v[-1] * frac
        n[-1] = int(round(n[-1] * frac))
        buckets = t // interval * interval
        starts = np.flatnonzero(np.r_[True, buckets[1:] != buckets[:-1]])
        ends = np.r_[starts[1:], len(t)] - 1
        bo, bc = o[starts], c[ends]
        bh, bl = np.maximum.reduceat(h, starts), np.minimum.reduceat(lo, starts)
        bv, bn = np.add.reduceat(v, starts), np.add.reduceat(n, starts)
        typ = (h + lo + c) / 3.0
        pv = np.add.reduceat(typ * v, starts)
        bt = buckets[starts]
        rows = []
        for k in range(len(bt)):
            vw = pv[k] / bv[k] if bv[k] > 0 else (bh[k] + bl[k] + bc[k]) / 3.0
            rows.append([int(bt[k]), bo[k], bh[k], bl[k], bc[k], vw, bv[k], int(bn[k])])
        last = int(bt[-1] - interval)
        if since is not None:
            rows = [r for r in rows[:-1] if r[0] > since] + rows[-1:]
        return rows, last

    def stats_since(self, now: float, t0: float) -> dict[str, float]:
        """Volume, vwap, trades, low, high and open from ``t0`` to ``now`` (for the ticker)."""
        i = self.index_at(now)
        j = int(np.searchsorted(self.t, t0, side="left"))
        j = min(j, i)
        p = self.price_at(now)
        sl = slice(j, i + 1)
        frac = min(1.0, max(0.0, (now - self.t[i]) / self.interval))
        v = self.v[sl].copy()
        v[-1] *= frac
        h, lo = self.h[sl].copy(), self.l[sl].copy()
        h[-1], lo[-1] = max(self.o[i], p), min(self.o[i], p)
        typ = (h + lo + np.r_[self.c[j:i], p]) / 3.0
        vol = float(v.sum())
        return {"v": vol, "p": float((typ * v).sum() / vol) if vol > 0 else p,
                "t": int(self.n[j:i].sum() + round(self.n[i] * frac)),
                "l": float(lo.min()), "h": float(h.max()), "o": float(self.o[j])}


#: default synthetic series: two weeks of 1m history before "now" and 30 days after it
SYNTH_HISTORY, SYNTH_BARS = 14 * 1440, 44 * 1440
#: the venue stand-in's price process: annual volatility, fat-tailed (Student-t) returns, hourly base volume
_VOL_ANNUAL, _DOF, _VOLUME_PER_HOUR = 0.55, 4.0, 120.0
_YEAR_SECONDS = 365 * 86_400


def _synthetic_feed(rng: np.random.Generator, *, n: int, interval: int, start: int, price: float,
                    decimals: int) -> Feed:
    """One pair's seeded bars: Student-t log returns, open = previous close, prices on the pair's tick."""
    sigma = _VOL_ANNUAL * math.sqrt(interval / _YEAR_SECONDS)
    r = sigma * math.sqrt((_DOF - 2) / _DOF) * rng.standard_t(_DOF, size=n)
    tick = 10.0**-decimals
    close = np.maximum(np.round(price * np.exp(np.cumsum(r)), decimals), tick)
    open_ = np.r_[round(price, decimals), close[:-1]]
    body_hi, body_lo = np.maximum(open_, close), np.minimum(open_, close)
    high = np.maximum(np.round(body_hi * np.exp(np.abs(rng.standard_normal(n)) * 0.6 * sigma), decimals), body_hi)
    low = np.clip(np.round(body_lo * np.exp(-np.abs(rng.standard_normal(n)) * 0.6 * sigma), decimals), tick, body_lo)
    # busier bars trade more: log volume rises with the size of the move
    log_volume = (math.log(_VOLUME_PER_HOUR * interval / 3600) + 0.9 * np.log1p(np.abs(r) / sigma)
                  + 0.4 * rng.standard_normal(n))
    volume = np.round(np.exp(log_volume), 8)
    trades = np.maximum(1, np.round(volume * 6.0)).astype(np.int64)
    t = start + np.arange(n, dtype=np.int64) * interval
    return Feed(t, open_, high, low, close, volume, trades, interval)


def synthetic_feeds(*, seed: int = 0, n: int = SYNTH_BARS, interval: int = 60, start: Any = None,
                    warmup: int | None = None) -> dict[str, Feed]:
    """Seeded synthetic bars for every pair: the same arguments always give the identical feeds.

    Each pair starts at its :data:`START_PRICES` price and moves on its own tick (``pair_decimals``).
    ``interval`` is the bar length in seconds; ``start`` is the first open time (anything
    :class:`pandas.Timestamp` accepts; naive values are UTC). By default the series starts ``warmup``
    bars (default: two weeks, at most half the series) before the current wall-clock time, so that
    simulated time begins at real time with history behind it (1h OHLC has 336 rows).
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
        raise DataError(bad_value("n", n, "a whole number of bars, at least 2"))
    if isinstance(interval, bool) or not isinstance(interval, (int, np.integer)) or interval < 1:
        raise DataError(bad_value("interval", interval, "a positive whole number of seconds"))
    interval = int(interval)
    if start is None:
        warmup = min(SYNTH_HISTORY, max(int(n) // 2, 1)) if warmup is None else warmup
        first = (int(time.time()) // interval - warmup) * interval
    else:
        ts = pd.Timestamp(start)
        first = int((ts.tz_localize("UTC") if ts.tzinfo is None else ts).timestamp())
    return {pid: _synthetic_feed(np.random.default_rng(seed * 1000 + k), n=int(n), interval=interval, start=first,
                                 price=START_PRICES[pid], decimals=PAIRS[pid]["pair_decimals"])
            for k, pid in enumerate(PAIRS)}


def round_to(x: float, decimals: int) -> float:
    """Round half away from zero to ``decimals`` places (float noise removed)."""
    q = 10.0**decimals
    return math.floor(abs(x) * q + 0.5 + 1e-9) / q * (1 if x >= 0 else -1)
