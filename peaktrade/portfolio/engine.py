"""``run_portfolio``: the pandas layer of the multi-asset simulation (alignment, schedules, allocation,
gating), around the kernel in :mod:`peaktrade.portfolio.nb`.

Missing-bar policy (the union of the symbols' UTC indexes is the portfolio's clock): a symbol without
a bar at a time is valued at its last close (carried forward) and is never traded there; before its
first bar it is not listed (no weight, no value).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from peaktrade.backtest.engine import check_bars, pop_options, resolve_params
from peaktrade.backtest.stats import nominal_bars_per_year
from peaktrade.errors import BacktestError, bad_value
from peaktrade.portfolio import nb
from peaktrade.portfolio.alloc import Allocation, compute_weights
from peaktrade.portfolio.result import PortfolioResult

if TYPE_CHECKING:
    from peaktrade.config import Config

#: Calendar rebalance rules: the first bar at or after each period's start (UTC; weeks start Monday 00:00).
CALENDAR = ("1D", "1W", "1M")
REBALANCE = (*CALENDAR, "drift", "signal", "none")
MODES = ("shared", "sleeves")
_ALLOC_KEYS = ("weights", "lookback", "min_periods", "target_vol", "max_leverage", "base")


@dataclass(frozen=True)
class Aligned:
    """Bars of several symbols on the union of their indexes: (n, m) arrays, NaN where a symbol has no bar."""

    index: pd.DatetimeIndex
    symbols: list[str]
    open: np.ndarray
    close: np.ndarray
    present: np.ndarray  # (n, m) bool: the symbol has a bar here

    @property
    def close_ffill(self) -> np.ndarray:
        """Closes carried forward over missing bars (NaN before a symbol's first bar)."""
        return pd.DataFrame(self.close).ffill().to_numpy()

    @property
    def listed(self) -> np.ndarray:
        """(n, m) bool: the symbol has had a bar at or before this one."""
        return np.maximum.accumulate(self.present, axis=0)

    def returns(self) -> np.ndarray:
        """Close-to-close returns ending at each bar (NaN unless the symbol has this bar and an earlier one)."""
        cf = self.close_ffill
        prev = np.vstack([np.full((1, cf.shape[1]), np.nan), cf[:-1]])
        with np.errstate(invalid="ignore", divide="ignore"):
            r = self.close / prev - 1.0
        return np.where(self.present, r, np.nan)


def align_bars(bars: dict[str, pd.DataFrame]) -> Aligned:
    """Align ``{symbol: bars}`` on the union of their UTC indexes (see the module docstring)."""
    if not isinstance(bars, dict) or not bars:
        raise BacktestError(bad_value("bars", type(bars).__name__, "a non-empty dict {symbol: bars DataFrame}"))
    frames = {}
    for sym, b in bars.items():
        check_bars(b, f"bars[{sym!r}]")
        if b.index.tz is None:
            raise BacktestError(f"bars[{sym!r}] index has no time zone: expected UTC timestamps")
        frames[str(sym)] = b.tz_convert("UTC") if str(b.index.tz) != "UTC" else b
    index = frames[next(iter(frames))].index
    for b in list(frames.values())[1:]:
        index = index.union(b.index)
    index = pd.DatetimeIndex(index).as_unit("ns")
    cols = {c: np.column_stack([frames[s][c].reindex(index).to_numpy(dtype=np.float64) for s in frames])
            for c in ("open", "close")}
    return Aligned(index=index, symbols=list(frames), open=cols["open"], close=cols["close"],
                   present=np.isfinite(cols["close"]))


def calendar_mask(index: pd.DatetimeIndex, rule: str) -> np.ndarray:
    """Return the bars that start a period of ``rule`` (``1D``, ``1W``, ``1M``): the first bar at or after
    each period's start (a week starts Monday 00:00 UTC), and the first bar of the data."""
    ns = index.as_unit("ns").asi8
    day = np.floor_divide(ns, 86_400_000_000_000)
    if rule == "1D":
        key = day
    elif rule == "1W":
        key = np.floor_divide(day + 3, 7)  # 1970-01-01 was a Thursday: +3 puts the week's start on Monday
    elif rule == "1M":
        key = index.year.to_numpy() * 12 + index.month.to_numpy()
    else:
        raise BacktestError(bad_value("rebalance", rule, "one of " + ", ".join(REBALANCE)))
    mask = np.empty(len(ns), dtype=bool)
    if len(ns):
        mask[0] = True
        mask[1:] = key[1:] != key[:-1]
    return mask


def _gates(aligned: Aligned, bars: dict[str, pd.DataFrame], strategy: Any, params: dict[str, Any],
           config: Config | None) -> tuple[np.ndarray, str, dict[str, Any]]:
    """Return the gate (n, m) in {0, 1} each asset's strategy state allows at each bar: the state after the
    previous bar's close (a signal on bar t's close moves the target from bar t+1 on)."""
    from peaktrade.strategies.base import prices_from_bars, signal_arrays
    from peaktrade.strategies.registry import get_strategy

    strat = get_strategy(strategy, config=config)
    resolved, stops = resolve_params(strat, dict(params))
    if stops:
        raise BacktestError(f"stops ({', '.join(stops)}) are not supported by a portfolio's gating strategy: "
                            "expected signal parameters only")
    gate = np.zeros(aligned.close.shape)
    for j, sym in enumerate(aligned.symbols):
        b = bars[sym]
        prices = prices_from_bars(b if "volume" in b else b.assign(volume=0.0))
        entries, exits = signal_arrays(strat, prices, resolved)
        state = pd.Series(nb.gate_state_nb(entries, exits), index=b.index.as_unit("ns"))
        gate[:, j] = state.reindex(aligned.index).ffill().shift(1).fillna(0.0).to_numpy()
    return gate, strat.name, resolved


def _min_size(min_size: Any, symbols: list[str]) -> np.ndarray:
    if min_size is None:
        return np.zeros(len(symbols))
    if isinstance(min_size, dict):
        unknown = sorted(set(min_size) - set(symbols))
        if unknown:
            raise BacktestError(f"min_size names {', '.join(map(repr, unknown))}: expected symbols among "
                                f"{', '.join(symbols)}")
        vals = [min_size.get(s, 0.0) for s in symbols]
    else:
        vals = [min_size] * len(symbols)
    out = np.asarray(vals, dtype=np.float64)
    if not (np.isfinite(out).all() and (out >= 0).all()):
        raise BacktestError(bad_value("min_size", min_size, "base units >= 0 (a number or {symbol: number})"))
    return out


def schedule(index: pd.DatetimeIndex, rebalance: str, gate: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Return the scheduled rebalance bars and the bars where weights are recomputed (both (n,) bool, the
    first bar always set) of ``rebalance``; ``signal`` reads the gate (n, m)."""
    n = len(index)
    if rebalance in CALENDAR:
        trade_bars = calendar_mask(index, rebalance)
        return trade_bars, trade_bars
    trade_bars = np.zeros(n, dtype=bool)
    trade_bars[0] = True
    if rebalance == "signal":
        trade_bars[1:] = (gate[1:] != gate[:-1]).any(axis=1)
        return trade_bars, trade_bars
    # drift, none
    return trade_bars, (calendar_mask(index, "1W") if rebalance == "drift" else trade_bars)


def targets(aligned: Aligned, allocation: Allocation, rebalance: str,
            gate: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Return the target weights (n, m) at every bar (NaN: not listed) and the scheduled rebalance bars.

    Weights are recomputed at the rebalance bars (weekly under ``drift``) from returns before each of
    them and held in between; a gate (n, m) in {0, 1} multiplies them.
    """
    n, m = aligned.close.shape
    index = aligned.index
    trade_bars, weight_bars = schedule(index, rebalance, gate)
    listed = aligned.listed
    at = np.flatnonzero(weight_bars)
    w = compute_weights(allocation, aligned.returns() if allocation.uses_returns else np.empty((n, m)), listed, at,
                        aligned.symbols, nominal_bars_per_year(index))
    target = np.full((n, m), np.nan)
    target[at] = w
    target = pd.DataFrame(target).ffill().to_numpy()
    if gate is not None:
        target = target * gate
    return np.where(listed, target, np.nan), trade_bars


@dataclass(frozen=True)
class Prepared:
    """Everything the kernel (and the paper replay) needs, validated and aligned (see :func:`run_portfolio`)."""

    aligned: Aligned
    price: np.ndarray
    val: np.ndarray
    close: np.ndarray
    target: np.ndarray
    trade_bars: np.ndarray
    drift: float
    groups: np.ndarray
    init_cash: np.ndarray
    min_size: np.ndarray
    allocation: Allocation
    options: Any
    options_source: str
    rebalance: str
    mode: str
    strategy: str | None
    params: dict[str, Any]

    def meta(self) -> dict[str, Any]:
        """The descriptive fields of a :class:`PortfolioResult` built from these inputs."""
        opts = self.options
        return dict(init_cash=opts.init_cash, options={k: v for k, v in opts.to_dict(stops=False).items() if k in
                                                       ("init_cash", "fees", "fixed_fees", "slippage", "execution")},
                    options_source=self.options_source, alloc=self.allocation.to_dict(), rebalance=self.rebalance,
                    mode=self.mode, strategy=self.strategy, params=self.params)


def prepare_portfolio(
    bars: dict[str, pd.DataFrame],
    *,
    alloc: str | Allocation = "equal",
    rebalance: str = "1W",
    strategy: Any = None,
    mode: str = "shared",
    drift: float = 0.05,
    min_size: float | dict[str, float] | None = None,
    config: Config | None = None,
    **kwargs: Any,
) -> Prepared:
    """Validate the inputs of :func:`run_portfolio` and return the kernel's arrays."""
    if rebalance not in REBALANCE:
        raise BacktestError(bad_value("rebalance", rebalance, "one of " + ", ".join(REBALANCE)))
    if mode not in MODES:
        raise BacktestError(bad_value("mode", mode, "one of " + ", ".join(MODES)))
    try:
        drift_f = float(drift)
    except (TypeError, ValueError):
        drift_f = float("nan")
    if not (0.0 < drift_f < 1.0):
        raise BacktestError(bad_value("drift", drift, "a weight distance in (0, 1)"))
    if rebalance == "signal" and strategy is None:
        raise BacktestError("rebalance='signal' needs a gating strategy: pass strategy=NAME")
    alloc_kw = {k: kwargs.pop(k) for k in list(kwargs) if k in _ALLOC_KEYS}
    if isinstance(alloc, Allocation):
        if alloc_kw:
            raise BacktestError(f"alloc is an Allocation: pass {', '.join(alloc_kw)} in it, not as keywords")
        allocation = alloc
    else:
        allocation = Allocation(rule=alloc, **alloc_kw)
    opts, source = pop_options(kwargs, config)
    if opts.direction != "long":
        raise BacktestError(bad_value("direction", opts.direction, "'long' (a portfolio holds long positions)"))
    aligned = align_bars(bars)
    index, symbols = aligned.index, aligned.symbols
    n, m = aligned.close.shape
    if n < 2:
        raise BacktestError(f"the aligned bars have {n} row(s): expected at least 2")
    ann = nominal_bars_per_year(index)
    if allocation.lookback is None and allocation.uses_returns:
        import dataclasses

        allocation = dataclasses.replace(allocation, lookback=max(2, int(round(30 * ann / 365))))

    gate, strat_name, strat_params = (None, None, {})
    if strategy is not None:
        gate, strat_name, strat_params = _gates(aligned, bars, strategy, kwargs, config)
    elif kwargs:
        raise BacktestError(f"unknown option(s) {', '.join(sorted(kwargs))}: not a backtest option or an "
                            "allocation parameter, and no strategy takes parameters")

    target, trade_bars = targets(aligned, allocation, rebalance, gate)

    close_ff = aligned.close_ffill
    if opts.execution == "close":
        price = aligned.close
        val = close_ff
    else:
        price = aligned.open
        prev_close = np.vstack([np.full((1, m), np.nan), close_ff[:-1]])
        val = np.where(aligned.present, aligned.open, prev_close)
    if mode == "shared":
        groups = np.zeros(m, dtype=np.int64)
        init_cash = np.array([opts.init_cash])
    else:
        groups = np.arange(m, dtype=np.int64)
        first = np.nan_to_num(target[0], nan=0.0)
        split = first / first.sum() if first.sum() > 0 else np.full(m, 1.0 / m)
        init_cash = opts.init_cash * split
        # each sleeve is all its own: it targets its whole value (times its gate)
        target = np.where(np.isnan(target), np.nan, (gate if gate is not None else 1.0) * np.ones((n, m)))
    return Prepared(
        aligned=aligned, price=np.ascontiguousarray(price), val=np.ascontiguousarray(val),
        close=np.ascontiguousarray(close_ff), target=np.ascontiguousarray(target), trade_bars=trade_bars,
        drift=drift_f if rebalance == "drift" else 0.0, groups=groups, init_cash=init_cash,
        min_size=_min_size(min_size, symbols), allocation=allocation, options=opts, options_source=source,
        rebalance=rebalance, mode=mode, strategy=strat_name, params=strat_params)


def run_portfolio(
    bars: dict[str, pd.DataFrame],
    *,
    alloc: str | Allocation = "equal",
    rebalance: str = "1W",
    strategy: Any = None,
    mode: str = "shared",
    drift: float = 0.05,
    min_size: float | dict[str, float] | None = None,
    config: Config | None = None,
    **kwargs: Any,
) -> PortfolioResult:
    """Backtest a portfolio of several symbols with one shared cash balance (or independent sleeves).

    Parameters
    ----------
    bars
        ``{symbol: bars}``; aligned on the union of their UTC indexes (a missing bar is valued at the last
        close and never traded).
    alloc
        An :class:`~peaktrade.portfolio.alloc.Allocation` or a rule name (``equal``, ``fixed``,
        ``inverse_vol``, ``vol_target``, ``erc``, ``hrp``) whose parameters (``weights``, ``lookback``,
        ``min_periods``, ``target_vol``, ``max_leverage``, ``base``) come as keywords.
    rebalance
        ``1D``, ``1W`` (the first bar at or after Monday 00:00 UTC), ``1M``; ``drift`` (whenever a weight
        sits more than ``drift`` from its target; targets recomputed weekly); ``signal`` (whenever a
        gating strategy's state changes); ``none`` (invest once). The first bar always invests.
    strategy
        Optional registered strategy (name or object) that gates each asset: the asset holds its target
        weight while the strategy is in a position, else that share stays cash. Its parameters come as
        keywords.
    mode
        ``shared`` (one cash balance; targets are fractions of the portfolio's value) or ``sleeves``
        (each asset trades its own cash, the initial cash split by the first weights).
    drift
        The drift threshold (absolute weight) of ``rebalance="drift"``.
    min_size
        Minimum order size in base units (one number, or ``{symbol: number}``).
    **kwargs
        Backtest options (``init_cash``, ``fees``, ``fixed_fees``, ``slippage``, ``execution``: fills at
        the rebalance bar's ``close`` or, by default from the config, at its ``next_open``... see below),
        the allocation's parameters, and the strategy's parameters. Options not given come from
        ``config``'s ``[backtest]`` section, as in :func:`peaktrade.backtest.run`.

    Execution: weights (and gates) for bar t use data up to bar t − 1's close. ``execution="close"`` fills
    at bar t's close; ``"next_open"`` at bar t's open (the decision of t − 1's close, filled at the next open).
    """
    p = prepare_portfolio(bars, alloc=alloc, rebalance=rebalance, strategy=strategy, mode=mode, drift=drift,
                          min_size=min_size, config=config, **kwargs)
    c = p.options.costs
    equity, cash, positions, orders, trades, tcol, skipped, ruin = nb.simulate_portfolio_nb(
        p.price, p.val, p.close, p.target, p.trade_bars, p.drift, p.groups, p.init_cash, c.fees, c.fixed_fees,
        c.slippage, p.min_size, p.allocation.leverage)
    return PortfolioResult.build(
        aligned=p.aligned, equity=equity, cash=cash, positions=positions, orders=orders, trades=trades, tcol=tcol,
        skipped=skipped, ruin=ruin, target=p.target, rebalance_bars=p.trade_bars, **p.meta())


__all__ = ["CALENDAR", "MODES", "REBALANCE", "Aligned", "Prepared", "align_bars", "calendar_mask", "prepare_portfolio",
           "run_portfolio", "schedule", "targets"]
