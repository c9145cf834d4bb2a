"""Helpers shared by the command modules: config loading, console, parsing of ``k=v`` options, and the
printing of results (readable tables, one line of costs and execution, ``--json`` documents)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.table import Table

from peaktrade.errors import PeakTradeError

if TYPE_CHECKING:
    import pandas as pd

    from peaktrade.config import Config

console = Console()
err_console = Console(stderr=True)


def load_cfg(ctx_obj: dict[str, Any] | None = None) -> Config:
    """Load the config named by ``--config`` (stored on the typer context) or the default one."""
    from peaktrade.config import load_config

    return load_config((ctx_obj or {}).get("config"))


def parse_kv(items: list[str] | None, *, option: str) -> dict[str, Any]:
    """Parse ``["fast=20", "kind=ema"]`` into ``{"fast": 20, "kind": "ema"}`` (numbers when they parse)."""
    if not items:
        return {}
    # imported here, and only for items: the experiments package imports its modules (walk-forward, optimize,
    # ...; a fifth of a second), which a plain `peaktrade backtest` does not use
    from peaktrade.experiments.grid import parse_value

    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise PeakTradeError(f"{option} {item!r} is invalid: expected NAME=VALUE")
        out[key.strip()] = parse_value(raw.strip())
    return out


#: The ``--json`` option of every command that prints results: one JSON document on stdout, nothing else.
JSON_OPTION = typer.Option(False, "--json", help="Print the result as one JSON document on stdout (NaN and "
                                                 "infinities as null; messages go to stderr).")


def print_json(doc: Any) -> None:
    """Write ``doc`` as one strict JSON document (NaN/inf as null) and a newline to stdout, unstyled."""
    from peaktrade._files import dumps

    sys.stdout.write(dumps(doc, indent=2) + "\n")
    sys.stdout.flush()


def quality_value(key: str, value: Any) -> str:
    """A data-quality summary value as a person reads it: shares and returns in %, gaps in bars."""
    if value is None:
        return "-"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if key.endswith("_pct"):
        return f"{value:.2f} %"
    if key.startswith("return_") and key not in ("return_skew", "return_kurtosis"):
        return f"{value * 100:+.4g} %" if key in ("return_mean", "return_min", "return_max") else f"{value * 100:.4g} %"
    if key == "longest_gap":
        return f"{value:,} bars"
    return f"{value:,}" if isinstance(value, int) else f"{value:.6g}"


def print_costs(costs: str) -> None:
    """Print the one line of costs and execution a result was computed with (never wrapped mid-path)."""
    console.print(f"costs: {costs}", soft_wrap=True, highlight=False, markup=False)


def stats_table(stats: pd.Series, title: str) -> Table:
    """Render a stats Series as a two-column table of readable values (percentages in %, durations
    with units; see :func:`peaktrade.backtest.stats.format_stat`)."""
    from peaktrade.backtest.stats import format_stat

    t = Table(title=title, show_header=False)
    t.add_column("stat")
    t.add_column("value", justify="right")
    for k, v in stats.items():
        t.add_row(str(k), format_stat(str(k), v))
    return t


def stats_doc(stats: pd.Series) -> dict[str, float | None]:
    """Return a stats Series as a JSON-ready dict of raw numbers (fractions, days), stable key order."""
    return {str(k): (None if v is None else float(v)) for k, v in stats.items()}


def frame_records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """Return rows as JSON-ready dicts (timestamps as ISO 8601, numpy scalars as Python values)."""
    import pandas as pd

    out = []
    for row in df.to_dict(orient="records"):
        out.append({str(k): (v.isoformat() if isinstance(v, pd.Timestamp) else v.item() if hasattr(v, "item") else v)
                    for k, v in row.items()})
    return out


def walk_forward_doc(wf: Any, *, symbol: str, timeframe: str, exchange: str | None) -> dict[str, Any]:
    """Return the ``walk-forward --json`` document: what ran, its costs, the folds and the stitched stats."""
    return {"command": "walk-forward", "strategy": wf.strategy, "symbol": symbol, "timeframe": timeframe,
            "exchange": exchange, "metric": wf.metric, "minimize": wf.minimize, "anchored": wf.anchored,
            "params": list(wf.params), "options": wf.options, "options_source": wf.options_source,
            "costs": wf.costs, "skipped_folds": wf.n_skipped_folds, "folds": frame_records(wf.folds),
            "stats": stats_doc(wf.stats())}


def print_walk_forward(wf: Any, *, symbol: str, timeframe: str, exchange: str | None = None,
                       as_json: bool = False) -> None:
    """Print a walk-forward result: its ``--json`` document, or the folds, the stitched out-of-sample stats
    (readable values, the buy-and-hold benchmark of the test windows) and the costs line."""
    from peaktrade.backtest.stats import format_stat

    if as_json:
        print_json(walk_forward_doc(wf, symbol=symbol, timeframe=timeframe, exchange=exchange))
        return
    metric = wf.metric
    t = Table(title=f"walk-forward {wf.strategy} on {symbol} {timeframe}: {len(wf.folds)} folds")
    cols = ["fold", "test_start", "test_end", *wf.params, f"train_{metric}", "test_total_return",
            "test_excess_return", "test_sharpe", "test_n_trades"]
    for c in cols:
        t.add_column(c, justify="right")
    for _, row in wf.folds.iterrows():
        t.add_row(*(f"{row[c]:%Y-%m-%d %H:%M}" if hasattr(row[c], "strftime") else
                    str(row[c]) if c == "fold" or c in wf.params else format_stat(c, row[c]) for c in cols))
    console.print(t)
    console.print(stats_table(wf.stats(), "out-of-sample (stitched test windows)"))
    print_costs(wf.costs)
    if wf.n_skipped_folds:
        console.print(f"{wf.n_skipped_folds} fold(s) skipped for data gaps")
