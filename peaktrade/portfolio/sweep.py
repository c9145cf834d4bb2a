"""Portfolio sweeps: many allocation settings over the same bars, fused and parallel in numba.

:func:`sweep_portfolio` sweeps the allocation's parameters (``alloc``, ``lookback``, ``min_periods``,
``target_vol``, ``max_leverage``, ``base``), the rebalancing (``rebalance``, ``drift``) and a gating
strategy's parameters; :func:`sweep_weights` sweeps fixed weight vectors. Fused: every distinct gate
(strategy parameters) and every distinct weight schedule (allocation × rebalance rule) is computed once,
and one parallel kernel (``nb.sweep_portfolio_nb``) simulates every combination from them, each with
:func:`~peaktrade.portfolio.nb.simulate_portfolio_nb` itself: a row equals ``run_portfolio(...).stats()``
for the same parameters (``PortfolioSweepResult.run_kwargs`` gives them). The per-part return sums of
every row feed the PBO, the table's Sharpe ratios the DSR
(:func:`peaktrade.experiments.portfolio.portfolio_overfitting`, in the research layer).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from peaktrade.backtest.engine import pop_options
from peaktrade.backtest.enums import STAT_KEYS
from peaktrade.backtest.options import OPTION_NAMES
from peaktrade.backtest.stats import BENCHMARK_KEYS, annualization, benchmark_stats, close_days, nominal_bars_per_year
from peaktrade.backtest.sweep import SweepResult
from peaktrade.errors import BacktestError, bad_value
from peaktrade.portfolio import nb
from peaktrade.portfolio.alloc import Allocation, compute_weights
from peaktrade.portfolio.engine import _ALLOC_KEYS, CALENDAR, REBALANCE, Aligned, _gates, align_bars, schedule
from peaktrade.portfolio.result import PORTFOLIO_KEYS, equal_weight_benchmark, mean_correlation

#: Names a portfolio sweep may sweep besides a gating strategy's parameters.
SWEEPABLE = ("rebalance", "drift", "alloc", *(k for k in _ALLOC_KEYS if k != "weights"))
#: The statistics of every row: ``PortfolioResult.stats()``'s keys.
ROW_KEYS = (*STAT_KEYS, *BENCHMARK_KEYS, *PORTFOLIO_KEYS)


@dataclass
class PortfolioSweepResult(SweepResult):
    """A :class:`~peaktrade.backtest.SweepResult` of portfolios: ``table`` has the swept names (``grid``), then
    ``PortfolioResult.stats()``'s keys; ``best``, ``best_params``, ``heatmap`` work as for strategy sweeps."""

    symbols: list[str] = field(default_factory=list)
    #: the names every row shares (allocation, rebalancing, strategy parameters not swept)
    fixed: dict[str, Any] = field(default_factory=dict)
    #: the gating strategy (None: none)
    gate: str | None = None
    #: the bars per year of the aligned bars (for the DSR)
    ann_factor: float = math.nan

    def run_kwargs(self, label: Any = None, *, metric: str = "sharpe", minimize: bool = False) -> dict[str, Any]:
        """Return the keywords of :func:`~peaktrade.portfolio.run_portfolio` that reproduce row ``label`` (default:
        the best by ``metric``), backtest options included."""
        if label is None:
            label = self.best(metric, minimize=minimize).name
        row = {k: _plain(self.table.at[label, k]) for k in self.param_names}
        return {**self.fixed, **row, "strategy": self.gate,
                **{k: v for k, v in self.options.items() if v is not None}}


def _plain(v: Any) -> Any:
    """A table cell as a plain Python value (a whole float of an int grid back to int)."""
    v = v.item() if isinstance(v, np.generic) else v
    return int(v) if isinstance(v, float) and v.is_integer() and abs(v) < 2**53 else v


def _is_grid(v: Any) -> bool:
    return isinstance(v, (list, tuple, range, np.ndarray, pd.Index, pd.Series))


@dataclass(frozen=True)
class _Market:
    """The arrays every combination shares (aligned once)."""

    aligned: Aligned
    price: np.ndarray
    val: np.ndarray
    close: np.ndarray
    listed: np.ndarray
    options: Any
    options_source: str


def _market(bars: dict[str, pd.DataFrame], options: dict[str, Any], config: Any) -> _Market:
    opts, source = pop_options(options, config)
    if opts.direction != "long":
        raise BacktestError(bad_value("direction", opts.direction, "'long' (a portfolio holds long positions)"))
    aligned = align_bars(bars)
    n, m = aligned.close.shape
    if n < 2:
        raise BacktestError(f"the aligned bars have {n} row(s): expected at least 2")
    close_ff = aligned.close_ffill
    if opts.execution == "close":
        price, val = aligned.close, close_ff
    else:
        prev = np.vstack([np.full((1, m), np.nan), close_ff[:-1]])
        price, val = aligned.open, np.where(aligned.present, aligned.open, prev)
    return _Market(aligned=aligned, price=np.ascontiguousarray(price), val=np.ascontiguousarray(val),
                   close=np.ascontiguousarray(close_ff), listed=np.ascontiguousarray(aligned.listed),
                   options=opts, options_source=source)


def _simulate(mk: _Market, wrows: np.ndarray, wmaps: np.ndarray, gates: np.ndarray, tmasks: np.ndarray,
              combos: np.ndarray, drift: np.ndarray, max_lev: np.ndarray, min_size: np.ndarray,
              n_parts: int) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Run the fused kernel; return the stats table (``ROW_KEYS``), the part sums and the part bar counts."""
    idx = mk.aligned.index
    n, m = mk.price.shape
    k = len(combos)
    ann, years, _ = annualization(idx)
    bounds = np.linspace(0, n, n_parts + 1).astype(np.int64)
    out = np.full((k, len(STAT_KEYS)), np.nan)
    extra = np.zeros((k, 3))
    part_sums = np.zeros((k, n_parts, 2))
    c = mk.options.costs
    init_cash = float(mk.options.init_cash)
    if k:
        nb.sweep_portfolio_nb(mk.price, mk.val, mk.close, mk.listed, np.ascontiguousarray(wrows, dtype=np.float64),
                              np.ascontiguousarray(wmaps, dtype=np.int64), np.ascontiguousarray(gates, dtype=np.float64),
                              np.ascontiguousarray(tmasks, dtype=np.bool_), np.ascontiguousarray(combos, dtype=np.int64),
                              np.ascontiguousarray(drift, dtype=np.float64), np.ascontiguousarray(max_lev, dtype=np.float64),
                              np.zeros(m, dtype=np.int64), np.array([init_cash]), c.fees, c.fixed_fees, c.slippage,
                              min_size, close_days(idx), ann, years, bounds, out, extra, part_sums)
    table = pd.DataFrame(out, columns=list(STAT_KEYS))
    close = pd.DataFrame(mk.close, index=idx, columns=mk.aligned.symbols)
    bench = benchmark_stats(equal_weight_benchmark(close, init_cash), init_cash=init_cash,
                            total_return=table["total_return"].to_numpy())
    for key in BENCHMARK_KEYS:
        table[key] = bench[key]
    corr = mean_correlation(pd.DataFrame(mk.aligned.returns(), index=idx, columns=mk.aligned.symbols))
    table["turnover"], table["n_orders"], table["n_rebalances"] = extra[:, 0], extra[:, 1], extra[:, 2]
    table["avg_correlation"] = corr
    return table[list(ROW_KEYS)], part_sums, np.diff(bounds)


def _check_parts(n_parts: Any, n: int) -> int:
    if isinstance(n_parts, bool) or not isinstance(n_parts, (int, np.integer)) or n_parts < 1 or n_parts > n:
        raise BacktestError(bad_value("n_parts", n_parts, f"a whole number in 1..{n} (bars)"))
    return int(n_parts)


def _drift(v: Any) -> float:
    try:
        d = float(v)
    except (TypeError, ValueError):
        d = math.nan
    if not (0.0 < d < 1.0):
        raise BacktestError(bad_value("drift", v, "a weight distance in (0, 1)"))
    return d


def check_grids(names: dict[str, Any]) -> dict[str, list[Any]]:
    """Return the swept names of ``names`` (lists, ranges, arrays) after the checks that need no bars: a grid is
    not empty, is not a backtest option, and its rebalance rules and drift thresholds are valid."""
    grids = {k: list(v) for k, v in names.items() if _is_grid(v)}
    for k, v in grids.items():
        if k in OPTION_NAMES:
            raise BacktestError(f"{k} is a backtest option: expected one value for every row, got {v!r}")
        if not v:
            raise BacktestError(f"{k} has no values: expected a non-empty list to sweep")
    for rule in grids.get("rebalance", [names.get("rebalance", "1W")]):
        if rule not in REBALANCE:
            raise BacktestError(bad_value("rebalance", rule, "one of " + ", ".join(REBALANCE)))
    for d in grids.get("drift", [names.get("drift", 0.05)]):
        _drift(d)
    return grids


def sweep_portfolio(bars: dict[str, pd.DataFrame], *, alloc: Any = "equal", rebalance: Any = "1W",
                    strategy: Any = None, drift: Any = 0.05, min_size: float | dict[str, float] | None = None,
                    mode: str = "shared", n_parts: int = 16, config: Any = None,
                    **kwargs: Any) -> PortfolioSweepResult:
    """Backtest every combination of allocation, rebalancing and gating parameters, fused and in parallel.

    Any of ``alloc``, ``rebalance``, ``drift``, the allocation's parameters (``lookback``, ``min_periods``,
    ``target_vol``, ``max_leverage``, ``base``) and the gating ``strategy``'s parameters is swept when given
    a list (or range, array), fixed when given a scalar, e.g.
    ``sweep_portfolio(bars, alloc="vol_target", rebalance=["1D", "1W"], lookback=[168, 720],
    target_vol=[0.3, 0.5], strategy="ma_crossover", fast=[12, 24], slow=120)``. ``weights`` (``alloc="fixed"``),
    ``min_size`` and the backtest options (``fees``, ``slippage``, ``execution``, ``init_cash``, ...; the rest
    from ``config``'s ``[backtest]`` section) are the same for every row. Combinations whose strategy
    parameters break one of its constraints are skipped and counted (``n_skipped``, ``skipped_reasons``).

    Returns a :class:`PortfolioSweepResult`: one row per combination (grid order), whose statistics equal
    ``run_portfolio(bars, **result.run_kwargs(row)).stats()``; ``part_sums`` over ``n_parts`` contiguous
    parts for the PBO. Shared cash only (``mode="shared"``).
    """
    t0 = time.perf_counter()
    if mode != "shared":
        raise BacktestError(bad_value("mode", mode, "'shared' (a sweep runs shared-cash portfolios)"))
    names = {"alloc": alloc, "rebalance": rebalance, "drift": drift, **kwargs}
    grids = check_grids(names)
    fixed = {k: v for k, v in names.items() if k not in grids}
    options = {k: fixed.pop(k) for k in list(fixed) if k in OPTION_NAMES}
    mk = _market(bars, options, config)
    aligned = mk.aligned
    n, m = mk.price.shape
    n_parts = _check_parts(n_parts, n)
    strat_names = [k for k in names if k not in SWEEPABLE and k != "weights" and k not in OPTION_NAMES]
    strat = None
    if strategy is not None:
        from peaktrade.strategies.registry import get_strategy

        strat = get_strategy(strategy, config=config)
    elif strat_names:
        raise BacktestError(f"unknown option(s) {', '.join(sorted(strat_names))}: not a backtest option or an "
                            "allocation parameter, and no strategy takes parameters")
    from peaktrade.portfolio.engine import _min_size

    sizes = _min_size(min_size, aligned.symbols)
    ann_nominal = nominal_bars_per_year(aligned.index)
    returns = None

    gate_ids: dict[Any, int] = {}
    gate_list: list[np.ndarray] = []
    sched_ids: dict[Any, int] = {}
    tmasks: list[np.ndarray] = []
    wmaps: list[np.ndarray] = []
    weight_bars: list[np.ndarray] = []
    w_ids: dict[Any, int] = {}
    wrows: list[np.ndarray] = []
    n_rows = 0
    rows: list[dict[str, Any]] = []
    combos: list[tuple[int, int, int]] = []
    drifts: list[float] = []
    levs: list[float] = []
    skipped: dict[str, int] = {}
    for values in itertools.product(*grids.values()):
        p = {**fixed, **dict(zip(grids, values, strict=True))}
        rule = p.pop("rebalance")
        if rule not in REBALANCE:
            raise BacktestError(bad_value("rebalance", rule, "one of " + ", ".join(REBALANCE)))
        d = _drift(p.pop("drift"))
        rule_alloc = p.pop("alloc")
        alloc_kw = {k: p.pop(k) for k in list(p) if k in _ALLOC_KEYS}
        if isinstance(rule_alloc, Allocation):
            if alloc_kw:
                raise BacktestError(f"alloc is an Allocation: pass {', '.join(alloc_kw)} in it, not as keywords")
            allocation = rule_alloc
        else:
            allocation = Allocation(rule=rule_alloc, **alloc_kw)
        if allocation.lookback is None and allocation.uses_returns:
            allocation = dataclasses.replace(allocation, lookback=max(2, int(round(30 * ann_nominal / 365))))
        gi = -1
        gate = None
        if strat is not None:
            broken = strat.broken_constraint({**strat.defaults(), **p})
            if broken is not None:
                skipped[broken] = skipped.get(broken, 0) + 1
                continue
            key = tuple(sorted(strat.resolve(dict(p)).items()))
            if key not in gate_ids:
                g, _, _ = _gates(aligned, bars, strat, dict(p), config)
                gate_ids[key] = len(gate_list)
                gate_list.append(g)
            gi = gate_ids[key]
            gate = gate_list[gi]
        elif rule == "signal":
            raise BacktestError("rebalance='signal' needs a gating strategy: pass strategy=NAME")
        skey = (rule, gi) if rule == "signal" else rule
        if skey not in sched_ids:
            trade_bars, wbars = schedule(aligned.index, rule, gate)
            sched_ids[skey] = len(tmasks)
            tmasks.append(trade_bars)
            wmaps.append(np.cumsum(wbars) - 1)
            weight_bars.append(wbars)
        si = sched_ids[skey]
        wkey = (repr(allocation.to_dict()), allocation.min_periods if allocation.uses_returns else None, si)
        if wkey not in w_ids:
            if allocation.uses_returns and returns is None:
                returns = aligned.returns()
            w = compute_weights(allocation, returns if allocation.uses_returns else np.empty((n, m)), mk.listed,
                                np.flatnonzero(weight_bars[si]), aligned.symbols, ann_nominal)
            w_ids[wkey] = n_rows
            wrows.append(w)
            n_rows += len(w)
        combos.append((w_ids[wkey], si, gi))
        drifts.append(d if rule == "drift" else 0.0)
        levs.append(allocation.leverage)
        rows.append({k: _plain(v) for k, v in zip(grids, values, strict=True)})
    stats, part_sums, part_bars = _simulate(
        mk, np.vstack(wrows) if wrows else np.zeros((0, m)), np.array(wmaps) if wmaps else np.zeros((0, n), np.int64),
        np.array(gate_list) if gate_list else np.zeros((0, n, m)),
        np.array(tmasks) if tmasks else np.zeros((0, n), bool), np.array(combos, dtype=np.int64).reshape(-1, 3),
        np.array(drifts), np.array(levs), sizes, n_parts)
    table = pd.concat([pd.DataFrame(rows, columns=list(grids)), stats], axis=1)
    fixed_out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in fixed.items()}
    if min_size is not None:
        fixed_out["min_size"] = min_size
    return PortfolioSweepResult(
        table=table, strategy="portfolio" if strat is None else f"portfolio gated by {strat.name}", grid=grids,
        n_skipped=sum(skipped.values()), skipped_reasons=skipped, elapsed=time.perf_counter() - t0, n_bars=n,
        part_sums=part_sums, part_bars=part_bars, options=mk.options.to_dict(stops=False),
        options_source=mk.options_source, n_combos=len(table), symbols=list(aligned.symbols), fixed=fixed_out,
        gate=None if strat is None else strat.name, ann_factor=annualization(aligned.index)[0])


def sweep_weights(bars: dict[str, pd.DataFrame], weights: Any, *, rebalance: str = "1W", config: Any = None,
                  **options: Any) -> pd.DataFrame:
    """Return one row of statistics (``PortfolioResult.stats()``'s keys) per weight vector, each a shared-cash
    portfolio rebalanced on the calendar ``rebalance`` (as :func:`~peaktrade.portfolio.run_portfolio` with
    ``alloc="fixed"``: a row equals that run's stats).

    ``weights`` is a (k, m) array or DataFrame whose columns are the symbols (each row: fractions >= 0
    summing to at most 1). Options (``fees``, ``slippage``, ``execution``, ``init_cash``, ...) as in
    ``run_portfolio``; the combinations run in parallel on numba's threads (the same kernel as
    :func:`sweep_portfolio`).
    """
    if rebalance not in CALENDAR:
        raise BacktestError(bad_value("rebalance", rebalance, "one of " + ", ".join(CALENDAR)))
    mk = _market(bars, dict(options), config)
    cols = mk.aligned.symbols
    if isinstance(weights, pd.DataFrame):
        missing = sorted(set(cols) - set(weights.columns))
        if missing:
            raise BacktestError(f"weights lack column(s) {', '.join(missing)}: expected one per symbol")
        w = weights[cols].to_numpy(dtype=np.float64)
    else:
        w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 2 or w.shape[1] != len(cols):
        raise BacktestError(f"weights have shape {w.shape}: expected (combinations, {len(cols)})")
    if not (np.isfinite(w).all() and (w >= 0).all() and (w.sum(axis=1) <= 1.0 + 1e-12).all()):
        raise BacktestError("weights must be fractions >= 0 summing to at most 1 per row")
    n = mk.price.shape[0]
    k = len(w)
    # one schedule whose weight row never changes: combination i reads row i
    combos = np.column_stack([np.arange(k), np.zeros(k, np.int64), np.full(k, -1)]).astype(np.int64)
    table, _, _ = _simulate(mk, w, np.zeros((1, n), np.int64), np.zeros((0, n, len(cols))),
                            calendar_tmask(mk.aligned.index, rebalance), combos, np.zeros(k), np.ones(k),
                            np.zeros(len(cols)), 1)
    return pd.concat([pd.DataFrame(w, columns=[f"w_{s}" for s in cols]), table], axis=1)


def calendar_tmask(index: pd.DatetimeIndex, rule: str) -> np.ndarray:
    """The (1, n) rebalance mask of a calendar rule."""
    return schedule(index, rule)[0][None, :]


__all__ = ["ROW_KEYS", "SWEEPABLE", "PortfolioSweepResult", "check_grids", "sweep_portfolio", "sweep_weights"]
