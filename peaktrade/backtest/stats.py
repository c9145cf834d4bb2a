"""Backtest statistics: pure functions returning a ``pd.Series`` with stable snake_case keys.

Annualization counts the bars actually observed per calendar year of a 24/7 market (365 days):
``bars per year = n / years`` with ``years = (last − first + interval) / 365 d`` and ``interval``
the most common spacing of the index. Without gaps that is exactly the nominal 365 d / interval
(hourly bars: 8,760); with missing bars it is lower (full BTC hourly history: ~7,588), so a
per-bar mean and std are scaled by the number of returns a year really holds. Durations are
calendar time from the timestamps, gaps included. Keys (``enums.STAT_KEYS``):

=========================  =========================================================================
total_return               final equity / initial cash − 1
cagr                       (final / initial) ** (1 / years) − 1, years = (last − first + interval) / 365 d
volatility                 std of bar returns (ddof=1) × sqrt(bars per year, observed)
sharpe                     mean / std of bar returns × sqrt(bars per year) (risk-free rate 0)
sortino                    mean / sqrt(mean(min(r, 0)²)) × sqrt(bars per year)
calmar                     cagr / max_drawdown
max_drawdown               largest peak-to-trough fall of equity, a positive fraction (initial cash is
                           the first peak)
max_drawdown_duration      longest calendar time from a peak's close to the close that recovers it (or to
                           the end of the path), in days
exposure                   share of bars with an open position at the close
n_trades                   trades, the one still open at the end included
win_rate                   share of closed trades with pnl > 0
profit_factor              gross profit / gross loss of closed trades
expectancy                 mean pnl per closed trade (quote currency, net of fees)
avg_trade_return           mean return per closed trade
best_trade / worst_trade   best / worst closed-trade return
avg_holding_time           mean calendar time from the entry bar to the exit bar per closed trade, in
                           days
total_fees                 all fees paid
final_equity               equity at the last close
ruined                     1.0 if equity reached zero (the account was liquidated), else 0.0
ruin_time                  days from the open of the first bar to the open of the ruin bar (NaN if
                           not ruined); ``BacktestResult.ruin_time`` gives the timestamp
=========================  =========================================================================

Benchmark keys (:data:`BENCHMARK_KEYS`, after ``STAT_KEYS`` in every ``stats()`` and sweep table): a
buy-and-hold of the same bars, bought at the first bar's open with the initial cash and held to the
last close, gross of costs (the reference a strategy's net result has to beat). Its statistics use the
same kernels, annualization and gap semantics as the strategy's:

=========================  =========================================================================
benchmark_return           last close / first open − 1
benchmark_sharpe           Sharpe of the buy-and-hold bar returns (as ``sharpe``)
benchmark_max_drawdown     largest peak-to-trough fall of the buy-and-hold equity (as ``max_drawdown``)
excess_return              total_return − benchmark_return
=========================  =========================================================================

Bar returns are equity[t] / equity[t−1] − 1 with equity[−1] = initial cash. The path ends at a
ruin: every per-bar statistic (returns, volatility, Sharpe, Sortino, drawdowns, exposure) uses the
bars up to and including the bar on which equity reached zero, never a bar after it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from peaktrade.backtest.enums import STAT_KEYS, trade_dt
from peaktrade.backtest.nb import N_STATS, finalize_stats_nb, stats_from_series_nb
from peaktrade.errors import BacktestError

YEAR = pd.Timedelta(days=365)

#: The buy-and-hold benchmark's keys, after ``STAT_KEYS`` in every stats Series and sweep table.
BENCHMARK_KEYS = ("benchmark_return", "benchmark_sharpe", "benchmark_max_drawdown", "excess_return")
#: Every key of ``BacktestResult.stats()``: the strategy's, then the benchmark's.
ALL_STAT_KEYS = (*STAT_KEYS, *BENCHMARK_KEYS)


def bar_interval(index: pd.DatetimeIndex) -> pd.Timedelta:
    """Return the bar interval: the most common spacing of ``index``."""
    if len(index) < 2:
        raise BacktestError(f"bars has {len(index)} row(s): expected at least 2 to infer the bar interval")
    diffs = np.diff(index.asi8)
    vals, counts = np.unique(diffs, return_counts=True)
    step = int(vals[np.argmax(counts)])
    if step <= 0:
        raise BacktestError("bars index is not strictly increasing: expected sorted unique timestamps")
    return pd.Timedelta(step, unit=getattr(index, "unit", "ns"))


def annualization(index: pd.DatetimeIndex) -> tuple[float, float, float]:
    """Return (observed bars per year, years covered, days per bar) for a bar index.

    Observed bars per year = ``len(index) / years``; without gaps it equals the nominal
    ``365 d / interval`` exactly (the ratio below is then 1.0 to the bit).
    """
    return _annualization(index, bar_interval(index))


def _annualization(index: pd.DatetimeIndex, step: pd.Timedelta) -> tuple[float, float, float]:
    span = (index[-1] - index[0]) + step
    nominal = YEAR / step
    coverage = len(index) * step.value / span.value  # share of the span's bar slots that hold a bar
    return nominal * coverage, span / YEAR, step / pd.Timedelta(days=1)


def nominal_bars_per_year(index: pd.DatetimeIndex) -> float:
    """Return 365 d / bar interval (a causal factor: it does not depend on the bars still to come)."""
    return YEAR / bar_interval(index)


def close_days(index: pd.DatetimeIndex) -> np.ndarray:
    """Return each bar's close time in days from the first bar's open (what the kernels measure
    durations with)."""
    return _close_days(index, bar_interval(index))


def _close_days(index: pd.DatetimeIndex, step: pd.Timedelta) -> np.ndarray:
    return np.ascontiguousarray(((index - index[0]) + step) / pd.Timedelta(days=1), dtype=np.float64)


def time_axis(index: pd.DatetimeIndex) -> tuple[np.ndarray, float, float]:
    """Return (:func:`close_days`, observed bars per year, years covered) of a bar index, its interval
    inferred once (a sweep needs all three; each alone infers it again)."""
    step = bar_interval(index)
    ann, years, _ = _annualization(index, step)
    return _close_days(index, step), ann, years


def _records_from_trades(trades: pd.DataFrame) -> np.ndarray:
    rec = np.zeros(len(trades), dtype=trade_dt)
    for name in trade_dt.names:
        if name in trades:
            rec[name] = trades[name].to_numpy()
    return rec


def stats_from_acc(acc: np.ndarray, *, init_cash: float, index: pd.DatetimeIndex) -> pd.Series:
    """Return the stats Series from finished accumulators (shared by runs and sweeps)."""
    ann, years, _ = annualization(index)
    out = np.empty(N_STATS)
    finalize_stats_nb(acc, float(init_cash), ann, years, out)
    return pd.Series(out, index=list(STAT_KEYS), name="stats")


def buy_and_hold_equity(bars: pd.DataFrame, init_cash: float = 1.0) -> pd.Series:
    """Return the equity of ``init_cash`` put into the first bar's open and held to each close (no costs)."""
    return (float(init_cash) * bars["close"].astype(np.float64) / float(bars["open"].iloc[0])).rename("benchmark")


def _path_stats(equity: np.ndarray, init_cash: float, axis: tuple[np.ndarray, float, float]) -> np.ndarray:
    """Return the STAT_KEYS values of an always-invested equity path with no trades (the benchmark) over a
    :func:`time_axis`."""
    days, ann, years = axis
    acc = stats_from_series_nb(np.ascontiguousarray(equity, dtype=np.float64), np.ones(len(equity)),
                               np.zeros(0, dtype=trade_dt), float(init_cash), days)
    out = np.empty(N_STATS)
    finalize_stats_nb(acc, float(init_cash), ann, years, out)
    return out


_B_RET, _B_SHARPE, _B_MDD = (STAT_KEYS.index(k) for k in ("total_return", "sharpe", "max_drawdown"))


def benchmark_values(close: np.ndarray, first_open: float, *, init_cash: float,
                     axis: tuple[np.ndarray, float, float]) -> tuple[float, float, float]:
    """Return (benchmark_return, benchmark_sharpe, benchmark_max_drawdown) of the buy-and-hold of bars with
    these closes and first open (as :func:`buy_and_hold_equity`) over their :func:`time_axis`: what
    :func:`benchmark_stats` returns, from arrays (a sweep has them; a Series costs ~ms)."""
    st = _path_stats(float(init_cash) * np.asarray(close, dtype=np.float64) / float(first_open), init_cash, axis)
    return float(st[_B_RET]), float(st[_B_SHARPE]), float(st[_B_MDD])


def benchmark_stats(benchmark: pd.Series | None, *, init_cash: float, total_return: float | np.ndarray) -> pd.Series:
    """Return the :data:`BENCHMARK_KEYS` of a buy-and-hold equity path (``None``: all NaN) against a
    strategy's ``total_return`` (a scalar, or an array of them: a sweep's rows)."""
    if benchmark is None or len(benchmark) < 2:
        return pd.Series(np.nan, index=list(BENCHMARK_KEYS), name="stats")
    st = _path_stats(benchmark.to_numpy(dtype=np.float64), init_cash, time_axis(benchmark.index))
    b = float(st[_B_RET])
    return pd.Series([b, float(st[_B_SHARPE]), float(st[_B_MDD]), total_return - b],
                     index=list(BENCHMARK_KEYS), name="stats")


def compute_stats(
    equity: pd.Series, position: pd.Series, trades: pd.DataFrame, *, init_cash: float,
    benchmark: pd.Series | None = None,
) -> pd.Series:
    """Return the statistics of a backtest from its equity, position and trades.

    Parameters
    ----------
    equity, position
        Per-bar equity and signed position at the close, on a DatetimeIndex.
    trades
        Trade table as produced by :class:`~peaktrade.backtest.BacktestResult` (needs ``pnl``,
        ``ret``, ``entry_idx``, ``exit_idx``, ``entry_fees``, ``exit_fees``, ``exit_reason_code``).
    init_cash
        Equity before the first bar.
    benchmark
        Buy-and-hold equity over the same bars, starting from ``init_cash``
        (:func:`buy_and_hold_equity`); without it the :data:`BENCHMARK_KEYS` are NaN.
    """
    if len(equity) != len(position):
        raise BacktestError(f"equity has {len(equity)} rows but position has {len(position)}")
    if not (float(init_cash) > 0.0 and np.isfinite(init_cash)):
        raise BacktestError(f"init_cash={init_cash!r} is invalid: expected a positive finite number (an account "
                            "that starts at zero is already ruined)")
    rec = _records_from_trades(
        trades.drop(columns=["exit_reason"]).rename(columns={"exit_reason_code": "exit_reason"})
    )
    acc = stats_from_series_nb(
        np.ascontiguousarray(equity.to_numpy(dtype=np.float64)),
        np.ascontiguousarray(position.to_numpy(dtype=np.float64)),
        rec,
        float(init_cash),
        close_days(equity.index),
    )
    st = stats_from_acc(acc, init_cash=init_cash, index=equity.index)
    bench = benchmark_stats(benchmark, init_cash=init_cash, total_return=float(st["total_return"]))
    return pd.concat([st, bench]).rename("stats")


# -- readable values ----------------------------------------------------------------------------
#: Keys shown as percentages (fractions in the Series), durations in days, counts, and money.
PERCENT_KEYS = frozenset({"total_return", "cagr", "volatility", "max_drawdown", "exposure", "win_rate",
                          "avg_trade_return", "best_trade", "worst_trade", "benchmark_return",
                          "benchmark_max_drawdown", "excess_return"})
DAYS_KEYS = frozenset({"max_drawdown_duration", "avg_holding_time", "ruin_time"})
COUNT_KEYS = frozenset({"n_trades"})
MONEY_KEYS = frozenset({"expectancy", "total_fees", "final_equity"})
RATIO_KEYS = frozenset({"sharpe", "sortino", "calmar", "profit_factor", "benchmark_sharpe"})


def format_days(days: float) -> str:
    """Return a duration in days with a unit: ``"3.2 h"``, ``"12.5 d"``, ``"1.4 y (512 d)"``."""
    if days < 1.0:
        return f"{days * 24:.3g} h"
    if days < 365.0:
        return f"{days:.4g} d"
    return f"{days / 365:.3g} y ({days:,.0f} d)"


def format_stat(key: str, value: object) -> str:
    """Return a stat value as a person reads it: percentages as %, durations with units, counts as
    integers, money with thousands separators; NaN as ``"-"``. ``ruined`` reads yes/no."""
    if value is None:
        return "-"
    if not isinstance(value, (int, float, np.floating, np.integer)) or isinstance(value, bool):
        return str(value)
    v = float(value)
    if np.isnan(v):
        return "-"
    base = key.removeprefix("test_").removeprefix("train_")
    if base in PERCENT_KEYS:
        return f"{v * 100:+,.2f} %" if base in ("total_return", "cagr", "excess_return", "benchmark_return",
                                                "avg_trade_return", "best_trade", "worst_trade") else f"{v * 100:,.2f} %"
    if base in DAYS_KEYS:
        return format_days(v)
    if base in COUNT_KEYS:
        return f"{v:,.0f}"
    if base == "ruined":
        return "yes" if v else "no"
    if base in MONEY_KEYS:
        return f"{v:,.2f}"
    if base in RATIO_KEYS:
        return f"{v:,.2f}" if np.isfinite(v) else str(v)
    return f"{v:,.4g}" if abs(v) < 1e6 else f"{v:,.0f}"


def format_stats(stats: pd.Series) -> pd.Series:
    """Return a stats Series (or a sweep/fold row) as readable strings (see :func:`format_stat`)."""
    return pd.Series({k: format_stat(str(k), v) for k, v in stats.items()}, name=stats.name, dtype=object)


def format_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Return a table of stats columns (a sweep table, walk-forward folds, stress rows) with every known
    stat column as readable strings (see :func:`format_stat`); other columns are left as they are."""
    known = PERCENT_KEYS | DAYS_KEYS | COUNT_KEYS | MONEY_KEYS | RATIO_KEYS | {"ruined"}
    out = df.copy()
    for c in df.columns:
        if str(c).removeprefix("test_").removeprefix("train_") in known:
            out[c] = df[c].map(lambda v, c=str(c): format_stat(c, v)).astype(object)
    return out
