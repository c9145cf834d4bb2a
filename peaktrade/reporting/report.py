"""``build_report``: one self-contained HTML file per backtest, sweep, walk-forward or Monte Carlo."""

from __future__ import annotations

import datetime as dt
import os
import re
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from peaktrade._files import atomic_write_text
from peaktrade.errors import PeakTradeError
from peaktrade.reporting import _html as h
from peaktrade.reporting import figures as f

#: Trades tables longer than this show their first and last rows only.
TRADES_MAX_ROWS = 60
#: Sweep rows listed in the report (best first).
SWEEP_TOP_ROWS = 20

_TRADE_COLS = ("direction", "entry_time", "entry_price", "exit_time", "exit_price", "size", "pnl", "ret",
               "entry_fees", "exit_fees", "exit_reason")


class _Figures:
    """Collect figures and embed each as a div; plotly.js is added once per page by :func:`build_report`."""

    def __init__(self) -> None:
        self.count = 0

    def html(self, fig: Any, name: str) -> str:
        self.count += 1
        div_id = f"fig-{self.count}-{name}"
        body = fig.to_html(full_html=False, include_plotlyjs=False, div_id=div_id,
                           config={"displaylogo": False, "responsive": True})
        return f'<div class="figure" data-figure="{h.esc(name)}">{body}</div>'


def _swept(sweep: Any) -> list[str]:
    """Return the sweep's parameters that take more than one value, in grid order."""
    return [k for k, v in sweep.grid.items() if len(v) > 1]


def _check_xy(sweep: Any, sweep_xy: Any) -> tuple[str, ...]:
    names = list(sweep.param_names)
    if sweep_xy is None:
        return tuple(_swept(sweep)[:2])
    if isinstance(sweep_xy, str) or not isinstance(sweep_xy, (tuple, list)) or len(sweep_xy) != 2:
        raise PeakTradeError(f"sweep_xy={sweep_xy!r} is invalid: expected a tuple of two parameter names")
    for n in sweep_xy:
        if n not in names:
            raise PeakTradeError(f"sweep_xy={tuple(sweep_xy)!r} is invalid: {n!r} is not a swept parameter "
                                 f"(expected some of {', '.join(names)})")
    return tuple(sweep_xy)


def _stats_tables(stats: pd.Series, *, title: str, css_id: str) -> str:
    """Return stats as two side-by-side key/value tables of readable values (%, durations with units)."""
    from peaktrade.backtest.stats import format_stats

    items = list(format_stats(stats).items())
    half = (len(items) + 1) // 2
    left = h.kv_table(dict(items[:half]), title=title, css_id=css_id)
    right = h.kv_table(dict(items[half:]), title="\u00a0")
    return f'<div class="grid">{left}{right}</div>'


def _costs_note(obj: Any) -> str:
    """The one line of costs and execution a result ran with (every reported result states it)."""
    from peaktrade.backtest.options import describe_options

    options = dict(getattr(obj, "options", {}) or {})
    if not options:
        return ""
    line = describe_options(options, getattr(obj, "options_source", "") or None)
    return f'<p class="note" data-costs="1">costs and execution: {h.esc(line)}</p>'


def _result_section(result: Any, figs: _Figures, *, log_equity: bool = False) -> str:
    parts: list[str] = []
    stats = result.stats()
    parts.append(_costs_note(result))
    parts.append(_stats_tables(stats, title="summary statistics", css_id="stats-table"))
    params = dict(getattr(result, "params", {}) or {})
    options = dict(getattr(result, "options", {}) or {})
    side = []
    if params:
        side.append(h.kv_table(params, title=f"parameters ({getattr(result, 'strategy', None) or 'signals'})"))
    if options:
        side.append(h.kv_table(options, title="backtest options"))
    if side:
        parts.append(f'<div class="grid">{"".join(side)}</div>')
    bars = getattr(result, "bars", None)
    ohlc = isinstance(bars, pd.DataFrame) and {"open", "high", "low", "close"} <= set(bars.columns) and len(bars)
    parts.append("<h3>equity and drawdown</h3>")
    # with candles below, the equity figure leaves out its close-line price panel (the same trades twice)
    eq_bars = None if ohlc else bars
    fig = f.equity_figure(result.equity, result.drawdown, bars=eq_bars, trades=result.trades)
    if log_equity:  # price and equity rows on a log scale (the drawdown row stays linear)
        for row in ((1, 2) if eq_bars is not None and "close" in eq_bars and len(eq_bars) else (1,)):
            fig.update_yaxes(type="log", row=row, col=1)
    parts.append(figs.html(fig, "equity"))
    if ohlc:
        parts.append("<h3>candles, indicators and trades</h3>")
        parts.append(figs.html(f.candles(result), "candles"))
    mr = f.monthly_returns(result.equity, init_cash=getattr(result, "init_cash", None))
    if len(mr):
        parts.append("<h3>monthly returns</h3>")
        parts.append(figs.html(f.monthly_returns_figure(mr), "monthly-returns"))
        pct = mr.apply(lambda col: col.map(lambda v: "" if pd.isna(v) else f"{v:+.2%}"))
        pct.index = pct.index.astype(str)
        parts.append(h.frame_table(pct, css_id="monthly-returns-table"))
    trades = result.trades
    parts.append(f"<h3>trades ({len(trades):,})</h3>")
    if len(trades):
        cols = [c for c in _TRADE_COLS if c in trades] or list(trades.columns)
        parts.append(h.frame_table(trades[cols], max_rows=TRADES_MAX_ROWS, head=25, tail=25, css_id="trades-table"))
    else:
        parts.append('<p class="note">no trades</p>')
    return "".join(parts)


def _sweep_section(sweep: Any, xy: tuple[str, ...], metric: str, overfitting: pd.Series | None,
                   figs: _Figures) -> str:
    table = sweep.table
    if metric not in table:
        raise PeakTradeError(f"sweep_metric={metric!r} is invalid: expected a column of the sweep table")
    from peaktrade.backtest.sweep import rank_table

    n_finite = int(table[metric].notna().sum())
    ranked = rank_table(table, metric)
    info = {
        "strategy": sweep.strategy,
        "combinations": len(table),
        "skipped by constraints": getattr(sweep, "n_skipped", 0),
        "bars": getattr(sweep, "n_bars", None),
        "elapsed (s)": round(float(getattr(sweep, "elapsed", 0.0)), 3),
        f"combinations with a finite {metric}": n_finite,
        "ruined combinations (never ranked)": int((table["ruined"] == 1.0).sum()) if "ruined" in table else 0,
    }
    grid = {k: _grid_text(v) for k, v in sweep.grid.items()}
    parts = [_costs_note(sweep), f'<div class="grid">{h.kv_table(info, title="sweep")}{h.kv_table(grid, title="grid")}']
    if overfitting is not None and len(overfitting):
        from peaktrade.experiments.overfitting import with_pbo_convention

        overfitting = with_pbo_convention(overfitting, sweep)  # a PBO is shown with its null mean
        parts.append(h.kv_table(overfitting, title="overfitting", css_id="overfitting-table"))
    parts.append("</div>")
    if xy and n_finite:
        parts.append(f"<h3>{h.esc(metric)} over {h.esc(' × '.join(xy))}</h3>")
        parts.append(figs.html(f.sweep_figure(sweep, xy, metric), "sweep-params"))
    if len(ranked):
        top = ranked.head(SWEEP_TOP_ROWS)
        parts.append(f"<h3>top {len(top)} by {h.esc(metric)}</h3>")
        from peaktrade.backtest.stats import format_frame

        parts.append(h.frame_table(format_frame(top), css_id="sweep-top-table"))  # % and units, as the CLI
    else:
        parts.append(f'<p class="note">no combination has a finite {h.esc(metric)} without ruin</p>')
    return "".join(parts)


def _grid_text(values: Iterable[Any]) -> str:
    vals = list(values)
    if len(vals) <= 8:
        return ", ".join(h.fmt_value(v) for v in vals)
    return (f"{', '.join(h.fmt_value(v) for v in vals[:3])}, …, {', '.join(h.fmt_value(v) for v in vals[-2:])} "
            f"({len(vals)} values)")


def _walk_forward_section(wf: Any, figs: _Figures) -> str:
    parts: list[str] = [_costs_note(wf)]
    stats_fn = getattr(wf, "stats", None)
    if callable(stats_fn):
        parts.append(_stats_tables(stats_fn(), title="out-of-sample statistics", css_id="wf-stats-table"))
    metric = getattr(wf, "metric", None)
    if metric is not None:
        parts.append(f'<p class="note">parameters chosen in each training window by {h.esc(metric)}</p>')
    folds = getattr(wf, "folds", None)
    if folds is not None:
        parts.append(f"<h3>folds ({len(folds)})</h3>")
        from peaktrade.backtest.stats import format_frame

        parts.append(h.frame_table(format_frame(folds), max_rows=80, head=40, tail=40, css_id="wf-folds-table"))
    oos = getattr(wf, "oos_equity", None)
    if oos is not None and len(oos):
        parts.append("<h3>stitched out-of-sample equity</h3>")
        parts.append(figs.html(f.line_figure(oos, title="out-of-sample equity", name="OOS equity"), "oos-equity"))
    stab = getattr(wf, "param_stability", None)
    if isinstance(stab, pd.DataFrame) and len(stab):
        parts.append("<h3>parameter stability</h3>")
        parts.append(h.frame_table(stab, max_rows=80, head=40, tail=40, css_id="wf-stability-table"))
    return "".join(parts)


def _monte_carlo_section(mc: Any, figs: _Figures) -> str:
    parts: list[str] = []
    summary = getattr(mc, "summary", None)
    if summary is not None and len(summary):
        parts.append(h.kv_table(summary, title="summary", css_id="mc-summary-table"))
    q = getattr(mc, "quantiles", None)
    if isinstance(q, pd.DataFrame) and len(q):
        parts.append(figs.html(f.monte_carlo_figure(q), "monte-carlo"))
    return "".join(parts)


def provenance_facts(tags: Mapping[str, str], *, before: Mapping[str, Any] | None = None,
                     after: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Return the provenance table of a tracked run's report.

    ``before`` (run id, experiment, ...) comes first, then the code version, config hash and data
    fingerprint read from the run's provenance ``tags`` (see :mod:`peaktrade.provenance`;
    ``"unknown"`` when a tag is absent), then ``after``; None values are left out.
    """
    from peaktrade import provenance as prov

    table = {k: v for k, v in (before or {}).items() if v is not None}
    table.update({
        "git SHA": tags.get(prov.TAG_GIT_SHA, prov.UNKNOWN),
        "git dirty": tags.get(prov.TAG_GIT_DIRTY, prov.UNKNOWN),
        "config hash": tags.get(prov.TAG_CONFIG_HASH, prov.UNKNOWN),
        "data fingerprint": tags.get(prov.TAG_FINGERPRINT, prov.UNKNOWN),
        "peaktrade version": tags.get(prov.TAG_VERSION, prov.UNKNOWN),
    })
    table.update({k: v for k, v in (after or {}).items() if v is not None})
    return table


def new_run_id() -> str:
    """Return a fresh run id (32 hex digits, the form of MLflow's) for a report of an untracked run."""
    return uuid.uuid4().hex


def report_path(directory: str | os.PathLike[str], *, kind: str, run_id: str | None = None,
                strategy: str | None = None, symbol: str | None = None, timeframe: str | None = None) -> Path:
    """Return the file of a report: ``<directory>/<run id>-<kind>[-<strategy>][-<symbol>][-<timeframe>].html``.

    A report is named by its run id first (so each run has its own file, and ``peaktrade report`` finds it
    by any unique prefix of the id), then what makes it readable in a listing; ``BTC/USD`` is written
    ``BTC-USD``. Without ``run_id`` (an untracked run) a fresh id is made: a report never replaces another.
    """
    rid = run_id or new_run_id()
    if not re.fullmatch(r"[0-9A-Za-z_-]+", rid):
        raise PeakTradeError(f"run_id={run_id!r} is invalid: expected letters, digits, '-' or '_'")
    parts = [rid, kind, strategy, symbol, timeframe]
    name = "-".join(re.sub(r"[^0-9A-Za-z_.]+", "-", str(p)).strip("-") for p in parts if p)
    return Path(directory) / f"{name}.html"


def data_label(exchange: str | None, synthetic: bool | None = None) -> str:
    """Return the header label of a report's data: ``"data: kraken"``, ``"data: synthetic (SYNTHETIC ...)"``.

    ``synthetic`` defaults to whether ``exchange`` is the embedded data set's (``"synthetic"``).
    """
    if synthetic is None:
        from peaktrade.data._api import DEMO_EXCHANGE

        synthetic = exchange == DEMO_EXCHANGE
    text = f"data: {exchange or 'exchange not recorded'}"
    return text + (" (SYNTHETIC: generated bars, not market prices)" if synthetic else "")


def report_title(*parts: str | None) -> str:
    """Return a report title from its non-empty parts (``"ma_crossover BTC/USD 1h"``)."""
    return " ".join(p for p in parts if p)


def build_report(
    *,
    title: str,
    path: str | os.PathLike[str],
    result: Any = None,
    sweep: Any = None,
    sweep_xy: tuple[str, str] | None = None,
    sweep_metric: str = "sharpe",
    overfitting: pd.Series | Mapping[str, Any] | None = None,
    walk_forward: Any = None,
    monte_carlo: Any = None,
    notes: str | Iterable[str] | None = None,
    provenance: Mapping[str, Any] | None = None,
    exchange: str | None = None,
    synthetic: bool | None = None,
    log_equity: bool = False,
    portfolio: Any = None,
) -> Path:
    """Write one self-contained HTML report and return its path.

    The file opens offline: plotly.js is inlined once, nothing is fetched. Sections appear only
    for the inputs given; all text is HTML-escaped.

    Parameters
    ----------
    title
        Page title.
    path
        Output file (parents are created; an existing file is replaced atomically).
    result
        A :class:`~peaktrade.backtest.BacktestResult` (or a saved one, see
        :func:`~peaktrade.reporting.load_result`): statistics, equity and drawdown, monthly
        returns, trades.
    sweep
        A :class:`~peaktrade.backtest.SweepResult`: grid, top rows and a parameter heatmap.
    sweep_xy
        The two parameters of the heatmap (default: the first two swept ones; a line chart when
        only one parameter is swept).
    sweep_metric
        Metric of the heatmap and of the ranking.
    overfitting
        Extra sweep metrics (e.g. deflated Sharpe ratio, PBO) shown beside the grid.
    walk_forward
        A walk-forward result with ``folds``, ``oos_equity``, ``stats()``, ``param_stability`` and
        ``metric``.
    monte_carlo
        A Monte Carlo result with ``quantiles`` (index step; columns q05, q25, q50, q75, q95) and
        ``summary``.
    notes
        Free text (a string with blank-line-separated paragraphs, or a list of paragraphs).
    provenance
        Key/value facts shown at the top (git SHA, data fingerprint, config hash, run id, ...).
    exchange, synthetic
        Where the bars come from, labelled in the header (see :func:`data_label`; ``synthetic`` defaults
        to ``exchange == "synthetic"``); no label when both are None.
    log_equity
        Draw the backtest's price and equity on a log scale (multi-year compounding reads as steady
        growth rather than a flat line and a cliff).
    portfolio
        A :class:`~peaktrade.portfolio.PortfolioResult`: statistics, equity, stacked weights, contribution, orders.
    """
    if not isinstance(title, str):
        raise PeakTradeError(f"title={title!r} is invalid: expected a string")
    try:
        out = Path(path)
    except TypeError:
        raise PeakTradeError(f"path={path!r} is invalid: expected a file path") from None
    if out.exists() and out.is_dir():
        raise PeakTradeError(f"path={str(out)!r} is a directory: expected an .html file path")
    if result is not None and not (hasattr(result, "equity") and hasattr(result, "stats")):
        raise PeakTradeError(f"result is a {type(result).__name__}: expected a BacktestResult")
    if sweep is not None and not (hasattr(sweep, "table") and hasattr(sweep, "grid")):
        raise PeakTradeError(f"sweep is a {type(sweep).__name__}: expected a SweepResult")
    xy = _check_xy(sweep, sweep_xy) if sweep is not None else ()
    if overfitting is not None and not isinstance(overfitting, pd.Series):
        overfitting = pd.Series(dict(overfitting))

    from peaktrade import __version__

    figs = _Figures()
    sections: list[tuple[str, str, str]] = []
    if provenance:
        sections.append(("section-provenance", "provenance", h.kv_table(dict(provenance), css_id="provenance-table")))
    if notes:
        sections.append(("section-notes", "notes", f'<div class="notes">{h.notes_html(notes)}</div>'))
    if result is not None:
        sections.append(("section-backtest", "backtest", _result_section(result, figs, log_equity=log_equity)))
    if portfolio is not None:
        from peaktrade.reporting.portfolio import portfolio_section

        sections.append(("section-portfolio", "portfolio", portfolio_section(portfolio, figs)))
    if sweep is not None:
        sections.append(("section-sweep", "sweep", _sweep_section(sweep, xy, sweep_metric, overfitting, figs)))
    if walk_forward is not None:
        sections.append(("section-walk-forward", "walk-forward", _walk_forward_section(walk_forward, figs)))
    if monte_carlo is not None:
        sections.append(("section-monte-carlo", "Monte Carlo", _monte_carlo_section(monte_carlo, figs)))

    plotlyjs = None
    if figs.count:
        from plotly.offline import get_plotlyjs

        plotlyjs = get_plotlyjs()
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    label = data_label(exchange, synthetic) + " · " if exchange is not None or synthetic is not None else ""
    doc = h.page(title=title, subtitle=f"{label}generated {now} by peaktrade {__version__}", sections=sections,
                 plotlyjs=plotlyjs, footer="peaktrade report — self-contained, opens offline")
    atomic_write_text(out, doc)
    return out
