"""Shared pieces of the benchmarks: paths, data loading, grids, the two pipelines, memory probes.

Only the standard library is imported at module level, because the cold-start worker imports this
module before it times ``import peaktrade.backtest``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
#: Real Kraken hourly bars, shared next to the repository (never shipped with it).
DATA_FILE = REPO_ROOT.parent / "shared" / "data" / "kraken" / "XBTUSD_60.csv.gz"

FEES = 0.0026
INIT_CASH = 10_000.0
QUICK_BARS = 8_760  # --quick: the last year of hourly bars

# (a) the product's reference sweep: 50 fast × 40 slow = 2,000 combinations
GRID_A = (range(5, 55), range(60, 260, 5))
QUICK_GRID_A = (range(5, 55, 5), range(60, 260, 10))  # 10 × 20 = 200

# (b) one backtest
SINGLE = {"fast": 20, "slow": 100}

# (d) scaling grids (fast × slow, every fast < every slow, SMA): name -> (fast, slow)
SCALE_GRIDS = {
    1_000: (range(5, 55), range(60, 260, 10)),  # 50 × 20
    10_000: (range(5, 105), range(110, 610, 5)),  # 100 × 100
    100_000: (range(2, 402), range(410, 1410, 4)),  # 400 × 250
}
QUICK_SCALE_SIZES = (1_000, 10_000)


# --------------------------------------------------------------------------------------------
# data


def _check_bars(bars: Any) -> None:
    import pandas as pd

    if not isinstance(bars, pd.DataFrame) or not isinstance(bars.index, pd.DatetimeIndex):
        raise TypeError("expected a DataFrame on a DatetimeIndex")
    missing = [c for c in ("open", "high", "low", "close") if c not in bars]
    if missing:
        raise ValueError(f"missing columns {missing}")


def _read_with_pandas(path: Path):
    import numpy as np
    import pandas as pd

    cols = ["time", "open", "high", "low", "close", "volume", "trades"]
    raw = pd.read_csv(path, header=None, names=cols)
    idx = pd.DatetimeIndex(pd.to_datetime(raw.pop("time").to_numpy(), unit="s", utc=True), name="time")
    return pd.DataFrame(raw.to_numpy(dtype=np.float64), index=idx, columns=cols[1:])


def load_bars(path: Path, last: int | None = None) -> tuple[Any, dict[str, Any]]:
    """Load Kraken OHLCVT bars (peaktrade's reader when it works, else pandas); keep the ``last`` bars."""
    t0 = time.perf_counter()
    loader = "peaktrade.data.read_kraken_ohlcvt"
    try:
        from peaktrade.data import read_kraken_ohlcvt

        bars = read_kraken_ohlcvt(path)
        _check_bars(bars)
    except Exception as exc:  # noqa: BLE001  (any failure of the reader: fall back, and say why)
        loader = f"pandas.read_csv (peaktrade reader unavailable: {type(exc).__name__}: {exc})"
        bars = _read_with_pandas(path)
    seconds = time.perf_counter() - t0
    if last is not None and last < len(bars):
        bars = bars.iloc[-last:].copy()
    info = {
        "file": str(path),
        "loader": loader,
        "load_seconds": seconds,
        "n_bars": len(bars),
        "first": str(bars.index[0]),
        "last": str(bars.index[-1]),
    }
    return bars, info


# --------------------------------------------------------------------------------------------
# the two pipelines (each returns plain numpy arrays plus phase timings)


def pairs_of(fast, slow) -> tuple[list[int], list[int]]:
    """Column k pairs fast_list[k] with slow_list[k]: fast-major, like itertools.product(fast, slow)."""
    fast_list = [int(f) for f in fast for _ in slow]
    slow_list = [int(s) for _ in fast for s in slow]
    return fast_list, slow_list


#: (e) the same grid with protective stops: a 5 % trailing stop-loss and a 10 % take-profit. peaktrade's
#: sl_stop and sl_trail at the same distance give the trailing level (it never lies below the fixed one),
#: which is vectorbt's sl_stop with sl_trail=True.
STOPS_PT = {"sl_stop": 0.05, "sl_trail": 0.05, "tp_stop": 0.10}
STOPS_VBT = {"sl_stop": 0.05, "sl_trail": True, "tp_stop": 0.10}


def pt_sweep(bars, fast, slow, stops: dict[str, float] | None = None) -> dict[str, Any]:
    """peaktrade: fused sweep; the table already holds total_return and n_trades."""
    import numpy as np

    from peaktrade.backtest import sweep

    t0 = time.perf_counter()
    # slippage pinned to 0 (vectorbt's default): the project's config adds 0.05 % otherwise
    res = sweep("ma_crossover", bars, fast=fast, slow=slow, fees=FEES, slippage=0.0, init_cash=INIT_CASH,
                execution="close", progress=False, **(stops or {}))
    tab = res.table
    out = {
        "fast": tab["fast"].to_numpy(dtype=np.int64),
        "slow": tab["slow"].to_numpy(dtype=np.int64),
        "total_return": tab["total_return"].to_numpy(dtype=np.float64),
        "n_trades": tab["n_trades"].to_numpy(dtype=np.float64),
    }
    out["phases"] = {"total": time.perf_counter() - t0}
    return out


def vbt_sweep(close, fast_list, slow_list, bars=None, stops: dict[str, Any] | None = None) -> dict[str, Any]:
    """vectorbt's documented idiom: MA.run per side, crossed_above/below, from_signals, metrics
    (with ``stops``: from_signals(sl_stop=, sl_trail=, tp_stop=) on the bars' open/high/low too)."""
    import numpy as np
    import vectorbt as vbt

    extra: dict[str, Any] = {}
    if stops:
        extra = {**stops, "open": bars["open"], "high": bars["high"], "low": bars["low"]}
    t0 = time.perf_counter()
    fast_ma = vbt.MA.run(close, window=list(fast_list), short_name="fast")
    slow_ma = vbt.MA.run(close, window=list(slow_list), short_name="slow")
    entries = fast_ma.ma_crossed_above(slow_ma)
    exits = fast_ma.ma_crossed_below(slow_ma)
    t1 = time.perf_counter()
    pf = vbt.Portfolio.from_signals(close, entries, exits, fees=FEES, init_cash=INIT_CASH, freq="1h", **extra)
    t2 = time.perf_counter()
    total_return = pf.total_return()
    n_trades = pf.trades.count()
    t3 = time.perf_counter()
    cols = total_return.index
    out = {
        "fast": np.asarray(cols.get_level_values("fast_window"), dtype=np.int64),
        "slow": np.asarray(cols.get_level_values("slow_window"), dtype=np.int64),
        "total_return": total_return.to_numpy(dtype=np.float64),
        "n_trades": n_trades.to_numpy(dtype=np.float64),
        "phases": {"indicators_signals": t1 - t0, "simulation": t2 - t1, "metrics": t3 - t2, "total": t3 - t0},
    }
    return out


def pt_warmup(bars) -> None:
    pt_sweep(bars.iloc[:2_000], [5, 6], [20])


def vbt_warmup(close) -> None:
    vbt_sweep(close.iloc[:2_000], [5, 5, 6, 6], [20, 30, 20, 30])


# --------------------------------------------------------------------------------------------
# parity at exact ties: a mismatch between the two sides' MA-crossover rows is explained when the
# published prices' SMAs tie exactly there, vectorbt's prefix-sum SMA breaks the tie, and vectorbt
# given the exact signals gives peaktrade's row


def published_closes(path: Path, n_bars: int) -> tuple[Any, int]:
    """The last ``n_bars`` closes exactly as published (the file's decimal text) as int64 over 10**k."""
    import gzip
    from decimal import Decimal

    import numpy as np

    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt") as fh:
        dec = [Decimal(line.split(",")[4]) for line in fh]
    dec = dec[len(dec) - n_bars:]
    k = max(-d.as_tuple().exponent for d in dec)
    return np.array([int(d.scaleb(k)) for d in dec], dtype=np.int64), 10**k


def exact_ma_signals(ints, fast: int, slow: int) -> tuple[Any, Any, Any]:
    """(entries, exits, tie bars) of the SMA crossover on exact integer window sums of ``ints``, through
    peaktrade's cross detector fed the exact sign of mean(fast) − mean(slow) (no float SMA involved)."""
    import numpy as np

    from peaktrade.strategies.ma_crossover import STRATEGY

    n = len(ints)
    csum = np.concatenate([[0], np.cumsum(ints)])

    def wsum(w: int):
        out = np.zeros(n, dtype=np.int64)
        out[w - 1:] = csum[w:] - csum[:-w]
        return out

    d = np.sign(wsum(fast) * slow - wsum(slow) * fast).astype(np.float64)
    d[:slow - 1] = np.nan
    ind = np.ascontiguousarray(np.vstack([d, np.where(np.isnan(d), np.nan, 0.0)]))
    entries, exits = np.zeros(n, dtype=np.bool_), np.zeros(n, dtype=np.bool_)
    STRATEGY.signal_nb(ind, np.array([0, 1]), np.zeros(1), np.zeros(STRATEGY.n_state), 0, n, entries, exits)
    return entries, exits, np.flatnonzero(d == 0.0)


def explain_mismatch(bars, ints, fast: int, slow: int, pt_total_return: float, pt_n_trades: float) -> dict[str, Any]:
    """Check one mismatching combination against exact arithmetic on the published prices: are peaktrade's
    signals the exact ones, do vectorbt's own signals differ only at exact ties (the tie bar or the next),
    and does vectorbt given the exact signals give peaktrade's total return (1e-9) and trade count?"""
    import numpy as np
    import vectorbt as vbt

    from peaktrade.strategies.registry import generate_signals

    close = bars["close"]
    want_e, want_x, ties = exact_ma_signals(ints, fast, slow)
    pe, px = generate_signals("ma_crossover", bars, fast=fast, slow=slow, kind="sma")
    fma = vbt.MA.run(close, fast)
    sma = vbt.MA.run(close, slow)
    ve, vx = fma.ma_crossed_above(sma).to_numpy(), fma.ma_crossed_below(sma).to_numpy()
    differ = np.flatnonzero((ve != want_e) | (vx != want_x))
    pf = vbt.Portfolio.from_signals(close, want_e, want_x, fees=FEES, init_cash=INIT_CASH, freq="1h")
    tr = float(pf.total_return())
    out = {
        "fast": fast, "slow": slow,
        "peaktrade_signals_exact": bool((pe.to_numpy() == want_e).all() and (px.to_numpy() == want_x).all()),
        "vbt_signal_bars_off": differ[:5].tolist(),
        "vbt_differs_only_at_exact_ties": bool(differ.size and np.isin(differ, np.r_[ties, ties + 1]).all()),
        "vbt_given_exact_signals_total_return": tr,
        "vbt_given_exact_signals_equal": bool(abs(tr - pt_total_return) <= 1e-9 * abs(tr)
                                              and float(pf.trades.count()) == pt_n_trades),
    }
    out["explained"] = (out["peaktrade_signals_exact"] and out["vbt_differs_only_at_exact_ties"]
                        and out["vbt_given_exact_signals_equal"])
    return out


#: vectorbt's resident bytes per (bar × combination) for this pipeline, measured on this data
#: (≈ 7.7 GB peak at 2,000 × 70,253); used only to decide whether the full run fits.
VBT_BYTES_PER_CELL = 60
VBT_FIXED_BYTES = 800e6


def vbt_estimate_bytes(n_bars: int, n_combos: int) -> float:
    return VBT_FIXED_BYTES + VBT_BYTES_PER_CELL * n_bars * n_combos


# --------------------------------------------------------------------------------------------
# memory probes (Linux /proc; no psutil)


def status_kb(*keys: str) -> dict[str, int]:
    """Return the given ``/proc/self/status`` fields (e.g. VmHWM, VmRSS) in kB (missing: -1)."""
    out = dict.fromkeys(keys, -1)
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                name, _, rest = line.partition(":")
                if name in out:
                    out[name] = int(rest.split()[0])
    except OSError:
        pass
    return out


def reset_hwm() -> bool:
    """Reset this process's peak RSS (VmHWM) to its current RSS; False where the kernel refuses."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def mem_available_bytes() -> float:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024.0
    except OSError:
        pass
    return float("nan")


def loadavg() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []
