"""Pandas-facing backtests: ``from_signals`` and ``run``. Inputs are validated and converted here,
the kernels in ``nb.py`` do the work, and the results get their index back in one place."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from peaktrade.backtest import nb
from peaktrade.backtest.options import OPTION_NAMES, BacktestOptions, options_source, strategy_options
from peaktrade.backtest.result import BacktestResult, trades_frame
from peaktrade.backtest.stats import close_days
from peaktrade.errors import BacktestError
from peaktrade.strategies.base import STOP_PARAMS, Prices, Strategy, prices_from_bars, signal_arrays
from peaktrade.strategies.registry import get_strategy

if TYPE_CHECKING:
    from peaktrade.config import Config


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
    prices = ("open", "high", "low", "close")
    if all(bars[c].dtype == np.float64 and np.isfinite(bars[c].to_numpy()).all() for c in prices):
        return  # the common case, column by column: no copy of the four columns
    vals = bars[list(prices)].to_numpy(dtype=np.float64)
    if not np.isfinite(vals).all():
        bad = bars.index[~np.isfinite(vals).all(axis=1)][0]
        raise BacktestError(f"{name} has a non-finite price at {bad}: expected finite OHLC")


def _simulate(bars: pd.DataFrame, prices: Prices, entries: np.ndarray, exits: np.ndarray,
              options: BacktestOptions, source: str, **meta: Any) -> BacktestResult:
    equity, cash, pos, records, _ = nb.simulate_nb(
        entries, exits, prices.open, prices.high, prices.low, prices.close, close_days(bars.index),
        options.kernel_params(), options.size_fraction(prices, bars.index)
    )
    idx = bars.index
    return BacktestResult(
        bars=bars,
        equity=pd.Series(equity, index=idx, name="equity"),
        cash=pd.Series(cash, index=idx, name="cash"),
        positions=pd.Series(pos, index=idx, name="position"),
        trades=trades_frame(records, idx, execution=options.execution),
        entries=pd.Series(entries, index=idx, name="entries"),
        exits=pd.Series(exits, index=idx, name="exits"),
        init_cash=options.init_cash,
        options=options.to_dict(),
        options_source=source,
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
        Backtest options (:class:`~peaktrade.backtest.options.BacktestOptions`), keyword-only: ``init_cash`` (10,000), ``fees`` (proportional per side),
        ``fixed_fees`` (per order), ``slippage`` (proportional), ``execution`` ("next_open" or
        "close"), ``direction`` ("long", "short", "both"), ``size`` and ``size_type`` ("percent" of
        equity, fixed "value" notional, or "vol_target" with ``size`` the annual volatility target
        and ``vol_window`` bars), ``sl_stop``, ``tp_stop``, ``sl_trail`` (fractions of price),
        ``stop_priority`` ("sl" pessimistic default, or "tp"). This low-level primitive starts from the
        built-in defaults (no costs); :func:`run`, ``sweep`` and walk-forward start from the config.
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
                     _as_bool("exits", exits, bars.index), BacktestOptions.parse(**options),
                     options_source(None, options))


def split_params(strategy: Strategy, params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split keyword arguments into (signal parameters, stops)."""
    sig = {k: v for k, v in params.items() if k not in STOP_PARAMS or k in strategy.param_names}
    stops = {k: params.get(k, strategy.stop_defaults.get(k)) for k in STOP_PARAMS}
    return sig, {k: v for k, v in stops.items() if v is not None}


def resolve_params(strategy: Strategy, params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return (validated signal parameters, stops) from strategy keywords.

    Stops come from the keywords, else the strategy's ``stop_defaults``; a strategy that declares
    ``sl_stop``/``tp_stop``/``sl_trail`` as parameters gets them validated like any parameter.
    """
    sig, stops = split_params(strategy, params)
    resolved = strategy.resolve(sig)
    stops.update({k: resolved[k] for k in STOP_PARAMS if k in resolved})
    return resolved, stops


def pop_options(kwargs: dict[str, Any], config: Config | None = None, *,
                strategy: Strategy | None = None) -> tuple[BacktestOptions, str]:
    """Remove the backtest options (not the stops: those are strategy parameters) from mixed keyword
    arguments; return them on top of the config's ``[backtest]`` defaults, and where they came from.

    ``config`` None loads the project's config as the CLI does (``$PEAK_TRADE_CONFIG_PATH``, else the
    project's ``config/config.toml``, else the built-in defaults): ``run(...)`` in a notebook and
    ``peaktrade backtest`` then trade with the same costs. A ``strategy`` that declares its direction
    sets it unless given (see :func:`~peaktrade.backtest.options.strategy_options`).
    """
    from peaktrade.config import Config, load_config

    given = {k: kwargs.pop(k) for k in list(kwargs) if k in OPTION_NAMES and k not in STOP_PARAMS}
    if config is None:
        config = load_config()
    elif not isinstance(config, Config):
        raise BacktestError(f"config is a {type(config).__name__}: expected a peaktrade Config (load_config()) or None")
    merged, note = strategy_options(strategy, given)
    return BacktestOptions.from_config(config, **merged), options_source(config, given) + note


def run(strategy: str | Strategy, bars: pd.DataFrame, *, config: Config | None = None,
        **kwargs: Any) -> BacktestResult:
    """Backtest a strategy on bars.

    Keyword arguments are either backtest options (see :func:`from_signals`) or the strategy's
    parameters by name, e.g. ``run("ma_crossover", bars, fees=0.0026, fast=20, slow=100)``. Options
    not given come from ``config``'s ``[backtest]`` section (default: the project's config, the one
    ``peaktrade backtest`` reads); ``result.options_source`` says which, ``result.costs`` states them.
    """
    strat = get_strategy(strategy)
    check_bars(bars)
    opts, source = pop_options(kwargs, config, strategy=strat)
    resolved, stops = resolve_params(strat, kwargs)
    prices = prices_from_bars(bars if "volume" in bars else bars.assign(volume=0.0))
    entries, exits = signal_arrays(strat, prices, resolved)
    return _simulate(bars, prices, entries, exits, opts.replace(**stops), source,
                     params={**resolved, **stops}, strategy=strat.name)
