"""Plotly figures of the reports and the monthly-returns table they are drawn from."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from peaktrade.errors import PeakTradeError

#: Long series are drawn at most this many points per trace (bucket minima and maxima are kept,
#: so drawdowns and peaks survive the thinning).
MAX_POINTS = 4000

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def thin(series: pd.Series, max_points: int = MAX_POINTS) -> pd.Series:
    """Return ``series`` reduced to about ``max_points`` points, keeping each bucket's min and max."""
    s = series.dropna()
    n = len(s)
    if n <= max_points:
        return s
    buckets = max(max_points // 2, 1)
    edges = np.linspace(0, n, buckets + 1).astype(np.int64)
    vals = s.to_numpy(dtype=np.float64)
    keep = {0, n - 1}
    for a, b in zip(edges[:-1], edges[1:]):
        if b > a:
            seg = vals[a:b]
            keep.add(a + int(np.argmin(seg)))
            keep.add(a + int(np.argmax(seg)))
    return s.iloc[sorted(keep)]


def monthly_returns(equity: pd.Series, *, init_cash: float | None = None) -> pd.DataFrame:
    """Return calendar-month returns of an equity curve as a year × month table.

    Parameters
    ----------
    equity
        Equity on a DatetimeIndex.
    init_cash
        Equity before the first bar (the base of the first month); the first value when omitted.

    Returns
    -------
    pd.DataFrame
        Index ``year``, columns ``Jan`` … ``Dec`` and ``Year``, values as fractions (0.05 = +5 %);
        NaN where the month has no bars.
    """
    if not isinstance(equity.index, pd.DatetimeIndex):
        raise PeakTradeError(f"equity index is a {type(equity.index).__name__}: expected a DatetimeIndex")
    eq = equity.dropna()
    if eq.empty:
        return pd.DataFrame(columns=[*_MONTHS, "Year"], dtype=float)
    base = float(init_cash) if init_cash is not None else float(eq.iloc[0])
    month_end = eq.resample("ME").last()
    prev = month_end.ffill().shift(1)
    prev.iloc[0] = base
    rets = month_end / prev - 1.0
    df = pd.DataFrame({"year": rets.index.year, "month": rets.index.month, "ret": rets.to_numpy()})
    table = df.pivot(index="year", columns="month", values="ret").reindex(columns=range(1, 13))
    table.columns = list(_MONTHS)
    year_end = eq.resample("YE").last()
    year_prev = year_end.ffill().shift(1)
    year_prev.iloc[0] = base
    table["Year"] = (year_end / year_prev - 1.0).to_numpy()
    table.index.name = "year"
    return table


def equity_figure(equity: pd.Series, drawdown: pd.Series, *, bars: pd.DataFrame | None = None,
                  trades: pd.DataFrame | None = None, title: str = ""):
    """Return a figure of equity and drawdown (and price with trade markers when ``bars`` are given)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    with_price = bars is not None and "close" in bars and len(bars) > 0
    rows = 3 if with_price else 2
    heights = [0.45, 0.35, 0.2] if with_price else [0.7, 0.3]
    titles = (("price and trades",) if with_price else ()) + ("equity", "drawdown")
    fig = make_subplots(rows=rows, cols=1, shared_xaxes=True, row_heights=heights, vertical_spacing=0.04,
                        subplot_titles=titles)
    r = 1
    if with_price:
        close = thin(bars["close"])
        fig.add_trace(go.Scatter(x=close.index, y=close.to_numpy(), name="close", line=dict(width=1)), row=1, col=1)
        if trades is not None and len(trades) and len(trades) <= 5000:
            fig.add_trace(go.Scatter(x=trades["entry_time"], y=trades["entry_price"], mode="markers", name="entry",
                                     marker=dict(symbol="triangle-up", size=7, color="green")), row=1, col=1)
            closed = trades[~trades["is_open"]] if "is_open" in trades else trades
            fig.add_trace(go.Scatter(x=closed["exit_time"], y=closed["exit_price"], mode="markers", name="exit",
                                     marker=dict(symbol="triangle-down", size=7, color="red")), row=1, col=1)
        r = 2
    eq = thin(equity)
    fig.add_trace(go.Scatter(x=eq.index, y=eq.to_numpy(), name="equity", line=dict(color="#2557a7")),
                  row=r, col=1)
    dd = thin(drawdown)
    fig.add_trace(go.Scatter(x=dd.index, y=dd.to_numpy(), name="drawdown", fill="tozeroy",
                             line=dict(color="#b42318", width=1)), row=r + 1, col=1)
    fig.update_yaxes(tickformat=".0%", row=r + 1, col=1)
    fig.update_layout(height=760 if with_price else 560, title=title or None, margin=dict(l=60, r=20, t=60, b=40),
                      showlegend=True)
    return fig


def monthly_returns_figure(table: pd.DataFrame):
    """Return a heatmap of a :func:`monthly_returns` table (the yearly column left out)."""
    import plotly.graph_objects as go

    months = table[list(_MONTHS)]
    z = months.to_numpy(dtype=np.float64)
    fig = go.Figure(go.Heatmap(z=z, x=list(_MONTHS), y=[str(y) for y in months.index], zmid=0.0,
                               colorscale="RdYlGn", texttemplate="%{z:.1%}", hoverongaps=False,
                               colorbar=dict(title="return", tickformat=".0%")))
    fig.update_layout(height=max(220, 60 + 28 * len(months)), title="monthly returns",
                      yaxis=dict(autorange="reversed", type="category"), margin=dict(l=60, r=20, t=50, b=40))
    return fig


def sweep_figure(sweep: Any, xy: tuple[str, ...], metric: str):
    """Return the parameter figure of a sweep: a heatmap over two parameters or a line over one."""
    import plotly.graph_objects as go

    if len(xy) >= 2:
        fig = sweep.heatmap(xy[0], xy[1], metric)
    else:
        x = xy[0]
        from peaktrade.backtest.sweep import eligible

        s = sweep.table[metric].where(eligible(sweep.table, metric)).groupby(sweep.table[x]).max().sort_index()
        fig = go.Figure(go.Scatter(x=s.index, y=s.to_numpy(), mode="lines+markers", name=metric))
        fig.update_layout(title=f"{sweep.strategy}: {metric}", xaxis_title=x, yaxis_title=metric)
    fig.update_layout(height=520, margin=dict(l=60, r=20, t=60, b=50))
    return fig


def line_figure(series: pd.Series, *, title: str, name: str):
    """Return a single-line figure of a series (thinned when long)."""
    import plotly.graph_objects as go

    s = thin(series)
    fig = go.Figure(go.Scatter(x=s.index, y=s.to_numpy(), name=name))
    fig.update_layout(height=420, title=title, margin=dict(l=60, r=20, t=50, b=40))
    return fig


def monte_carlo_figure(quantiles: pd.DataFrame):
    """Return a fan chart of Monte Carlo quantiles (columns such as q05, q25, q50, q75, q95)."""
    import plotly.graph_objects as go

    q = quantiles.copy()
    cols = {str(c): c for c in q.columns}
    x = q.index
    fig = go.Figure()
    for lo, hi, alpha in (("q05", "q95", 0.15), ("q25", "q75", 0.3)):
        if lo in cols and hi in cols:
            fig.add_trace(go.Scatter(x=x, y=q[cols[hi]].to_numpy(), line=dict(width=0), showlegend=False,
                                     hoverinfo="skip", name=hi))
            fig.add_trace(go.Scatter(x=x, y=q[cols[lo]].to_numpy(), line=dict(width=0), fill="tonexty",
                                     fillcolor=f"rgba(37,87,167,{alpha})", name=f"{lo}–{hi}"))
    mid = "q50" if "q50" in cols else None
    if mid:
        fig.add_trace(go.Scatter(x=x, y=q[cols[mid]].to_numpy(), name="median", line=dict(color="#2557a7")))
    for c in q.columns:  # any other quantile column is drawn as a thin line
        if str(c) not in {"q05", "q95", "q25", "q75", "q50"}:
            fig.add_trace(go.Scatter(x=x, y=q[c].to_numpy(), name=str(c), line=dict(width=1, dash="dot")))
    fig.update_layout(height=460, title="Monte Carlo fan", xaxis_title=str(q.index.name or "step"),
                      margin=dict(l=60, r=20, t=50, b=50))
    return fig
