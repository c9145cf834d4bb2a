"""Plotly figures of the reports (equity, monthly returns, sweeps, candlesticks with indicators and trades)
and the monthly-returns table they are drawn from."""

from __future__ import annotations

from collections.abc import Mapping
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


# -- candlestick chart: bars, the strategy's indicators, trades -------------------------------------

#: Candles drawn at most: a longer window is drawn as candles of several bars each (open of the first,
#: high/low of all, close of the last), so a multi-year run stays a light, responsive figure.
MAX_CANDLES = 2000
#: Trades marked at most (the latest ones of the window); the title says when some are left out.
MAX_TRADE_MARKERS = 5000
_STOP_REASONS = ("stop_loss", "take_profit", "trailing_stop", "ruin")


def indicator_frame(result: Any) -> pd.DataFrame:
    """Return the indicator rows the strategy of ``result`` computes for its parameters, over all its bars.

    Columns are named as the strategy's ``prepare`` names them (``"sma(20)"``, ``"sma(100)"`` for
    ``ma_crossover``); the bars themselves and the entry/exit signal rows of pandas-level strategies
    are left out (the trades show those). Empty when the result has no strategy, or one the registry
    does not know (an unregistered strategy object passed to ``run``).
    """
    from peaktrade.strategies.base import prices_from_bars
    from peaktrade.strategies.registry import get_strategy

    bars = getattr(result, "bars", None)
    name = getattr(result, "strategy", None)
    if not name or not isinstance(bars, pd.DataFrame) or bars.empty:
        return pd.DataFrame(index=getattr(bars, "index", None))
    from peaktrade.errors import StrategyError

    try:
        strat = get_strategy(name)
    except StrategyError:  # e.g. a strategy object passed to run() without being registered
        return pd.DataFrame(index=bars.index)
    params = strat.resolve({k: v for k, v in (getattr(result, "params", None) or {}).items()
                            if k in strat.param_names})
    prep = strat.prepare(prices_from_bars(bars), [params])
    rows = list(dict.fromkeys(int(r) for r in prep.cols[0] if int(r) >= 5))  # rows 0-4 are the bars
    names = prep.names or tuple(f"indicator {r}" for r in range(prep.ind.shape[0]))
    cols = {names[r]: prep.ind[r] for r in rows if not names[r].startswith(("entries(", "exits("))}
    return pd.DataFrame(cols, index=bars.index)


def _window(bars: pd.DataFrame, start: Any, end: Any) -> pd.DataFrame:
    """Return the bars with ``start <= time < end``; raise naming the bound and the data span."""
    out = bars
    span = f"the bars span {bars.index[0]} to {bars.index[-1]}" if len(bars) else "there are no bars"
    for label, value in (("start", start), ("end", end)):
        if value is None:
            continue
        try:
            t = pd.Timestamp(value)
        except (ValueError, TypeError):
            raise PeakTradeError(f"{label}={value!r} is invalid: expected a date or time such as "
                                 "'2024-01-31' or '2024-01-31 12:00'") from None
        tz = getattr(bars.index, "tz", None)
        if tz is not None:
            t = t.tz_localize(tz) if t.tzinfo is None else t.tz_convert(tz)
        out = out[out.index >= t] if label == "start" else out[out.index < t]
    if out.empty:
        raise PeakTradeError(f"start={start!r}, end={end!r} select no bars: {span}")
    return out


def _aggregate(bars: pd.DataFrame, k: int) -> pd.DataFrame:
    """Return candles of ``k`` consecutive bars each, stamped with the open time of their first bar."""
    group = np.arange(len(bars)) // k
    g = bars[["open", "high", "low", "close"]].groupby(group)
    out = pd.DataFrame({"open": g["open"].first(), "high": g["high"].max(), "low": g["low"].min(),
                        "close": g["close"].last()})
    out.index = bars.index[::k]
    return out


def _on_price_scale(values: pd.Series, close: pd.Series) -> bool:
    """True when an indicator lives on the price's scale (a moving average, a band), not an oscillator."""
    v = values.dropna()
    if v.empty:
        return True
    ref = float(close.abs().median()) or 1.0
    return 0.5 <= float(v.abs().median()) / ref <= 2.0


def candles(
    result: Any,
    *,
    start: Any = None,
    end: Any = None,
    indicators: bool | pd.DataFrame | Mapping[str, pd.Series] = True,
    max_candles: int = MAX_CANDLES,
    title: str | None = None,
):
    """Return a candlestick chart of a backtest with the strategy's indicators and its trades.

    The price panel has the bars as candles, the indicators on the price's scale as lines (named as
    the strategy names them, e.g. ``sma(20)``), and markers at each trade's fill time and price: long
    entries (up triangles), short entries (down triangles), exits by signal (x) and exits by a stop,
    take-profit, trailing stop or ruin (crossed squares); with ``sl_stop``/``tp_stop`` the levels of
    each trade are drawn as dotted segments. Oscillators (indicators far from the price's scale, such as
    an RSI) get a panel below.

    Big runs stay usable: a window of more than ``max_candles`` bars is drawn as candles of several
    bars each (OHLC aggregated; the title says how many; indicators then drawn at each candle's last
    bar), and at most :data:`MAX_TRADE_MARKERS` trades are marked (every fill at its own time and price). Zoom with
    ``start``/``end`` to see every bar.

    Parameters
    ----------
    result
        A :class:`~peaktrade.backtest.BacktestResult` (with its bars).
    start, end
        The window: bars with ``start <= open time < end`` (dates or times; default: the whole run).
    indicators
        True for the strategy's own indicators (computed by its ``prepare`` over all bars, so the
        warm-up is right at the window's start), False for none, or your own series (a DataFrame or a
        ``{name: Series}`` on the bars' index, e.g. what a pandas-level strategy computes).
    max_candles
        Candles drawn at most.
    title
        Figure title (default: strategy and parameters).
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    bars = getattr(result, "bars", None)
    if not (isinstance(bars, pd.DataFrame) and {"open", "high", "low", "close"} <= set(bars.columns)):
        raise PeakTradeError(f"result is a {type(result).__name__} without bars: expected a BacktestResult with "
                             "its OHLC bars (a saved result keeps equity and trades only)")
    if isinstance(max_candles, bool) or not isinstance(max_candles, (int, np.integer)) or max_candles < 10:
        raise PeakTradeError(f"max_candles={max_candles!r} is invalid: expected an integer >= 10")
    win = _window(bars, start, end)
    t0, t1 = win.index[0], win.index[-1]

    if indicators is True:
        ind = indicator_frame(result)
    elif indicators is False or indicators is None:
        ind = pd.DataFrame(index=bars.index)
    elif isinstance(indicators, (pd.DataFrame, Mapping)):
        ind = pd.DataFrame({str(k): v for k, v in dict(indicators.items()).items()})
    else:
        raise PeakTradeError(f"indicators is a {type(indicators).__name__}: expected True, False, a DataFrame "
                             "or a mapping of name to Series")
    ind = ind[(ind.index >= t0) & (ind.index <= t1)] if len(ind.columns) else ind
    overlay = [c for c in ind.columns if _on_price_scale(ind[c], win["close"])]
    lower = [c for c in ind.columns if c not in overlay]

    k = int(np.ceil(len(win) / max_candles))
    shown = _aggregate(win, k) if k > 1 else win
    rows = 2 if lower else 1
    fig = make_subplots(rows=rows, cols=1, shared_xaxes=True, vertical_spacing=0.04,
                        row_heights=[0.75, 0.25] if lower else [1.0])
    fig.add_trace(go.Candlestick(x=shown.index, open=shown["open"], high=shown["high"], low=shown["low"],
                                 close=shown["close"], name="price" if k == 1 else f"price ({k} bars/candle)",
                                 increasing_line_color="#1a7f37", decreasing_line_color="#b42318"), row=1, col=1)
    # with aggregated candles, each indicator is drawn at the last bar of each candle (its value at the
    # candle's close): as many points as candles, exact values, no thinning artefacts
    drawn = ind.iloc[np.unique(np.r_[np.arange(k - 1, len(ind), k), len(ind) - 1])] if k > 1 and len(ind) else ind
    for c in overlay:
        fig.add_trace(go.Scatter(x=drawn.index, y=drawn[c].to_numpy(), name=str(c), mode="lines",
                                 line=dict(width=1.3)), row=1, col=1)
    for c in lower:
        fig.add_trace(go.Scatter(x=drawn.index, y=drawn[c].to_numpy(), name=str(c), mode="lines",
                                 line=dict(width=1.1)), row=2, col=1)

    notes = []
    trades = getattr(result, "trades", None)
    if isinstance(trades, pd.DataFrame) and len(trades):
        last = t1 + (bars.index[1] - bars.index[0] if len(bars) > 1 else pd.Timedelta(0))  # a close-time fill
        inside = ((trades["entry_time"] >= t0) & (trades["entry_time"] <= last)) | \
                 ((trades["exit_time"] >= t0) & (trades["exit_time"] <= last))
        tr = trades[inside]
        if len(tr) > MAX_TRADE_MARKERS:
            notes.append(f"latest {MAX_TRADE_MARKERS:,} of {len(tr):,} trades marked")
            tr = tr.tail(MAX_TRADE_MARKERS)
        _trade_traces(fig, go, tr, t0, last, getattr(result, "options", None) or {})

    if k > 1:
        notes.append(f"{len(win):,} bars drawn as {len(shown):,} candles of {k} bars; pass start/end to zoom")
    strategy = getattr(result, "strategy", None) or "signals"
    params = getattr(result, "params", None) or {}
    head = title or " ".join([strategy, *(f"{k_}={v}" for k_, v in params.items())])
    fig.update_layout(title=head + (f" <sup>({'; '.join(notes)})</sup>" if notes else ""),
                      height=680 if lower else 560, margin=dict(l=60, r=20, t=60, b=40), showlegend=True,
                      xaxis_rangeslider_visible=False)
    return fig


def _trade_traces(fig: Any, go: Any, tr: pd.DataFrame, t0: pd.Timestamp, t1: pd.Timestamp,
                  options: Mapping[str, Any]) -> None:
    """Add entry, exit and stop-level traces for the trades ``tr`` (entries/exits outside [t0, t1] left out)."""
    def hover(df: pd.DataFrame, what: str) -> list[str]:
        side = np.where(df["direction"].to_numpy() > 0, "long", "short")
        return [f"trade {i} {s} {what}<br>pnl {p:,.2f} ({r:+.2%})" + (f"<br>{x}" if what == "exit" else "")
                for i, s, p, r, x in zip(df.index, side, df["pnl"], df["ret"], df["exit_reason"])]

    ent = tr[(tr["entry_time"] >= t0) & (tr["entry_time"] <= t1)]
    for label, mask, symbol, color in (("long entry", ent["direction"] > 0, "triangle-up", "#1a7f37"),
                                       ("short entry", ent["direction"] < 0, "triangle-down", "#b42318")):
        d = ent[mask]
        if len(d):
            fig.add_trace(go.Scatter(x=d["entry_time"], y=d["entry_price"], mode="markers", name=label,
                                     text=hover(d, "entry"), hoverinfo="text+x+y",
                                     marker=dict(symbol=symbol, size=10, color=color,
                                                 line=dict(width=1, color="#1d2330"))), row=1, col=1)
    ex = tr[~tr["is_open"] & (tr["exit_time"] >= t0) & (tr["exit_time"] <= t1)]
    by_stop = ex["exit_reason"].isin(_STOP_REASONS)
    for label, d, symbol in (("exit", ex[~by_stop], "x"), ("stop exit", ex[by_stop], "square-x")):
        if len(d):
            fig.add_trace(go.Scatter(x=d["exit_time"], y=d["exit_price"], mode="markers", name=label,
                                     text=hover(d, "exit"), hoverinfo="text+x+y",
                                     marker=dict(symbol=symbol, size=9, color="#1d2330")), row=1, col=1)
    for key, label, sign, color in (("sl_stop", "stop-loss level", -1.0, "#b42318"),
                                    ("tp_stop", "take-profit level", 1.0, "#1a7f37")):
        frac = options.get(key)
        if not isinstance(frac, (int, float)) or not frac or not len(tr):
            continue
        level = tr["entry_price"] * (1.0 + sign * tr["direction"].clip(-1, 1) * float(frac))
        xs: list[Any] = []
        ys: list[Any] = []
        for a, b, y in zip(tr["entry_time"], tr["exit_time"], level):
            xs += [max(a, t0), min(b, t1), None]
            ys += [y, y, None]
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", name=f"{label} ({key}={frac:g})",
                                 line=dict(color=color, width=1, dash="dot")), row=1, col=1)
