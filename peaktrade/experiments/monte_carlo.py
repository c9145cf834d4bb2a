"""Monte Carlo resampling of a backtest, and cost sensitivity.

Methods of :func:`monte_carlo`:

``"iid"``
    Bootstrap of bar returns: each path draws its bar returns with replacement (destroys
    autocorrelation and volatility clustering).
``"block"``
    Moving-block bootstrap (Künsch, 1989): each path concatenates blocks of ``block`` consecutive
    bar returns starting at uniformly drawn bars in ``0 .. n − block`` (no wrap-around), cut to n
    bars. Keeps the dependence inside a block.
``"trades"``
    Trade-order shuffle. The backtest's bar returns are cut into **trade segments**: each trade's
    bars from its entry bar up to the next trade's entry (its exit and the flat bars after it
    included; the flat bars before the first trade are a segment of their own), the trade still
    open at the end included. The segments are permuted without replacement and concatenated, so a
    path has one step per bar and keeps every trade's intra-trade swings. The final return and the
    Sharpe ratio are the same on every path (neither depends on the order): what varies is the
    path, hence the drawdown.
``"trades_bootstrap"``
    Trade segments drawn with replacement, concatenated and cut to the number of bars (the final
    return varies too).

The Sharpe ratio of a path is annualized from the bar interval as in :mod:`peaktrade.backtest.stats`
(mean / std of the bar returns, ddof=1, × sqrt(bars per year)).

``observed_*`` in the summary is the backtest itself: for a :class:`~peaktrade.backtest.BacktestResult`
source, its ``stats()`` ``total_return``, ``max_drawdown`` and ``sharpe`` (the unshuffled path of
every method is the backtest's own bar-return path); for a returns Series, the unshuffled series.

The random draws come from ``numpy.random.default_rng(seed)`` in the Python layer, sims in chunks
of a size fixed by the data length; the same seed gives identical results.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from peaktrade.errors import BacktestError, bad_value

METHODS = ("iid", "block", "trades", "trades_bootstrap")
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
_DRAWS_PER_CHUNK = 4_000_000  # draws held in memory at once


@dataclass
class MonteCarloResult:
    """Distribution of resampled paths.

    Attributes
    ----------
    distribution : pandas.DataFrame
        One row per simulation: ``final_return``, ``max_drawdown`` (positive fraction),
        ``sharpe`` (annualized), ``final_equity``.
    quantiles : pandas.DataFrame
        Index ``step`` (0 = start; one step per bar for every method), columns ``q05 q25 q50 q75
        q95``: quantiles across simulations of the equity as a multiple of the start. At most
        ``max_steps`` + 1 evenly spaced steps (the last one included).
    summary : pandas.Series
        ``prob_loss``, ``final_return_q05/q50/q95``, ``max_drawdown_q50/q95``,
        ``sharpe_q05/q50/q95``, ``observed_final_return``, ``observed_max_drawdown``,
        ``observed_sharpe`` (the backtest's own ``total_return``, ``max_drawdown``, ``sharpe``),
        ``n_steps``, ``n_sims``, ``method``.
    method : str
    """

    distribution: pd.DataFrame
    quantiles: pd.DataFrame
    summary: pd.Series
    method: str
    seed: Any = None

    def plot(self):
        """Return a plotly fan chart of the equity quantiles."""
        import plotly.graph_objects as go

        q = self.quantiles
        fig = go.Figure()
        fig.add_trace(go.Scatter(x=q.index, y=q["q95"], line=dict(width=0), showlegend=False))
        fig.add_trace(go.Scatter(x=q.index, y=q["q05"], fill="tonexty", line=dict(width=0), name="q05–q95"))
        fig.add_trace(go.Scatter(x=q.index, y=q["q75"], line=dict(width=0), showlegend=False))
        fig.add_trace(go.Scatter(x=q.index, y=q["q25"], fill="tonexty", line=dict(width=0), name="q25–q75"))
        fig.add_trace(go.Scatter(x=q.index, y=q["q50"], name="median", line=dict(color="black")))
        fig.update_layout(title=f"Monte Carlo ({self.method}, {len(self.distribution)} paths)",
                          xaxis_title="step", yaxis_title="equity / start")
        return fig


def _int_arg(name: str, v: Any, low: int) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < low:
        raise BacktestError(bad_value(name, v, f"an integer >= {low}"))
    return int(v)


def _source_returns(source: Any) -> tuple[np.ndarray, pd.DatetimeIndex, float | None]:
    from peaktrade.backtest import BacktestResult

    if isinstance(source, BacktestResult):
        r = source.returns
        ruin = source.ruin_time
        if ruin is not None:  # the path up to the ruin bar (its return is -1); nothing after it is a return
            r = r.loc[:ruin]
        return r.to_numpy(dtype=float), r.index, source.init_cash
    if isinstance(source, pd.Series):
        if not isinstance(source.index, pd.DatetimeIndex):
            raise BacktestError(f"source index is a {type(source.index).__name__}: expected a DatetimeIndex "
                                "(the bar interval annualizes the Sharpe ratio)")
        return source.to_numpy(dtype=float), source.index, None
    raise BacktestError(f"source is a {type(source).__name__}: expected a BacktestResult or a returns Series")


def trade_returns(result: Any) -> np.ndarray:
    """Return each closed trade's return on equity: ``pnl / equity before the trade``.

    A trade-level summary (not what the ``"trades"`` methods resample: they shuffle trade segments
    of bar returns, see :func:`trade_segments`).

    With one position at a time the equity before a trade is the initial cash plus the pnl of the
    trades closed before it, so compounding these returns in order gives the real final equity
    of the closed trades. The trade still open at the end, if any, is left out.
    """
    tr = result.trades
    closed = tr[~tr["is_open"]].sort_values("exit_idx", kind="stable")
    pnl = closed["pnl"].to_numpy(dtype=float)
    before = result.init_cash + np.concatenate([[0.0], np.cumsum(pnl)[:-1]])
    return pnl / before


def trade_segments(result: Any) -> np.ndarray:
    """Return the first bar of each trade segment: bar 0 and every trade's entry bar, increasing.

    Segment ``k`` runs from its first bar to the next one's (the last to the end), so the
    segments partition the bar returns and each trade, the open one included, lies in one segment.
    """
    entries = result.trades["entry_idx"].to_numpy(dtype=np.int64)
    return np.unique(np.concatenate([[0], entries]))


def _segment_draws(rng: np.random.Generator, k: int, seg_start: np.ndarray, n: int, replace: bool) -> np.ndarray:
    """Return ``(k, n)`` bar indices: each row concatenates segments (permuted, or drawn with replacement)."""
    seg_len = np.diff(np.append(seg_start, n))
    m = seg_start.shape[0]
    out = np.empty((k, n), dtype=np.int64)
    steps = np.arange(n, dtype=np.int64)
    for row in range(k):
        if replace:
            ids = rng.integers(0, m, size=m)
            while seg_len[ids].sum() < n:
                ids = np.concatenate([ids, rng.integers(0, m, size=m)])
        else:
            ids = rng.permutation(m)
        lens = seg_len[ids]
        ends = np.cumsum(lens)
        # bar index = segment start + position inside the segment = steps - (segment offset - start)
        shift = np.repeat(seg_start[ids] - (ends - lens), lens)
        out[row] = steps + shift[:n]
    return out


def _grid(n_steps: int, max_steps: int) -> np.ndarray:
    if n_steps <= max_steps:
        return np.arange(n_steps + 1, dtype=np.int64)
    return np.unique(np.linspace(0, n_steps, max_steps + 1).round().astype(np.int64))


def _draws(method: str, rng: np.random.Generator, k: int, n: int, block: int) -> np.ndarray:
    if method == "iid":
        return rng.integers(0, n, size=(k, n), dtype=np.int64)
    if method == "block":
        return rng.integers(0, n - block + 1, size=(k, -(-n // block)), dtype=np.int64)
    raise AssertionError(method)


def monte_carlo(source: Any, *, method: str = "iid", n_sims: int = 1000, block: int = 24, seed: Any = 0,
                init_cash: float | None = None, max_steps: int = 1000) -> MonteCarloResult:
    """Resample a backtest's returns or trades into a distribution of equity paths.

    Parameters
    ----------
    source
        A :class:`~peaktrade.backtest.BacktestResult`, or (for ``"iid"`` and ``"block"``) a Series
        of bar returns on a DatetimeIndex.
    method
        ``"iid"``, ``"block"`` (moving-block bootstrap), ``"trades"`` (trade-order shuffle) or
        ``"trades_bootstrap"``; see the module docstring.
    n_sims
        Number of simulated paths.
    block
        Block length in bars for ``"block"``.
    seed
        Seed of ``numpy.random.default_rng``; the same seed gives identical results.
    init_cash
        Starting equity for ``final_equity`` (default: the backtest's initial cash, or 1).
    max_steps
        Most steps kept in ``quantiles`` (evenly spaced, the last step included).

    Returns
    -------
    MonteCarloResult
    """
    from peaktrade.backtest import BacktestResult
    from peaktrade.backtest.stats import annualization
    from peaktrade.experiments import nb

    if method not in METHODS:
        raise BacktestError(bad_value("method", method, "one of " + ", ".join(map(repr, METHODS))))
    n_sims = _int_arg("n_sims", n_sims, 1)
    max_steps = _int_arg("max_steps", max_steps, 1)
    if method.startswith("trades") and not isinstance(source, BacktestResult):
        raise BacktestError(f"source is a {type(source).__name__}: method={method!r} needs a BacktestResult "
                            "(its trades)")
    r, index, cash0 = _source_returns(source)
    if r.shape[0] < 2:
        raise BacktestError(f"source has {r.shape[0]} return(s): expected at least 2")
    ann = annualization(index)[0]
    segments = None
    if method.startswith("trades"):
        segments = trade_segments(source)
        if source.trades.shape[0] < 2:
            raise BacktestError(f"the backtest has {source.trades.shape[0]} trade(s): method={method!r} "
                                "needs at least 2")
    if not np.isfinite(r).all() or (r < -1.0).any():
        raise BacktestError("source has NaN, inf or returns < -1: expected finite simple returns >= -1 "
                            "(-1 is a ruin)")
    n = r.shape[0]
    blk = 1
    if method == "block":
        blk = _int_arg("block", block, 1)
        if blk > n:
            raise BacktestError(bad_value("block", block, f"an integer in [1, {n}] (the number of returns)"))
    try:
        cash = float(init_cash) if init_cash is not None else float(cash0 if cash0 is not None else 1.0)
    except (TypeError, ValueError):
        cash = math.nan
    if not (cash > 0 and math.isfinite(cash)):
        raise BacktestError(bad_value("init_cash", init_cash, "a positive finite number"))

    r = np.ascontiguousarray(r, dtype=np.float64)
    grid = _grid(n, max_steps)
    stats = np.empty((n_sims, nb.MC_N_STATS))
    paths = np.empty((n_sims, grid.shape[0]))
    rng = np.random.default_rng(seed)
    chunk = max(1, _DRAWS_PER_CHUNK // n)
    for a in range(0, n_sims, chunk):
        b = min(a + chunk, n_sims)
        if segments is not None:
            starts = _segment_draws(rng, b - a, segments, n, method == "trades_bootstrap")
        else:
            starts = _draws(method, rng, b - a, n, blk)
        nb.resample_paths_nb(r, starts, blk, n, grid, ann, stats[a:b], paths[a:b])
    observed = np.empty((1, nb.MC_N_STATS))
    nb.resample_paths_nb(r, np.arange(n, dtype=np.int64)[None, :], 1, n, grid, ann, observed,
                         np.empty((1, grid.shape[0])))
    if isinstance(source, BacktestResult):
        # the backtest's own numbers, not a recomputation: "observed" is exactly what stats() reports
        st = source.stats()
        observed[0, nb.MC_FINAL_RETURN] = float(st["total_return"])
        observed[0, nb.MC_MAX_DRAWDOWN] = float(st["max_drawdown"])
        observed[0, nb.MC_SHARPE] = float(st["sharpe"])

    dist = pd.DataFrame(stats, columns=["final_return", "max_drawdown", "sharpe"])
    dist["final_equity"] = cash * (1.0 + dist["final_return"])
    dist.index.name = "sim"
    qs = np.quantile(paths, QUANTILES, axis=0).T
    quant = pd.DataFrame(qs, index=pd.Index(grid, name="step"),
                         columns=[f"q{int(round(q * 100)):02d}" for q in QUANTILES])

    def q(col: str, p: float) -> float:
        v = dist[col].to_numpy()
        v = v[np.isfinite(v)]
        return float(np.quantile(v, p)) if v.shape[0] else math.nan

    summary = pd.Series({
        "prob_loss": float(np.mean(dist["final_return"].to_numpy() < 0.0)),
        "final_return_q05": q("final_return", 0.05),
        "final_return_q50": q("final_return", 0.5),
        "final_return_q95": q("final_return", 0.95),
        "max_drawdown_q50": q("max_drawdown", 0.5),
        "max_drawdown_q95": q("max_drawdown", 0.95),
        "sharpe_q05": q("sharpe", 0.05),
        "sharpe_q50": q("sharpe", 0.5),
        "sharpe_q95": q("sharpe", 0.95),
        "observed_final_return": float(observed[0, nb.MC_FINAL_RETURN]),
        "observed_max_drawdown": float(observed[0, nb.MC_MAX_DRAWDOWN]),
        "observed_sharpe": float(observed[0, nb.MC_SHARPE]),
        "n_steps": n,
        "n_sims": n_sims,
        "method": method,
    }, name="monte_carlo", dtype=object)
    return MonteCarloResult(distribution=dist, quantiles=quant, summary=summary, method=method, seed=seed)


# --------------------------------------------------------------------------------------------
# cost sensitivity

DEFAULT_FEES = (0.0, 0.001, 0.0026, 0.004)
DEFAULT_SLIPPAGE = (0.0, 0.0005, 0.001)


def _levels(name: str, v: Any) -> list[float]:
    vals = [v] if isinstance(v, (int, float, np.number)) else list(v) if isinstance(v, Iterable) else None
    if not vals or any(isinstance(x, bool) or not isinstance(x, (int, float, np.number)) for x in vals):
        raise BacktestError(bad_value(name, v, "a number or a non-empty list of numbers"))
    return [float(x) for x in vals]


def cost_sensitivity(strategy: Any, bars: pd.DataFrame, *, fees: Any = DEFAULT_FEES,
                     slippage: Any = DEFAULT_SLIPPAGE, **params: Any) -> pd.DataFrame:
    """Return the backtest stats of one parameter set at every (fees, slippage) level.

    Parameters
    ----------
    strategy
        Strategy name or object.
    bars
        Bars DataFrame.
    fees, slippage
        Cost levels (a number or a list); every combination is run with
        :func:`peaktrade.backtest.run`.
    **params
        Strategy parameters and other backtest options, as for ``run``.

    Returns
    -------
    pandas.DataFrame
        One row per level: ``fees``, ``slippage``, then the stat keys.
    """
    from peaktrade.backtest import run

    rows = []
    for f, s in itertools.product(_levels("fees", fees), _levels("slippage", slippage)):
        st = run(strategy, bars, fees=f, slippage=s, **params).stats()
        rows.append({"fees": f, "slippage": s, **st.to_dict()})
    return pd.DataFrame(rows)


__all__ = ["METHODS", "MonteCarloResult", "cost_sensitivity", "monte_carlo", "trade_returns", "trade_segments"]
