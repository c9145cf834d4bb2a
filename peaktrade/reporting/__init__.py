"""HTML reports and figures (plotly).

``build_report`` writes one self-contained HTML file (plotly.js inlined, opens offline) for a
backtest, a sweep, a walk-forward and a Monte Carlo result, each section present only when its
input is given. ``save_result``/``load_result`` keep a backtest result on disk in the format
tracking logs, so ``peaktrade report`` can rebuild a report without the bars::

    from peaktrade.reporting import build_report
    build_report(title="ma_crossover BTC/USD 1h", path="reports/ma.html", result=res, sweep=sw)
    candles(res, start="2024-03-01", end="2024-03-08")  # candlesticks, the strategy's indicators, trades

Importing this package does not import plotly; figures load it on first use.
"""

from __future__ import annotations

from peaktrade.reporting.figures import candles, indicator_frame, monthly_returns
from peaktrade.reporting.report import (
    build_report,
    data_label,
    new_run_id,
    provenance_facts,
    report_path,
    report_title,
)
from peaktrade.reporting.saved import SavedResult, is_saved_result, load_result, save_result

__all__ = ["SavedResult", "build_report", "candles", "data_label", "indicator_frame", "is_saved_result",
           "load_result", "monthly_returns", "new_run_id", "provenance_facts", "report_path", "report_title",
           "save_result"]
