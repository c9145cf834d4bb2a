"""``PortfolioResult``: the pandas face of one portfolio simulation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from peaktrade.backtest.result import EquityViews

#: Keys of ``PortfolioResult.stats()`` after the single backtest's ``ALL_STAT_KEYS``.
PORTFOLIO_KEYS = ("turnover", "avg_correlation", "n_orders", "n_rebalances")


def equal_weight_benchmark(close: pd.DataFrame, init_cash: float) -> pd.Series:
    """Equal-weight buy and hold without costs of closes carried forward (see :meth:`PortfolioResult.benchmark`)."""
    first = close.bfill().iloc[0]
    growth = (close / first).fillna(1.0)
    return (init_cash * growth.mean(axis=1)).rename("benchmark")


def mean_correlation(returns: pd.DataFrame | None) -> float:
    """Mean pairwise correlation of the columns of ``returns`` (over the rows both have; NaN for one column)."""
    if returns is None or returns.shape[1] < 2:
        return float("nan")
    c = returns.corr().to_numpy()
    vals = c[np.triu_indices_from(c, k=1)]
    vals = vals[np.isfinite(vals)]
    return float(vals.mean()) if len(vals) else float("nan")


@dataclass
class PortfolioResult(EquityViews):
    """Per-bar series, orders and trades of one portfolio backtest.

    Attributes
    ----------
    equity, cash : pd.Series
        At each bar's close (positions valued at the last close of each symbol).
    positions : pd.DataFrame
        Units held per symbol at each close.
    weights : pd.DataFrame
        Each symbol's share of equity at each close (what drifts between rebalances).
    target_weights : pd.DataFrame
        The targets the rebalances order to (NaN: not listed yet).
    orders : pd.DataFrame
        Every fill: time, symbol, side, size, price (slippage included), fees, notional.
    trades : pd.DataFrame
        Position parts closed by sells (and the parts still open at the end), as in single backtests,
        with a ``symbol`` column.
    """

    index: pd.DatetimeIndex
    symbols: list[str]
    close: pd.DataFrame  # carried forward
    equity: pd.Series
    cash: pd.Series
    positions: pd.DataFrame
    target_weights: pd.DataFrame
    orders: pd.DataFrame
    trades: pd.DataFrame
    rebalance_bars: pd.Series
    init_cash: float
    skipped: dict[str, int] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    options_source: str = ""
    alloc: dict[str, Any] = field(default_factory=dict)
    rebalance: str = ""
    mode: str = "shared"
    strategy: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    returns_matrix: pd.DataFrame | None = None

    @classmethod
    def build(cls, *, aligned: Any, equity: np.ndarray, cash: np.ndarray, positions: np.ndarray, orders: np.ndarray,
              trades: np.ndarray, tcol: np.ndarray, skipped: np.ndarray, ruin: int, target: np.ndarray,
              rebalance_bars: np.ndarray, **meta: Any) -> PortfolioResult:
        from peaktrade.backtest.result import trades_frame
        from peaktrade.portfolio.enums import SKIP_NAMES

        idx, syms = aligned.index, aligned.symbols
        execution = meta.get("options", {}).get("execution", "next_open")
        od = pd.DataFrame.from_records(orders) if len(orders) else pd.DataFrame(
            {n: pd.Series(dtype=orders.dtype[n]) for n in orders.dtype.names})
        step = pd.Timedelta(0)
        if execution == "close" and len(idx) > 1:
            from peaktrade.backtest.stats import bar_interval

            step = bar_interval(idx)
        od.insert(2, "time", idx[od["idx"].to_numpy()] + step)  # fill time: the close, or the open
        od.insert(3, "symbol", np.asarray(syms, dtype=object)[od["col"].to_numpy()] if len(od) else
                  pd.Series(dtype=object))
        od["side"] = np.where(od["side"].to_numpy() > 0, "buy", "sell") if len(od) else pd.Series(dtype=object)
        od["notional"] = od["size"] * od["price"]
        tr = trades_frame(trades, idx, execution=execution)
        tr.insert(0, "symbol", np.asarray(syms, dtype=object)[tcol] if len(tcol) else pd.Series(dtype=object))
        return cls(
            index=idx, symbols=list(syms),
            close=pd.DataFrame(aligned.close_ffill, index=idx, columns=syms),
            equity=pd.Series(equity, index=idx, name="equity"),
            cash=pd.Series(cash, index=idx, name="cash"),
            positions=pd.DataFrame(positions, index=idx, columns=syms),
            target_weights=pd.DataFrame(target, index=idx, columns=syms),
            orders=od.set_index("id"), trades=tr, rebalance_bars=pd.Series(rebalance_bars, index=idx, name="rebalance"),
            skipped=dict(zip(SKIP_NAMES, (int(x) for x in skipped), strict=True)),
            returns_matrix=pd.DataFrame(aligned.returns(), index=idx, columns=syms),
            **meta,
        )

    # -- views ---------------------------------------------------------------------------------
    @property
    def values(self) -> pd.DataFrame:
        """Value of each position at each close."""
        return (self.positions * self.close.fillna(0.0)).where(self.positions != 0.0, 0.0)

    @property
    def weights(self) -> pd.DataFrame:
        """Each symbol's share of equity at each close (0 after a ruin)."""
        eq = self.equity.where(self.equity > 0.0)
        return self.values.div(eq, axis=0).fillna(0.0)

    @property
    def costs(self) -> str:
        """One line stating the costs and execution of this run (and where they came from)."""
        from peaktrade.backtest.options import describe_options

        return describe_options({**self.options, "direction": "long"}, self.options_source or None)

    @property
    def ruin_time(self) -> pd.Timestamp | None:
        """Open time of the bar on which equity reached zero, else None."""
        hit = np.flatnonzero(self.equity.to_numpy() <= 0.0)
        return self.index[hit[0]] if len(hit) else None

    def contribution(self) -> pd.Series:
        """Each symbol's net profit (realized and open, fees included) as a fraction of the initial cash;
        the sum is the total return."""
        pnl = self.trades.groupby("symbol")["pnl"].sum() if len(self.trades) else pd.Series(dtype=float)
        return (pnl.reindex(self.symbols).fillna(0.0) / self.init_cash).rename("contribution")

    def contribution_path(self) -> pd.DataFrame:
        """Cumulative contribution of each symbol at each close: position value minus the net cash it took
        (buys with fees, less sells net of fees), over the initial cash."""
        flow = pd.DataFrame(0.0, index=self.index, columns=self.symbols)
        if len(self.orders):
            o = self.orders
            signed = np.where(o["side"] == "buy", o["notional"] + o["fees"], -(o["notional"] - o["fees"]))
            per = pd.DataFrame({"idx": o["idx"].to_numpy(), "symbol": o["symbol"].to_numpy(), "flow": signed})
            agg = per.groupby(["idx", "symbol"])["flow"].sum().unstack(fill_value=0.0)
            flow.iloc[agg.index.to_numpy(), [self.symbols.index(s) for s in agg.columns]] = agg.to_numpy()
        return (self.values - flow.cumsum()) / self.init_cash

    def turnover(self) -> float:
        """Traded notional per year over the mean equity (1.0: the whole book traded once a year)."""
        from peaktrade.backtest.stats import annualization

        _, years, _ = annualization(self.index)
        mean_eq = float(self.equity.mean())
        if not (mean_eq > 0 and years > 0):
            return float("nan")
        return float(self.orders["notional"].sum()) / mean_eq / years if len(self.orders) else 0.0

    def avg_correlation(self) -> float:
        """Mean pairwise correlation of the symbols' bar returns (over the bars both have)."""
        return mean_correlation(self.returns_matrix)

    def benchmark(self) -> pd.Series:
        """Equal-weight buy and hold without costs: the initial cash split equally, each share bought at
        its symbol's first close and held (carried forward over missing bars; cash until listed)."""
        return equal_weight_benchmark(self.close, self.init_cash)

    def stats(self) -> pd.Series:
        """Return the statistics: the single backtest's keys (same definitions, exposure = share of bars
        holding any position, trades = position parts closed), then turnover, average correlation, the
        number of orders and of bars that traded (rebalances)."""
        from peaktrade.backtest.stats import compute_stats

        gross = self.values.abs().sum(axis=1)
        trades = self.trades.drop(columns=["symbol"])
        st = compute_stats(self.equity, gross, trades, init_cash=self.init_cash, benchmark=self.benchmark())
        extra = pd.Series([self.turnover(), self.avg_correlation(), float(len(self.orders)),
                           float(self.orders["idx"].nunique()) if len(self.orders) else 0.0], index=list(PORTFOLIO_KEYS))
        return pd.concat([st, extra]).rename("stats")

    def summary(self) -> pd.Series:
        """Return :meth:`stats` as readable strings."""
        from peaktrade.backtest.stats import format_stats

        return format_stats(self.stats())

    def plot(self, *, log: bool = False):
        """Return a plotly figure: equity (and the equal-weight buy and hold), stacked weights, cumulative
        contribution per symbol, drawdown."""
        import plotly.graph_objects as go
        from plotly.subplots import make_subplots

        fig = make_subplots(rows=4, cols=1, shared_xaxes=True, row_heights=[0.35, 0.25, 0.25, 0.15],
                            vertical_spacing=0.03,
                            subplot_titles=("equity", "weights (stacked)", "contribution", "drawdown"))
        # one point per day at most: hourly paths over years would make the figure heavy
        step = max(1, len(self.index) // 3000)
        sl = slice(None, None, step)
        fig.add_trace(go.Scatter(x=self.index[sl], y=self.equity.iloc[sl], name="equity"), row=1, col=1)
        bh = self.benchmark()
        fig.add_trace(go.Scatter(x=bh.index[sl], y=bh.iloc[sl], name="equal-weight buy and hold",
                                 line=dict(width=1, dash="dot")), row=1, col=1)
        w = self.weights.iloc[sl]
        contrib = self.contribution_path().iloc[sl]
        for s in self.symbols:
            fig.add_trace(go.Scatter(x=w.index, y=w[s], name=f"{s} weight", stackgroup="w", mode="none"),
                          row=2, col=1)
            fig.add_trace(go.Scatter(x=contrib.index, y=contrib[s], name=f"{s} contribution"), row=3, col=1)
        dd = self.drawdown.iloc[sl]
        fig.add_trace(go.Scatter(x=dd.index, y=dd, name="drawdown", fill="tozeroy"), row=4, col=1)
        if log:
            fig.update_yaxes(type="log", row=1, col=1)
        fig.update_yaxes(tickformat=".0%", row=2, col=1)
        fig.update_yaxes(tickformat=".0%", row=3, col=1)
        fig.update_yaxes(tickformat=".0%", row=4, col=1)
        title = f"portfolio {self.alloc.get('alloc', '')} rebalance {self.rebalance}" + (
            f" gated by {self.strategy}" if self.strategy else "")
        fig.update_layout(height=900, title=dict(text=f"{title}<br><sup>{self.costs}</sup>"))
        return fig


__all__ = ["PORTFOLIO_KEYS", "PortfolioResult", "equal_weight_benchmark", "mean_correlation"]
