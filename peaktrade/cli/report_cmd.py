"""``peaktrade report``: the HTML report of a tracked run or of a saved result directory."""

from __future__ import annotations

from pathlib import Path

import typer

from peaktrade.cli._common import load_cfg
from peaktrade.errors import PeakTradeError


def report(
    ctx: typer.Context,
    target: str = typer.Argument(..., metavar="RUN_ID_OR_PATH",
                                 help="An MLflow run id, or a saved result directory (equity.parquet, "
                                      "trades.parquet, stats.json, meta.json)."),
    out: Path | None = typer.Option(None, "--out", help="Output .html file (default: <reports dir>/<run id>.html "
                                                           "for a run, <dir>/report.html for a directory)."),
) -> None:
    """Write the self-contained HTML report of a run or a saved result and print its path."""
    from peaktrade.reporting import build_report, load_result
    from peaktrade.tracking import report_for_run
    from peaktrade.tracking._query import RUN_ID

    cfg = load_cfg(ctx.obj)
    path = Path(target).expanduser()
    if path.exists():
        result = load_result(path)  # raises a one-line PeakTradeError when it is not a saved result
        meta = result.meta
        title = " ".join(str(p) for p in (result.strategy or "backtest", meta.get("symbol"), meta.get("timeframe"))
                         if p)
        provenance = {"source": str(path.resolve()),
                      **{k: meta[k] for k in ("run_id", "data_fingerprint") if meta.get(k)}}
        written = build_report(title=title, path=out if out is not None else path / "report.html", result=result,
                               provenance=provenance)
    elif RUN_ID.match(target):
        written = report_for_run(target, config=cfg, out=out)
    else:
        raise PeakTradeError(f"{target!r} is neither a saved result directory nor an MLflow run id "
                             "(expected an existing directory or 32 hex digits)")
    typer.echo(str(written))


def register(root: typer.Typer) -> None:
    """Add the ``report`` command to the root app."""
    root.command("report")(report)
