"""Research on portfolio sweeps: the DSR and PBO of a sweep (:func:`portfolio_overfitting`) and walk-forward
optimization (:func:`walk_forward_portfolio`): sweep the allocation on a train window, trade the next test window.

The windows, the selection and the stitching are those of single-strategy walk-forward
(:mod:`peaktrade.experiments.walk_forward`, whose window rules apply to the aligned bars' union index):

* each fold's train window is swept with :func:`~peaktrade.portfolio.sweep.sweep_portfolio`; the best row by
  ``metric`` that was not ruined is selected (none: the fold stays in cash);
* the test run computes the selected portfolio's targets (weights and gates) on the bars from the train
  window's start to the test window's end, so lookbacks and indicators are warm, and trades only from the
  test window's first bar, which always invests: the account enters the window in cash with what the
  previous fold ended with;
* the positions still held at the test window's last bar are sold at its close, paying fees and slippage
  (``exit_reason = "window_end"``): every fold is self-contained;
* the out-of-sample equity is the chained test windows; its stats come from ``compute_stats`` (exposure:
  bars holding any position); the benchmark is the equal-weight buy and hold of the test windows, chained.

Each fold also records the DSR and PBO of its train sweep (``train_dsr``, ``train_pbo``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from peaktrade.backtest.enums import EXIT_OPEN, EXIT_WINDOW_END, STAT_KEYS
from peaktrade.errors import BacktestError, bad_value
from peaktrade.experiments.walk_forward import WalkForwardResult, _stats_after_ruin, _windows
from peaktrade.portfolio import nb
from peaktrade.portfolio.engine import align_bars, prepare_portfolio
from peaktrade.portfolio.result import equal_weight_benchmark
from peaktrade.portfolio.sweep import PortfolioSweepResult, _plain, sweep_portfolio


@dataclass
class PortfolioWalkForwardResult(WalkForwardResult):
    """A :class:`~peaktrade.experiments.walk_forward.WalkForwardResult` of portfolios: ``folds`` has the selected
    values of the swept names, ``train_<metric>``, ``train_dsr``, ``train_pbo`` and ``test_<stat>``;
    ``oos_positions`` counts the symbols held at each test bar's close; ``oos_trades`` has a ``symbol``."""

    symbols: list[str] = field(default_factory=list)
    #: the gating strategy (None: none)
    gate: str | None = None


def portfolio_overfitting(sweep_result: PortfolioSweepResult, bars: dict[str, pd.DataFrame], *, metric: str = "sharpe",
                          minimize: bool = False, config: Any = None) -> pd.Series:
    """Return the DSR, PSR and PBO of a portfolio sweep's best row by ``metric`` (as
    :func:`~peaktrade.experiments.overfitting.sweep_overfitting` for strategy sweeps): the best row is run again
    with ``run_portfolio`` on ``bars`` (the sweep's) for its bar returns; the trials are the rows; the PBO comes
    from every non-ruined row's per-part sums, ranked by Sharpe ratio."""
    from peaktrade.experiments.overfitting import best_overfitting
    from peaktrade.portfolio.engine import run_portfolio

    table = sweep_result.table
    if len(table) < 2:
        raise BacktestError(f"the sweep has {len(table)} combination(s): expected at least 2 trials")
    label = sweep_result.best(metric, minimize=minimize).name
    res = run_portfolio(bars, **sweep_result.run_kwargs(label), config=config)
    if len(res.index) != sweep_result.n_bars:
        raise BacktestError(f"bars align to {len(res.index)} rows but the sweep ran on {sweep_result.n_bars}: "
                            "expected the sweep's bars")
    params = {k: _plain(table.at[label, k]) for k in sweep_result.param_names}
    return best_overfitting(sweep_result, res.returns.to_numpy(), sweep_result.ann_factor, len(table), params)


def _window(bars: dict[str, pd.DataFrame], t0: pd.Timestamp, t1: pd.Timestamp) -> dict[str, pd.DataFrame]:
    """The bars of each symbol with open times in [t0, t1] (a symbol without any there is left out)."""
    out = {s: b.loc[t0:t1] for s, b in bars.items()}
    return {s: b for s, b in out.items() if len(b)}


def _test_run(bars: dict[str, pd.DataFrame], t_a: pd.Timestamp, t_c: pd.Timestamp, t_d: pd.Timestamp,
              kwargs: dict[str, Any] | None, cash: float, config: Any) -> tuple[pd.Series, pd.Series, pd.DataFrame, pd.DataFrame]:
    """Run ``kwargs``' portfolio over [t_a, t_d] trading from ``t_c`` with ``cash``, sold at the end; return the
    test part's equity, symbols held, trades (indices relative to the test part) and closes carried forward."""
    from peaktrade.backtest.result import trades_frame

    p = prepare_portfolio(_window(bars, t_a, t_d), **(kwargs or {}), config=config)
    idx = p.aligned.index
    off = int(idx.searchsorted(t_c))
    test_idx = idx[off:]
    syms = p.aligned.symbols
    close = pd.DataFrame(p.close[off:], index=test_idx, columns=syms)
    if kwargs is None or cash <= 0.0:  # nothing selectable, or the account is ruined: stay in cash
        equity = pd.Series(max(cash, 0.0), index=test_idx, name="equity", dtype=float)
        from peaktrade.backtest.enums import trade_dt

        empty = trades_frame(np.empty(0, dtype=trade_dt), test_idx)
        empty.insert(0, "symbol", pd.Series(dtype=object))
        return equity, pd.Series(0.0, index=test_idx, name="position"), empty, close
    rebal = p.trade_bars[off:].copy()
    rebal[0] = True  # the test window's first bar invests
    c = p.options.costs
    equity, _, positions, _, trades, tcol, _, _ = nb.simulate_portfolio_nb(
        np.ascontiguousarray(p.price[off:]), np.ascontiguousarray(p.val[off:]), np.ascontiguousarray(p.close[off:]),
        np.ascontiguousarray(p.target[off:]), rebal, p.drift, p.groups, np.array([cash]), c.fees, c.fixed_fees,
        c.slippage, p.min_size, p.allocation.leverage)
    # sell what is still held at the last close, paying the exit costs (the records keep EXIT_OPEN until the
    # frame is built: its exit time is then the close)
    last = p.close[-1]
    sold = 0.0
    for k in np.flatnonzero(trades["exit_reason"] == EXIT_OPEN):
        r = trades[k]
        fill = last[tcol[k]] * (1.0 - c.slippage)
        paid = c.fees * r["size"] * fill + c.fixed_fees
        sold += r["size"] * (fill - r["exit_price"]) - paid  # the open trade was valued at the close, no costs
        r["exit_price"], r["exit_fees"] = fill, paid
        r["pnl"] = r["size"] * (fill - r["entry_price"]) - r["entry_fees"] - paid
        cost = r["size"] * r["entry_price"] + r["entry_fees"]
        r["ret"] = r["pnl"] / cost if cost > 0.0 else np.nan
    equity[-1] += sold
    held = (positions != 0.0).sum(axis=1).astype(np.float64)
    held[-1] = 0.0
    tr = trades_frame(trades, test_idx, execution=p.options.execution)
    tr.insert(0, "symbol", np.asarray(syms, dtype=object)[tcol] if len(tcol) else pd.Series(dtype=object))
    ended = tr["exit_reason_code"] == EXIT_OPEN
    tr.loc[ended, "exit_reason_code"] = EXIT_WINDOW_END
    tr.loc[ended, "exit_reason"] = "window_end"
    tr["is_open"] = False
    return (pd.Series(equity, index=test_idx, name="equity"), pd.Series(held, index=test_idx, name="position"), tr,
            close)


def walk_forward_portfolio(bars: dict[str, pd.DataFrame], *, train: Any, test: Any, step: Any = None,
                           anchored: bool = False, metric: str = "sharpe", minimize: bool = False, n_parts: int = 16,
                           config: Any = None, **kwargs: Any) -> PortfolioWalkForwardResult:
    """Sweep each train window's portfolios, trade the best in the next test window, stitch the test windows.

    Parameters
    ----------
    bars
        ``{symbol: bars}`` (aligned on the union of their indexes, as in ``run_portfolio``).
    train, test, step, anchored
        Windows over the aligned bars, as in :func:`peaktrade.experiments.walk_forward.walk_forward`: bar
        counts or time spans (``"180D"``, ``"3MS"``), ``step`` at least ``test``.
    metric, minimize
        The stat the train sweeps are ranked by (``STAT_KEYS``) and whether lower is better.
    n_parts
        Parts of each train sweep's PBO (``train_pbo``).
    **kwargs
        What :func:`~peaktrade.portfolio.sweep.sweep_portfolio` takes: lists sweep, scalars fix (``alloc``,
        ``rebalance``, ``lookback``, ``target_vol``, ``strategy`` and its parameters, backtest options...).

    Returns
    -------
    PortfolioWalkForwardResult
    """
    from peaktrade.backtest import compute_stats
    from peaktrade.config import load_config

    if metric not in STAT_KEYS:
        raise BacktestError(bad_value("metric", metric, "one of " + ", ".join(STAT_KEYS)))
    config = config if config is not None else load_config()
    index = align_bars(bars).index
    windows, skipped = _windows(index, train, test, step, anchored, max(2, int(n_parts)))
    if not windows:
        raise BacktestError(f"train={train!r}, test={test!r} give no fold with enough bars: the aligned bars have "
                            f"{len(index)} rows ({skipped} fold(s) skipped for data gaps)")
    rows: list[dict[str, Any]] = []
    eq_parts, pos_parts, trade_parts, bench_parts, sweeps = [], [], [], [], []
    first: PortfolioSweepResult | None = None
    cash = bench_level = init_cash = math.nan
    offset = 0
    for fold, (a, b, c, d) in enumerate(windows):
        train_bars = _window(bars, index[a], index[b - 1])
        sw = sweep_portfolio(train_bars, n_parts=n_parts, config=config, **kwargs)
        sweeps.append(sw)
        if first is None:
            first = sw
            cash = bench_level = init_cash = float(sw.options["init_cash"])
        chosen, train_value, dsr, pbo = None, math.nan, math.nan, math.nan
        if len(sw.table) and sw.eligible(metric).any():
            best = sw.best(metric, minimize=minimize)
            chosen, train_value = sw.run_kwargs(best.name), float(best[metric])
            if len(sw.table) >= 2:
                ov = portfolio_overfitting(sw, train_bars, metric=metric, minimize=minimize, config=config)
                dsr, pbo = float(ov["dsr"]), float(ov["pbo"])
        equity, pos, trades, close = _test_run(bars, index[a], index[c], index[d - 1], chosen, cash, config)
        bench = equal_weight_benchmark(close, bench_level)
        bench_parts.append(bench)
        st = compute_stats(equity, pos, trades.drop(columns=["symbol"]), init_cash=cash,
                           benchmark=bench * (cash / bench_level)) if cash > 0.0 else _stats_after_ruin()
        row: dict[str, Any] = {"fold": fold, "train_start": index[a], "train_end": index[b - 1],
                               "test_start": index[c], "test_end": index[d - 1], "train_bars": b - a,
                               "test_bars": d - c}
        row.update({k: (chosen[k] if chosen is not None else None) for k in sw.param_names})
        row.update({f"train_{metric}": train_value, "train_dsr": dsr, "train_pbo": pbo, "n_combos": len(sw.table)})
        row.update({f"test_{k}": float(v) for k, v in st.items()})
        rows.append(row)
        t = trades.copy()
        t["entry_idx"] += offset
        t["exit_idx"] += offset
        t.insert(0, "fold", fold)
        trade_parts.append(t)
        eq_parts.append(equity)
        pos_parts.append(pos)
        offset += len(equity)
        cash = float(equity.iloc[-1])
        bench_level = float(bench.iloc[-1])
    oos_trades = pd.concat(trade_parts, ignore_index=True)
    oos_trades.index.name = "id"
    assert first is not None
    return PortfolioWalkForwardResult(
        folds=pd.DataFrame(rows), oos_equity=pd.concat(eq_parts).rename("equity"),
        oos_positions=pd.concat(pos_parts).rename("position"), oos_trades=oos_trades, metric=metric,
        params=first.param_names, init_cash=init_cash, strategy=first.strategy, options=first.options,
        minimize=minimize, anchored=anchored, sweeps=sweeps, n_skipped_folds=skipped,
        oos_benchmark=pd.concat(bench_parts).rename("benchmark"), options_source=first.options_source,
        symbols=list(first.symbols), gate=first.gate)


__all__ = ["PortfolioWalkForwardResult", "portfolio_overfitting", "walk_forward_portfolio"]
