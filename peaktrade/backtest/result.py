"""``BacktestResult``: the pandas face of one simulation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from peaktrade.backtest.enums import EXIT_OPEN, EXIT_REASON_NAMES, EXIT_REVERSE, EXIT_SIGNAL


def trades_frame(records: np.ndarray, index: pd.DatetimeIndex, *, execution: str = "next_open") -> pd.DataFrame:
    """Turn trade records into a DataFrame with fill times and readable exit reasons.

    Fill times are market times: a fill at a bar's open, or inside the bar (a stop), is stamped
    with the bar's open time; a fill at the close (``execution="close"`` entries and signal
    exits, and the valuation of a trade still open at the end) with the bar's close time.
    """
    from peaktrade.backtest.stats import bar_interval

    df = pd.DataFrame.from_records(records) if len(records) else pd.DataFrame(
        {n: pd.Series(dtype=records.dtype[n]) for n in records.dtype.names}
    )
    step = bar_interval(index) if len(index) > 1 else pd.Timedelta(0)
    at_close = execution == "close"
    entry_t = index[df["entry_idx"].to_numpy()] + (step if at_close else pd.Timedelta(0))
    reason = df["exit_reason"].to_numpy()
    exit_close = (reason == EXIT_OPEN) | (at_close & ((reason == EXIT_SIGNAL) | (reason == EXIT_REVERSE)))
    exit_t = index[df["exit_idx"].to_numpy()] + pd.to_timedelta(np.where(exit_close, step.value, 0), unit="ns")
    df.insert(3, "entry_time", entry_t)
    df.insert(7, "exit_time", exit_t)
    df["exit_reason_code"] = df.pop("exit_reason")
    df["exit_reason"] = np.asarray(EXIT_REASON_NAMES, dtype=object)[df["exit_reason_code"].to_numpy()] \
        if len(df) else pd.Series(dtype=object)
    df["is_open"] = df["exit_reason"] == "open"
    return df.set_index("id")


class EquityViews:
    """Returns and drawdown derived from ``equity`` and ``init_cash`` (shared by result types)."""

    equity: pd.Series
    init_cash: float

    @property
    def returns(self) -> pd.Series:
        """Bar returns of equity (the first against the initial cash)."""
        prev = self.equity.shift(1).fillna(self.init_cash)
        return (self.equity / prev - 1.0).rename("returns")

    @property
    def drawdown(self) -> pd.Series:
        """Drawdown from the running peak (initial cash included), as a non-positive fraction."""
        peak = np.maximum.accumulate(np.maximum(self.equity.to_numpy(), self.init_cash))
        return pd.Series(self.equity.to_numpy() / peak - 1.0, index=self.equity.index, name="drawdown")


@dataclass
class BacktestResult(EquityViews):
    """Per-bar series and trades of one backtest.

    Attributes
    ----------
    equity, cash, positions : pd.Series
        At each bar's close; ``positions`` is the signed size in base units.
    trades : pd.DataFrame
        One row per trade (the one still open at the end included, ``is_open=True``).
    """

    bars: pd.DataFrame
    equity: pd.Series
    cash: pd.Series
    positions: pd.Series
    trades: pd.DataFrame
    entries: pd.Series
    exits: pd.Series
    init_cash: float
    options: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    strategy: str | None = None
    #: where ``options`` came from: the config file's [backtest] section or the built-in defaults,
    #: and the names given explicitly
    options_source: str = ""

    @property
    def costs(self) -> str:
        """One line stating the costs and execution of this run (and where they came from)."""
        from peaktrade.backtest.options import describe_options

        return describe_options(self.options, self.options_source or None)

    @property
    def ruin_time(self) -> pd.Timestamp | None:
        """Open time of the bar on which equity reached zero (the account was ruined), else None."""
        hit = np.flatnonzero(self.equity.to_numpy() <= 0.0)
        return self.equity.index[hit[0]] if len(hit) else None

    def stats(self) -> pd.Series:
        """Return the statistics (see :mod:`peaktrade.backtest.stats` for each key)."""
        from peaktrade.backtest.stats import buy_and_hold_equity, compute_stats

        return compute_stats(self.equity, self.positions, self.trades, init_cash=self.init_cash,
                             benchmark=buy_and_hold_equity(self.bars, self.init_cash))

    def summary(self) -> pd.Series:
        """Return :meth:`stats` as readable strings (percentages in %, durations with units)."""
        from peaktrade.backtest.stats import format_stats

        return format_stats(self.stats())

    def plot(self, *, log: bool = False, benchmark: bool = True):
        """Return a plotly figure: price with trades, equity (and the buy-and-hold benchmark), drawdown.

        ``log=True`` draws price and equity on a log scale (a multi-year compounding curve reads as
        steady growth instead of a flat line and a cliff).
        """
        import plotly.graph_objects as go
        from plotly.subplots import make_subplots

        fig = make_subplots(rows=3, cols=1, shared_xaxes=True, row_heights=[0.5, 0.3, 0.2],
                            vertical_spacing=0.03, subplot_titles=("price and trades", "equity", "drawdown"))
        close = self.bars["close"]
        fig.add_trace(go.Scatter(x=close.index, y=close, name="close", line=dict(width=1)), row=1, col=1)
        tr = self.trades
        if len(tr):
            fig.add_trace(go.Scatter(x=tr["entry_time"], y=tr["entry_price"], mode="markers", name="entry",
                                     marker=dict(symbol="triangle-up", size=8, color="green")), row=1, col=1)
            closed = tr[~tr["is_open"]]
            fig.add_trace(go.Scatter(x=closed["exit_time"], y=closed["exit_price"], mode="markers", name="exit",
                                     text=closed["exit_reason"],
                                     marker=dict(symbol="triangle-down", size=8, color="red")), row=1, col=1)
        fig.add_trace(go.Scatter(x=self.equity.index, y=self.equity, name="equity"), row=2, col=1)
        if benchmark:
            from peaktrade.backtest.stats import buy_and_hold_equity

            bh = buy_and_hold_equity(self.bars, self.init_cash)
            fig.add_trace(go.Scatter(x=bh.index, y=bh, name="buy and hold", line=dict(width=1, dash="dot")),
                          row=2, col=1)
        dd = self.drawdown
        fig.add_trace(go.Scatter(x=dd.index, y=dd, name="drawdown", fill="tozeroy"), row=3, col=1)
        if log:
            fig.update_yaxes(type="log", row=1, col=1)
            fig.update_yaxes(type="log", row=2, col=1)
        fig.update_yaxes(tickformat=".0%", row=3, col=1)
        title = f"{self.strategy or 'signals'} {self.params or ''}".strip()
        fig.update_layout(height=800, title=dict(text=f"{title}<br><sup>{self.costs}</sup>"), showlegend=True)
        return fig
