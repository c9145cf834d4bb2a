"""``peaktrade report``: the HTML report of a tracked run, a session run (paper, shadow, testnet, live) or a
saved result directory."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from peaktrade._ids import MIN_PREFIX
from peaktrade.cli._common import load_cfg
from peaktrade.errors import PeakTradeError

if TYPE_CHECKING:
    from peaktrade.config import Config


def report(
    ctx: typer.Context,
    target: str = typer.Argument(..., metavar="RUN_ID_OR_PATH",
                                 help="An MLflow run id, a session run id (paper, shadow, testnet, live; "
                                      "`peaktrade runs list`), a unique prefix of either (>= 6 characters), "
                                      "or a saved result or session run directory."),
    out: Path | None = typer.Option(None, "--out", help="Output .html file (default: <reports dir>/<run id>-<kind>-"
                                                           "<strategy>-<symbol>-<timeframe>.html for a run, "
                                                           "<dir>/report.html for a directory)."),
) -> None:
    """Write the self-contained HTML report of a run or a saved result and print its path."""
    from peaktrade.live.runlog.reader import META_FILE
    from peaktrade.reporting import build_report, load_result

    cfg = load_cfg(ctx.obj)
    path = Path(target).expanduser()
    if path.is_dir() and (path / META_FILE).is_file() and not (path / "equity.parquet").is_file():
        written = _session_report(path, out if out is not None else path / "report.html")
    elif path.exists():
        result = load_result(path)  # raises a one-line PeakTradeError when it is not a saved result
        meta = result.meta
        title = " ".join(str(p) for p in (result.strategy or "backtest", meta.get("symbol"), meta.get("timeframe"))
                         if p)
        provenance = {"source": str(path.resolve()),
                      **{k: meta[k] for k in ("run_id", "data_fingerprint") if meta.get(k)}}
        written = build_report(title=title, path=out if out is not None else path / "report.html", result=result,
                               provenance=provenance, exchange=meta.get("exchange"), synthetic=meta.get("synthetic"))
    else:
        written = _run_report(target, cfg, out)
    typer.echo(str(written))


def _run_report(ref: str, cfg: Config, out: Path | None) -> Path:
    """The report of the session run or the MLflow run ``ref`` names (an id or a unique prefix of one)."""
    from peaktrade.live.runlog import RunLogError, find_run
    from peaktrade.tracking import report_for_run
    from peaktrade.tracking._query import resolve_run_id

    found: dict[str, object] = {}
    errors: list[str] = []
    try:
        found["session"] = find_run(cfg.runs_dir, ref)
    except RunLogError as e:
        errors.append(str(e))
    try:
        found["mlflow"] = resolve_run_id(ref, config=cfg)
    except PeakTradeError as e:
        errors.append(str(e))
    if len(found) == 2:
        raise PeakTradeError(f"run id prefix {ref!r} is ambiguous: it matches session run {found['session'].name} "
                             f"and MLflow run {found['mlflow']} (give more characters)")
    if "session" in found:
        run_dir = found["session"]
        return _session_report(run_dir, out if out is not None else _session_path(run_dir, cfg.reports_dir))
    if "mlflow" in found:
        return report_for_run(found["mlflow"], config=cfg, out=out)
    if len(ref.strip()) < MIN_PREFIX:
        raise PeakTradeError(errors[0])  # the same "too short" for both kinds of run: said once
    raise PeakTradeError(f"{ref!r} is not a saved result directory, a session run or an MLflow run: "
                         + "; ".join(errors))


def _session_path(run_dir: Path, reports_dir: Path) -> Path:
    """``<reports dir>/<run id>-<environment>-<symbol>-<timeframe>.html`` (the run id holds the strategy)."""
    from peaktrade.live.runlog import read_meta
    from peaktrade.reporting import report_path

    m = read_meta(run_dir)
    return report_path(reports_dir, kind=str(m.get("environment") or "session"), run_id=run_dir.name,
                       symbol=m.get("symbol"), timeframe=m.get("timeframe"))


def _session_report(run_dir: Path, target: Path) -> Path:
    """Write the report of a session run: its equity, trades and summary, labelled with its exchange."""
    from peaktrade.reporting import build_report, report_title
    from peaktrade.reporting.saved import session_result

    res = session_result(run_dir)
    m = res.meta
    title = report_title(str(m.get("environment") or "session"), res.strategy, m.get("symbol"), m.get("timeframe"))
    facts = {"run id": run_dir.name, "environment": m.get("environment"), "mode": m.get("mode"),
             "status": m.get("status"), "started": m.get("started_at"), "ended": m.get("ended_at"),
             "config hash": m.get("config_hash"), "code version": m.get("code_version"), "run dir": str(run_dir)}
    replay = m.get("replay") or {}
    return build_report(title=title, path=target, result=res, provenance={k: v for k, v in facts.items() if v},
                        exchange=m.get("exchange"),
                        notes=f"replayed {replay.get('bars')} stored bars" if replay else None)


def register(root: typer.Typer) -> None:
    """Add the ``report`` command to the root app."""
    root.command("report")(report)
