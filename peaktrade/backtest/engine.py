"""Pandas-facing backtests: ``from_signals`` and ``run``. Inputs are validated and converted here,
the kernels in ``nb.py`` do the work, and the results get their index back in one place."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from peaktrade.backtest import nb
from peaktrade.backtest.enums import (
    DIRECTION,
    EXECUTION,
    SIZE_PERCENT,
    SIZE_TYPE,
    SIZE_VOL_TARGET,
    SP_N,
    SP_SIZE,
    SP_SIZE_TYPE,
    STOP_PRIORITY,
)
from peaktrade.backtest.result import BacktestResult, trades_frame
from peaktrade.backtest.stats import close_days, nominal_bars_per_year
from peaktrade.errors import BacktestError, bad_value
from peaktrade.strategies.base import SIM_PARAMS, Prices, Strategy, prices_from_bars, signal_arrays
from peaktrade.strategies.registry import get_strategy

#: Simulator options accepted by ``from_signals``, ``run`` and ``sweep`` (with their defaults).
SIM_DEFAULTS: dict[str, Any] = {
    "init_cash": 10_000.0,
    "fees": 0.0,
    "fixed_fees": 0.0,
    "slippage": 0.0,
    "execution": "next_open",
    "direction": "long",
    "size": 1.0,
    "size_type": "percent",
    "vol_window": 100,
    "sl_stop": None,
    "tp_stop": None,
    "sl_trail": None,
    "stop_priority": "sl",
}


def _choice(name: str, value: Any, table: dict[str, int]) -> int:
    if value not in table:
        raise BacktestError(bad_value(name, value, "one of " + ", ".join(repr(k) for k in table)))
    return table[value]


def _fraction(name: str, value: Any, *, upper: float = 1.0, allow_none: bool = False) -> float:
    if value is None and allow_none:
        return math.nan
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise BacktestError(bad_value(name, value, "a number")) from None
    if allow_none and math.isnan(v):
        return v
    if not (0.0 <= v < upper):
        raise BacktestError(bad_value(name, value, f"a number in [0, {upper})"))
    return v


def sim_params(**opts: Any) -> np.ndarray:
    """Validate simulator options (see :data:`SIM_DEFAULTS`) and pack them into a kernel vector."""
    o = {**SIM_DEFAULTS, **opts}
    unknown = sorted(set(opts) - set(SIM_DEFAULTS))
    if unknown:
        raise BacktestError(f"unknown option(s) {', '.join(unknown)}: expected some of {', '.join(SIM_DEFAULTS)}")
    try:
        init_cash = float(o["init_cash"])
    except (TypeError, ValueError):
        init_cash = math.nan
    if not (init_cash > 0 and math.isfinite(init_cash)):
        raise BacktestError(bad_value("init_cash", o["init_cash"], "a positive finite number"))
    fixed = float(o["fixed_fees"])
    if not (fixed >= 0 and math.isfinite(fixed)):
        raise BacktestError(bad_value("fixed_fees", o["fixed_fees"], "a non-negative number"))
    size_type = _choice("size_type", o["size_type"], SIZE_TYPE)
    size = float(o["size"])
    if not (size > 0 and math.isfinite(size)) or (size_type == SIZE_PERCENT and size > 1.0):
        expected = "a fraction in (0, 1]" if size_type == SIZE_PERCENT else "a positive number"
        raise BacktestError(bad_value("size", o["size"], expected))
    sp = np.empty(SP_N)
    sp[:] = [
        init_cash,
        _fraction("fees", o["fees"]),
        fixed,
        _fraction("slippage", o["slippage"]),
        _choice("execution", o["execution"], EXECUTION),
        _choice("direction", o["direction"], DIRECTION),
        size_type,
        size,
        _fraction("sl_stop", o["sl_stop"], allow_none=True),
        _fraction("tp_stop", o["tp_stop"], upper=math.inf, allow_none=True),
        _fraction("sl_trail", o["sl_trail"], allow_none=True),
        _choice("stop_priority", o["stop_priority"], STOP_PRIORITY),
    ]
    return sp


def size_fraction(prices: Prices, index: pd.DatetimeIndex, sp: np.ndarray, vol_window: Any) -> np.ndarray:
    """Return the per-bar size fraction the kernel reads for vol targeting (else a dummy)."""
    if int(sp[SP_SIZE_TYPE]) != SIZE_VOL_TARGET:
        return np.ones(1)
    if not isinstance(vol_window, (int, np.integer)) or vol_window < 2:
        raise BacktestError(bad_value("vol_window", vol_window, "an integer >= 2"))
    # the nominal factor, not the observed one: the observed count depends on the whole data set,
    # which a size decided at bar t must not read
    ann = nominal_bars_per_year(index)
    return nb.vol_target_frac_nb(prices.close, int(vol_window), float(sp[SP_SIZE]), ann, 1.0)


def _as_bool(name: str, s: Any, index: pd.Index) -> np.ndarray:
    if len(s) != len(index):
        raise BacktestError(f"{name} has {len(s)} rows: expected {len(index)} (one per bar)")
    arr = pd.Series(s, index=index) if not isinstance(s, pd.Series) else s
    if arr.isna().any():
        raise BacktestError(f"{name} contains NaN at {arr[arr.isna()].index[0]}: expected booleans")
    return np.ascontiguousarray(arr.to_numpy(dtype=np.bool_))


def check_bars(bars: pd.DataFrame, name: str = "bars") -> None:
    if not isinstance(bars, pd.DataFrame):
        raise BacktestError(f"{name} is a {type(bars).__name__}: expected a bars DataFrame")
    missing = [c for c in ("open", "high", "low", "close") if c not in bars]
    if missing:
        raise BacktestError(f"{name} lacks column(s) {', '.join(missing)}: expected open, high, low, close")
    if not isinstance(bars.index, pd.DatetimeIndex):
        raise BacktestError(f"{name} index is a {type(bars.index).__name__}: expected a DatetimeIndex")
    if len(bars) < 2:
        raise BacktestError(f"{name} has {len(bars)} row(s): expected at least 2")
    if not bars.index.is_monotonic_increasing or bars.index.has_duplicates:
        raise BacktestError(f"{name} index is not sorted and unique")
    vals = bars[["open", "high", "low", "close"]].to_numpy(dtype=np.float64)
    if not np.isfinite(vals).all():
        bad = bars.index[~np.isfinite(vals).all(axis=1)][0]
        raise BacktestError(f"{name} has a non-finite price at {bad}: expected finite OHLC")


def _simulate(bars: pd.DataFrame, prices: Prices, entries: np.ndarray, exits: np.ndarray,
              opts: dict[str, Any], **meta: Any) -> BacktestResult:
    sp = sim_params(**opts)
    frac = size_fraction(prices, bars.index, sp, opts.get("vol_window", SIM_DEFAULTS["vol_window"]))
    equity, cash, pos, records, _ = nb.simulate_nb(
        entries, exits, prices.open, prices.high, prices.low, prices.close, close_days(bars.index), sp, frac
    )
    idx = bars.index
    return BacktestResult(
        bars=bars,
        equity=pd.Series(equity, index=idx, name="equity"),
        cash=pd.Series(cash, index=idx, name="cash"),
        positions=pd.Series(pos, index=idx, name="position"),
        trades=trades_frame(records, idx, execution=opts.get("execution", SIM_DEFAULTS["execution"])),
        entries=pd.Series(entries, index=idx, name="entries"),
        exits=pd.Series(exits, index=idx, name="exits"),
        init_cash=float(sp[0]),
        options={**SIM_DEFAULTS, **opts},
        **meta,
    )


def from_signals(
    close: pd.Series,
    entries: pd.Series,
    exits: pd.Series,
    *,
    open: pd.Series | None = None,  # noqa: A002  (the bar's open, as in OHLC)
    high: pd.Series | None = None,
    low: pd.Series | None = None,
    **options: Any,
) -> BacktestResult:
    """Backtest precomputed entry/exit signals.

    Parameters
    ----------
    close
        Close prices on a DatetimeIndex.
    entries, exits
        Boolean signals aligned with ``close``; a signal on bar t is computed from data up to t's close.
    open, high, low
        Optional bar prices. Without ``open`` the previous close stands in for it; without
        ``high``/``low`` the bar's open/close envelope does (stops then only see closes and opens).
    **options
        Simulator options, keyword-only: ``init_cash`` (10,000), ``fees`` (proportional per side),
        ``fixed_fees`` (per order), ``slippage`` (proportional), ``execution`` ("next_open" or
        "close"), ``direction`` ("long", "short", "both"), ``size`` and ``size_type`` ("percent" of
        equity, fixed "value" notional, or "vol_target" with ``size`` the annual volatility target
        and ``vol_window`` bars), ``sl_stop``, ``tp_stop``, ``sl_trail`` (fractions of price),
        ``stop_priority`` ("sl" pessimistic default, or "tp").
    """
    if not isinstance(close, pd.Series):
        raise BacktestError(f"close is a {type(close).__name__}: expected a pandas Series")
    c = close.astype(np.float64)
    o = open.astype(np.float64) if open is not None else c.shift(1).fillna(c.iloc[0] if len(c) else np.nan)
    h = high.astype(np.float64) if high is not None else np.maximum(o, c)
    lo = low.astype(np.float64) if low is not None else np.minimum(o, c)
    bars = pd.DataFrame({"open": o, "high": h, "low": lo, "close": c, "volume": 0.0}, index=close.index)
    check_bars(bars, "close")
    prices = prices_from_bars(bars)
    return _simulate(bars, prices, _as_bool("entries", entries, bars.index),
                     _as_bool("exits", exits, bars.index), options)


def split_params(strategy: Strategy, params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split keyword arguments into (signal parameters, simulator stop parameters)."""
    sig = {k: v for k, v in params.items() if k not in SIM_PARAMS or k in strategy.param_names}
    stops = {k: params.get(k, strategy.sim_defaults.get(k)) for k in SIM_PARAMS}
    return sig, {k: v for k, v in stops.items() if v is not None}


def resolve_params(strategy: Strategy, params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return (validated signal parameters, stops) from strategy keywords.

    Stops come from the keywords, else the strategy's ``sim_defaults``; a strategy that declares
    ``sl_stop``/``tp_stop``/``sl_trail`` as parameters gets them validated like any parameter.
    """
    sig, stops = split_params(strategy, params)
    resolved = strategy.resolve(sig)
    stops.update({k: resolved[k] for k in SIM_PARAMS if k in resolved})
    return resolved, stops


def pop_options(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Remove and return the simulator options (not the stops) from mixed keyword arguments."""
    return {k: kwargs.pop(k) for k in list(kwargs) if k in SIM_DEFAULTS and k not in SIM_PARAMS}


def run(strategy: str | Strategy, bars: pd.DataFrame, **kwargs: Any) -> BacktestResult:
    """Backtest a library strategy on bars.

    Keyword arguments are either simulator options (see :func:`from_signals`) or the strategy's
    parameters by name, e.g. ``run("ma_crossover", bars, fees=0.0026, fast=20, slow=100)``.
    """
    strat = get_strategy(strategy)
    check_bars(bars)
    opts = pop_options(kwargs)
    resolved, stops = resolve_params(strat, kwargs)
    prices = prices_from_bars(bars if "volume" in bars else bars.assign(volume=0.0))
    entries, exits = signal_arrays(strat, prices, resolved)
    return _simulate(bars, prices, entries, exits, {**opts, **stops},
                     params={**resolved, **stops}, strategy=strat.name)
