"""Walk-forward optimization: optimize on a train window, trade the next test window, roll on.

Windows
    ``train``, ``test`` and ``step`` are bar counts (int) or time spans: a fixed duration
    (``"180D"``, ``"12h"``, ``"1W"``, a ``pd.Timedelta``) or a calendar offset (``"3MS"``, ``"1ME"``,
    ``pd.DateOffset(months=3)``); both kinds cannot be mixed. Fold ``i`` (from 0):

    * rolling: train = [start + i·step, start + i·step + train), test = [train end, train end + test);
    * anchored: train = [start, start + train + i·step), same test rule.

    ``step`` defaults to ``test`` (back-to-back test windows); it may be larger (gaps between test
    windows) but not smaller (overlapping test windows cannot be stitched). Folds are made while
    the whole test window lies inside the data. With time spans, a window is the bars whose open
    time falls in it; a fold whose train window has fewer than ``max(2, n_parts)`` bars or whose
    test window has fewer than 2 bars (a data gap) is skipped and counted.

Optimization
    ``peaktrade.backtest.sweep(strategy, train_bars, progress=progress, n_parts=n_parts, **kw)`` and
    the best row by ``metric`` (``minimize`` for e.g. ``max_drawdown``), never a combination that was
    ruined in the train window (``SweepResult.best``). When no combination has a finite ``metric``
    without ruin (nothing traded, or everything went bust) the fold stays flat in its test window.

Test runs (no lookahead, warm indicators)
    The best parameters' signals are computed on the bars from the train window's start to the
    test window's end (the train window is the indicators' warm-up), then every signal before the
    test window is dropped and the simulation runs over those bars: the account is flat with its
    cash when the test window opens, and only trades entered in the test window exist. A position
    still open at the test window's last bar is closed at that bar's close, paying fees and
    slippage (``exit_reason = "window_end"``): every fold is self-contained and the next starts
    flat.

Stitching
    Fold ``i`` starts with the cash fold ``i − 1`` ended with (the first with ``init_cash``), so the
    out-of-sample equity is one chained curve; its stats come from
    :func:`peaktrade.backtest.compute_stats` over the stitched equity, positions and trades. An
    out-of-sample account ruined in a fold stays at zero (flat, no orders) in every later fold; those
    folds' test stats are NaN except ``ruined`` (1), ``n_trades``, ``total_fees`` and
    ``final_equity`` (0).
"""

from __future__ import annotations

import datetime as _dt
import functools
import math
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from peaktrade.errors import BacktestError, bad_value

if TYPE_CHECKING:
    from peaktrade.backtest.options import BacktestOptions
    from peaktrade.config import Config


@dataclass
class WalkForwardResult:
    """Folds and the stitched out-of-sample backtest of a walk-forward optimization.

    Attributes
    ----------
    folds : pandas.DataFrame
        One row per fold: ``fold``, ``train_start``, ``train_end``, ``test_start``, ``test_end``
        (times of the first and last bar of each window, inclusive), ``train_bars``,
        ``test_bars``, the best parameters (columns named as the parameters), ``train_<metric>``,
        ``n_combos``, then the test window's stats as ``test_<stat key>``.
    oos_equity, oos_positions : pandas.Series
        Stitched out-of-sample equity and position at each test bar's close.
    oos_trades : pandas.DataFrame
        Out-of-sample trades with a ``fold`` column; ``entry_idx``/``exit_idx`` index ``oos_equity``.
    metric : str
        The optimization metric.
    params : list of str
        The optimized parameters (the best-parameter columns of ``folds``).
    init_cash : float
    strategy : str
        The strategy's name.
    options : dict
        The backtest options the sweeps and test runs used (flat, the defaults filled in).
    sweeps : list
        The train-window ``SweepResult`` of each fold (e.g. for ``pbo_from_part_sums``).
    n_skipped_folds : int
        Folds skipped for too few bars (time-span windows over data gaps).
    """

    folds: pd.DataFrame
    oos_equity: pd.Series
    oos_positions: pd.Series
    oos_trades: pd.DataFrame
    metric: str
    params: list[str]
    init_cash: float
    strategy: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    minimize: bool = False
    anchored: bool = False
    sweeps: list[Any] = field(default_factory=list, repr=False)
    n_skipped_folds: int = 0
    #: buy-and-hold equity over the test windows, chained from ``init_cash`` like ``oos_equity``
    oos_benchmark: pd.Series | None = None
    #: where ``options`` came from (config file and the names given explicitly)
    options_source: str = ""

    @property
    def costs(self) -> str:
        """One line stating the costs and execution of the sweeps and test runs (and their source)."""
        from peaktrade.backtest.options import describe_options

        return describe_options(self.options, self.options_source or None)

    @property
    def oos_returns(self) -> pd.Series:
        """Bar returns of the stitched equity (the first against the initial cash)."""
        prev = self.oos_equity.shift(1).fillna(self.init_cash)
        return (self.oos_equity / prev - 1.0).rename("returns")

    def stats(self) -> pd.Series:
        """Return the backtest stats (``peaktrade.backtest.compute_stats``) of the stitched curve."""
        from peaktrade.backtest import compute_stats

        return compute_stats(self.oos_equity, self.oos_positions, self.oos_trades, init_cash=self.init_cash,
                             benchmark=self.oos_benchmark)

    @property
    def param_stability(self) -> pd.DataFrame:
        """Per optimized parameter: ``mean``, ``std``, ``min``, ``max`` (numeric parameters),
        ``n_unique``, ``mode`` (the most frequent value, as text) and ``mode_share`` (share of
        folds at the mode), over the folds that had a best combination."""
        rows = {}
        for p in self.params:
            col = self.folds[p].dropna()
            num = pd.to_numeric(col, errors="coerce") if len(col) else col
            numeric = len(col) > 0 and num.notna().all() and not col.map(lambda v: isinstance(v, bool)).any()
            counts = col.value_counts(sort=True)
            rows[p] = {
                "mean": float(num.mean()) if numeric else math.nan,
                "std": float(num.std(ddof=1)) if numeric and len(num) > 1 else math.nan,
                "min": float(num.min()) if numeric else math.nan,
                "max": float(num.max()) if numeric else math.nan,
                "n_unique": int(col.nunique()),
                "mode": str(counts.index[0]) if len(counts) else None,
                "mode_share": float(counts.iloc[0] / len(col)) if len(counts) else math.nan,
            }
        return pd.DataFrame.from_dict(rows, orient="index")

    def plot(self):
        """Return a plotly figure of the stitched out-of-sample equity with the fold boundaries."""
        import plotly.graph_objects as go

        fig = go.Figure(go.Scatter(x=self.oos_equity.index, y=self.oos_equity, name="OOS equity"))
        for t in self.folds["test_start"]:
            fig.add_vline(x=t, line=dict(width=1, dash="dot", color="grey"))
        fig.update_layout(title=f"walk-forward ({len(self.folds)} folds, by {self.metric})", yaxis_title="equity")
        return fig


# --------------------------------------------------------------------------------------------
# windows


def _span(name: str, v: Any) -> int | pd.Timedelta | pd.DateOffset:
    """Return a window length as a bar count or a time span, or raise naming the argument."""
    if isinstance(v, (bool, np.bool_)):
        raise BacktestError(bad_value(name, v, "a bar count (int) or a time span like '180D'"))
    if isinstance(v, str) and v.strip().isdigit():  # "720" from a notebook parameter or the CLI: bars
        v = int(v)
    if isinstance(v, (int, np.integer)):
        if v < 1:
            raise BacktestError(bad_value(name, v, "a positive bar count"))
        return int(v)
    if isinstance(v, pd.DateOffset):
        return v
    if isinstance(v, (pd.Timedelta, _dt.timedelta, np.timedelta64)):
        td = pd.Timedelta(v)
    elif isinstance(v, str):
        try:
            with warnings.catch_warnings():
                # a deprecated unit is an error here: pandas reads "3MS" as 3 milliseconds, with a warning
                warnings.simplefilter("error")
                td = pd.Timedelta(v)
        except (ValueError, Warning):
            try:
                off = pd.tseries.frequencies.to_offset(v)
            except ValueError:
                raise BacktestError(bad_value(name, v, "a bar count (int) or a time span like '180D'")) from None
            return off
    else:
        raise BacktestError(bad_value(name, v, "a bar count (int) or a time span like '180D'"))
    if td <= pd.Timedelta(0):
        raise BacktestError(bad_value(name, v, "a positive time span"))
    return td


def _windows(index: pd.DatetimeIndex, train: Any, test: Any, step: Any, anchored: bool,
             min_train: int) -> tuple[list[tuple[int, int, int, int]], int]:
    """Return the (train_start, train_end, test_start, test_end) positions (ends exclusive) and the skip count."""
    n = len(index)
    tr, te = _span("train", train), _span("test", test)
    st = _span("step", step) if step is not None else te
    kinds = {name: isinstance(v, int) for name, v in (("train", tr), ("test", te), ("step", st))}
    if len(set(kinds.values())) > 1:
        shown = ", ".join(f"{k}={v!r}" for k, v in (("train", train), ("test", test), ("step", step)) if v is not None)
        raise BacktestError(f"{shown} mix bar counts and time spans: expected all bar counts or all time spans")
    out: list[tuple[int, int, int, int]] = []
    skipped = 0
    if isinstance(tr, int):
        if st < te:
            raise BacktestError(f"step={st!r} is invalid: expected step >= test={te!r} (test windows must not overlap)")
        if te < 2:
            raise BacktestError(bad_value("test", test, "at least 2 bars"))
        if tr < min_train:
            raise BacktestError(bad_value("train", train, f"at least {min_train} bars (max(2, n_parts))"))
        if tr + te > n:
            raise BacktestError(f"train={train!r} + test={test!r} bars do not fit: bars has {n} rows")
        i = 0
        while True:
            a = 0 if anchored else i * st
            b = tr + i * st
            if b + te > n:
                break
            out.append((a, b, b, b + te))
            i += 1
        return out, skipped
    from peaktrade.backtest.stats import bar_interval

    start = index[0]
    interval = bar_interval(index)
    end = index[-1] + interval
    for name, raw, span in (("train", train, tr), ("test", test, te), ("step", step, st)):
        if _ahead(start, span) - start < interval:
            raise BacktestError(bad_value(name, raw, f"a time span of at least one bar ({interval})"))
    if _ahead(start, te) > _ahead(start, st):
        raise BacktestError(f"step={step!r} is invalid: expected step >= test={test!r} (test windows must not overlap)")
    if _ahead(_ahead(start, tr), te) > end:
        raise BacktestError(f"train={train!r} + test={test!r} do not fit: bars span {end - start} ({n} rows)")
    i = 0
    while True:
        t_shift = _ahead(start, st, i)
        t_train_end = _ahead(t_shift, tr)
        t_test_end = _ahead(t_train_end, te)
        if t_test_end > end:
            break
        a = 0 if anchored else int(index.searchsorted(t_shift, side="left"))
        b = int(index.searchsorted(t_train_end, side="left"))
        c = int(index.searchsorted(t_test_end, side="left"))
        if b - a < min_train or c - b < 2:
            skipped += 1
        else:
            out.append((a, b, b, c))
        i += 1
    return out, skipped


def _ahead(t: pd.Timestamp, span: Any, times: int = 1) -> pd.Timestamp:
    # zero steps is ``t`` itself (an anchored offset times 0 would roll ``t`` to the next anchor)
    return t if times == 0 else t + span * times


# --------------------------------------------------------------------------------------------
# test runs


def _typed(strat: Any, params: dict[str, Any]) -> dict[str, Any]:
    """Return ``params`` coerced to the strategy's parameter types (a sweep row holds ints as floats)."""
    by_name = {p.name: p for p in strat.params}
    return {k: by_name[k].coerce(v, strategy=strat.name) if k in by_name else v for k, v in params.items()}


def _test_segment(strat: Any, window: pd.DataFrame, off: int, params: dict[str, Any] | None,
                  options: BacktestOptions, cash: float) -> tuple[pd.Series, pd.Series, pd.DataFrame]:
    """Simulate ``params`` over ``window`` trading only from bar ``off``; return the test part's
    equity, positions and trades (indices relative to the test part), flat at its end."""
    from peaktrade.backtest import from_signals
    from peaktrade.backtest.engine import resolve_params
    from peaktrade.backtest.enums import EXIT_REASON_NAMES, EXIT_WINDOW_END, trade_dt
    from peaktrade.backtest.result import trades_frame
    from peaktrade.strategies.base import prices_from_bars, signal_arrays

    n = len(window)
    if params is None or cash <= 0.0:  # nothing selectable, or the account is ruined: stay flat
        idx = window.index[off:]
        equity = pd.Series(max(cash, 0.0), index=idx, name="equity", dtype=float)
        empty = trades_frame(np.empty(0, dtype=trade_dt), idx)
        return equity, pd.Series(0.0, index=idx, name="position"), empty
    resolved, stops = resolve_params(strat, params)
    prices = prices_from_bars(window if "volume" in window else window.assign(volume=0.0))
    entries, exits = signal_arrays(strat, prices, resolved)
    entries[:off] = False
    exits[:off] = False
    res = from_signals(window["close"], entries, exits, open=window["open"], high=window["high"],
                       low=window["low"], **options.replace(**stops, init_cash=cash).to_dict())
    equity = res.equity.iloc[off:].copy()
    pos = res.positions.iloc[off:].copy()
    trades = res.trades.copy()
    trades["entry_idx"] -= off
    trades["exit_idx"] -= off
    if len(trades) and bool(trades["is_open"].iloc[-1]):
        # close the open position at the test window's last close, paying the exit costs
        i = trades.index[-1]
        costs = options.costs
        size = float(trades.at[i, "size"])
        c = float(window["close"].iloc[n - 1])
        long = int(trades.at[i, "direction"]) > 0
        fill = costs.fill_price("sell" if long else "buy", c)
        paid = costs.fee(size * fill)
        entry_px, entry_fees = float(trades.at[i, "entry_price"]), float(trades.at[i, "entry_fees"])
        pnl = (size * (fill - entry_px) if long else size * (entry_px - fill)) - entry_fees - paid
        equity.iloc[-1] += pnl - float(trades.at[i, "pnl"])
        pos.iloc[-1] = 0.0
        trades.loc[i, ["exit_price", "exit_fees", "pnl", "ret"]] = [
            fill, paid, pnl, pnl / (size * entry_px + entry_fees)]
        trades.loc[i, "exit_reason_code"] = EXIT_WINDOW_END
        trades.loc[i, "exit_reason"] = EXIT_REASON_NAMES[EXIT_WINDOW_END]
        trades.loc[i, "is_open"] = False
    return equity, pos, trades


def _stats_after_ruin() -> pd.Series:
    """Test stats of a fold that starts with a ruined account: nothing traded, nothing to measure."""
    from peaktrade.backtest.stats import ALL_STAT_KEYS

    st = pd.Series(math.nan, index=list(ALL_STAT_KEYS), name="stats")
    st[["n_trades", "total_fees", "final_equity", "ruined"]] = [0.0, 0.0, 0.0, 1.0]
    return st


def _train_sweep(strategy: Any, window: tuple[int, int], *, bars: pd.DataFrame, n_parts: int, progress: bool,
                 config: Any, kw: dict[str, Any]) -> Any:
    """One fold's train sweep (a task on a cluster: the bars are the copy scattered to its worker)."""
    from peaktrade.backtest import sweep

    a, b = window
    return sweep(strategy, bars.iloc[a:b], progress=progress, n_parts=n_parts, config=config, **kw)


def walk_forward(strategy: Any, bars: pd.DataFrame, *, train: Any, test: Any, step: Any = None,
                 anchored: bool = False, metric: str = "sharpe", minimize: bool = False, n_parts: int = 16,
                 progress: bool = False, config: Config | None = None, cluster: Any = None,
                 **kw: Any) -> WalkForwardResult:
    """Optimize on rolling (or anchored) train windows and trade each following test window.

    Parameters
    ----------
    strategy
        Strategy name or object.
    bars
        Bars DataFrame on a DatetimeIndex.
    train, test, step
        Window lengths: bar counts (int) or time spans (``"180D"``, ``pd.Timedelta``,
        ``pd.DateOffset``), not mixed. ``step`` (default ``test``) moves the windows; it must be
        at least ``test``.
    anchored
        Train windows all start at the first bar and grow by ``step`` (default: rolling windows of
        fixed length).
    metric, minimize
        Stat key the train sweeps are ranked by (see ``peaktrade.backtest.STAT_KEYS``) and whether
        lower is better.
    n_parts
        Passed to each train sweep (per-part return sums, kept in ``WalkForwardResult.sweeps``).
    progress
        Passed to each train sweep (a progress bar per sweep).
    config
        Where backtest options not given come from (its ``[backtest]`` section; default: the
        project's config, as for :func:`peaktrade.backtest.run` and ``peaktrade backtest``).
    cluster
        Where the train sweeps run (:func:`peaktrade.compute.backend`: ``"local"``, ``"local:N"``,
        ``"tcp://HOST:PORT"``; default the config's ``[compute]``): distributed, each fold's train sweep is
        a task and the bars are shipped once per worker; the folds are the same as in process.
    **kw
        Backtest options (scalars), parameter grids and ``space="declared"`` (the strategy's declared
        search space, see :func:`peaktrade.strategies.search_space`), forwarded to
        :func:`peaktrade.backtest.sweep`; the backtest options also apply to the test runs.

    Returns
    -------
    WalkForwardResult

    Notes
    -----
    See the module docstring for how windows, warm-up, open positions and stitching work.
    """
    from peaktrade.backtest import STAT_KEYS, compute_stats
    from peaktrade.backtest.engine import check_bars, pop_options
    from peaktrade.backtest.stats import buy_and_hold_equity
    from peaktrade.config import load_config
    from peaktrade.strategies.registry import get_strategy

    strat = get_strategy(strategy)
    check_bars(bars)
    if metric not in STAT_KEYS:
        raise BacktestError(bad_value("metric", metric, "one of " + ", ".join(STAT_KEYS)))
    if isinstance(n_parts, bool) or not isinstance(n_parts, (int, np.integer)) or n_parts < 1:
        raise BacktestError(bad_value("n_parts", n_parts, "a positive integer"))
    # parsed (validated) once, before any fold runs, on top of the config's defaults
    config = config if config is not None else load_config()
    kw = dict(kw)
    options, source = pop_options(kw, config, strategy=strat)
    kw.update(options.to_dict(stops=False))
    init_cash = options.init_cash
    windows, skipped = _windows(bars.index, train, test, step, anchored, max(2, int(n_parts)))
    if not windows:
        raise BacktestError(f"train={train!r}, test={test!r} give no fold with enough bars: bars has {len(bars)} rows "
                            f"({skipped} fold(s) skipped for data gaps)")

    rows: list[dict[str, Any]] = []
    eq_parts: list[pd.Series] = []
    pos_parts: list[pd.Series] = []
    trade_parts: list[pd.DataFrame] = []
    sweeps: list[Any] = []
    param_names: list[str] = []
    cash = init_cash
    bench_level = init_cash
    bench_parts: list[pd.Series] = []
    offset = 0
    from peaktrade.compute import backend, shippable_config, strategy_ref

    with backend(cluster, config=config, progress=progress) as be:
        # the train sweeps do not depend on each other (the test runs chain the cash, and are cheap)
        train_fn = functools.partial(_train_sweep, strategy_ref(strat, config) if be.distributed else strat,
                                     n_parts=int(n_parts), progress=progress and not be.distributed,
                                     config=shippable_config(config), kw=kw)
        train_sweeps = be.map(train_fn, [(a, b) for a, b, _, _ in windows], shared={"bars": bars},
                              title=f"walk-forward {strat.name}: {len(windows)} folds")
    for fold, (a, b, c, d) in enumerate(windows):
        sw = train_sweeps[fold]
        sweeps.append(sw)
        if not param_names:
            param_names = sw.param_names
        # a ruined combination is never selected, whatever its metric on the path up to the ruin
        if len(sw.table) and sw.eligible(metric).any():
            best_row = sw.best(metric, minimize=minimize)
            best = _typed(strat, sw.best_params(metric, minimize=minimize))
            train_value = float(best_row[metric])
        else:
            best, train_value = None, math.nan
        window = bars.iloc[a:d]
        equity, pos, trades = _test_segment(strat, window, c - a, best, options, cash)
        # buy and hold over the test window, from the level the previous fold's benchmark ended at
        bench = buy_and_hold_equity(bars.iloc[c:d], bench_level)
        bench_parts.append(bench)
        st = compute_stats(equity, pos, trades, init_cash=cash, benchmark=bench * (cash / bench_level)) \
            if cash > 0.0 else _stats_after_ruin()
        row: dict[str, Any] = {
            "fold": fold,
            "train_start": bars.index[a], "train_end": bars.index[b - 1],
            "test_start": bars.index[c], "test_end": bars.index[d - 1],
            "train_bars": b - a, "test_bars": d - c,
        }
        row.update({p: (best[p] if best is not None else None) for p in param_names})
        row[f"train_{metric}"] = train_value
        row["n_combos"] = len(sw.table)
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

    folds = pd.DataFrame(rows)
    oos_trades = pd.concat(trade_parts, ignore_index=True) if trade_parts else pd.DataFrame()
    oos_trades.index.name = "id"
    return WalkForwardResult(
        folds=folds,
        oos_equity=pd.concat(eq_parts).rename("equity"),
        oos_positions=pd.concat(pos_parts).rename("position"),
        oos_trades=oos_trades,
        metric=metric,
        params=param_names,
        init_cash=init_cash,
        strategy=strat.name,
        options=options.to_dict(),
        minimize=minimize,
        anchored=anchored,
        sweeps=sweeps,
        n_skipped_folds=skipped,
        oos_benchmark=pd.concat(bench_parts).rename("benchmark"),
        options_source=source,
    )


__all__ = ["WalkForwardResult", "walk_forward"]
