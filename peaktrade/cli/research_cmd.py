"""``peaktrade demo``, ``peaktrade backtest`` and ``peaktrade sweep``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from peaktrade.cli._common import console, load_cfg, parse_kv
from peaktrade.errors import PeakTradeError
from peaktrade.experiments.grid import parse_grid

if TYPE_CHECKING:
    import pandas as pd

    from peaktrade.config import Config

_ENGINE_DOC = "Engine option from config [backtest] when omitted."


def _engine_opts(cfg: Config, fees: float | None, slippage: float | None, execution: str | None,
                 direction: str) -> dict[str, Any]:
    from peaktrade.backtest.options import BacktestOptions

    given = {"fees": fees, "slippage": slippage, "execution": execution, "direction": direction}
    return BacktestOptions.from_config(cfg, **{k: v for k, v in given.items() if v is not None}).to_dict(stops=False)


def _bars(cfg: Config, symbol: str, timeframe: str, exchange: str | None, start: str | None,
          end: str | None) -> pd.DataFrame:
    from peaktrade.data import load_bars

    return load_bars(symbol, timeframe, exchange=exchange, start=start, end=end, config=cfg)


def stats_table(stats, title: str) -> Table:
    """Render a stats Series as a two-column rich table."""
    t = Table(title=title, show_header=False)
    for k, v in stats.items():
        t.add_row(k, f"{v:,.6g}" if isinstance(v, float) else str(v))
    return t


def top_table(table, metric: str, n: int, params: list[str]) -> Table:
    """Render the top ``n`` sweep rows by ``metric``."""
    cols = [*params, "total_return", "sharpe", "max_drawdown", "n_trades"]
    if metric not in cols:
        cols.append(metric)
    t = Table(title=f"top {n} by {metric}")
    for c in cols:
        t.add_column(c, justify="right")
    from peaktrade.backtest.sweep import rank_table

    for _, row in rank_table(table, metric).head(n).iterrows():  # ruined combinations are never ranked
        t.add_row(*(f"{row[c]:.4g}" if isinstance(row[c], float) else str(row[c]) for c in cols))
    return t


_SYMBOL = typer.Option("BTC/USD", "--symbol", help="Market symbol, e.g. BTC/USD.")
_TF = typer.Option("1h", "--timeframe", help="Bar timeframe, e.g. 1h.")
_EXCHANGE = typer.Option(None, "--exchange", help="Store exchange (default from config; 'synthetic' for demo data).")
_START = typer.Option(None, "--start", help="First bar (inclusive), e.g. 2020-01-01.")
_END = typer.Option(None, "--end", help="Last bar (exclusive).")
_FEES = typer.Option(None, "--fees", help="Proportional fee per side. " + _ENGINE_DOC)
_SLIP = typer.Option(None, "--slippage", help="Proportional slippage. " + _ENGINE_DOC)
_EXEC = typer.Option(None, "--execution", help="next_open or close. " + _ENGINE_DOC)
_DIR = typer.Option("long", "--direction", help="long, short or both.")


def backtest(
    ctx: typer.Context,
    strategy: str = typer.Argument(..., help="Strategy name (see `peaktrade strategies list`)."),
    symbol: str = _SYMBOL,
    timeframe: str = _TF,
    exchange: str | None = _EXCHANGE,
    start: str | None = _START,
    end: str | None = _END,
    param: list[str] | None = typer.Option(None, "--param", help="Strategy parameter NAME=VALUE (repeatable)."),
    fees: float | None = _FEES,
    slippage: float | None = _SLIP,
    execution: str | None = _EXEC,
    direction: str = _DIR,
) -> None:
    """Backtest one strategy on stored bars and print its statistics."""
    from peaktrade.backtest import run
    from peaktrade.strategies import get_strategy

    cfg = load_cfg(ctx.obj)
    bars = _bars(cfg, symbol, timeframe, exchange, start, end)
    res = run(get_strategy(strategy, config=cfg), bars, **_engine_opts(cfg, fees, slippage, execution, direction),
              **parse_kv(param, option="--param"))
    console.print(stats_table(res.stats(), f"{strategy} {res.params} on {symbol} {timeframe} ({len(bars):,} bars)"))


def sweep(
    ctx: typer.Context,
    strategy: str = typer.Argument(..., help="Strategy name (see `peaktrade strategies list`)."),
    grid: list[str] = typer.Option(..., "--grid", help="NAME=START:STOP[:STEP] (stop exclusive) or NAME=A,B,C."),
    symbol: str = _SYMBOL,
    timeframe: str = _TF,
    exchange: str | None = _EXCHANGE,
    start: str | None = _START,
    end: str | None = _END,
    param: list[str] | None = typer.Option(None, "--param", help="Fixed strategy parameter NAME=VALUE."),
    fees: float | None = _FEES,
    slippage: float | None = _SLIP,
    execution: str | None = _EXEC,
    direction: str = _DIR,
    metric: str = typer.Option("sharpe", "--metric", help="Ranking metric."),
    top: int = typer.Option(10, "--top", help="Rows to print."),
    out: Path | None = typer.Option(None, "--out", help="Write the full table (.parquet or .csv)."),
) -> None:
    """Sweep parameter grids (fused, parallel), print the top rows and write the table."""
    from peaktrade.backtest import STAT_KEYS
    from peaktrade.backtest import sweep as run_sweep
    from peaktrade.strategies import get_strategy

    if metric not in STAT_KEYS:
        raise PeakTradeError(f"--metric {metric!r} is invalid: expected one of {', '.join(STAT_KEYS)}")
    if out is not None and out.suffix not in (".parquet", ".csv"):
        raise PeakTradeError(f"--out {out} is invalid: expected a .parquet or .csv path")
    cfg = load_cfg(ctx.obj)
    bars = _bars(cfg, symbol, timeframe, exchange, start, end)
    grids = {**parse_kv(param, option="--param"), **parse_grid(grid)}
    res = run_sweep(get_strategy(strategy, config=cfg), bars, progress=None, **_engine_opts(cfg, fees, slippage, execution, direction),
                    **grids)
    console.print(top_table(res.table, metric, top, res.param_names))
    console.print(f"{len(res.table):,} combinations × {len(bars):,} bars in {res.elapsed:.2f} s "
                  f"({len(res.table) * len(bars) / max(res.elapsed, 1e-9) / 1e6:,.0f} M bar-combinations/s); "
                  f"{res.n_skipped} skipped by constraints")
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        res.table.to_parquet(out) if out.suffix == ".parquet" else res.table.to_csv(out, index=False)
        console.print(f"table written to {out}")


def demo(ctx: typer.Context) -> None:
    """Run the flagship experiment offline: data quality, then the backtest and sweep notebooks via
    papermill, tracked in MLflow, with HTML reports; ends with the paths of the reports it made."""
    from functools import partial

    from peaktrade.data import demo_dataset, quality_summary
    from peaktrade.experiments.batch import demo_specs, run_experiment

    t0 = time.perf_counter()
    cfg = load_cfg(ctx.obj)
    bars = demo_dataset(config=cfg)
    summary = quality_summary(bars, cfg.demo.timeframe)
    # plain lines printed whole (soft wrap): ids, fingerprints and paths are never cut or broken mid-word
    say = partial(console.print, soft_wrap=True, highlight=False, markup=False)
    say(f"data quality: synthetic {cfg.demo.symbol} {cfg.demo.timeframe} (offline default)")
    for k, v in summary.items():
        say(f"  {k:<18} {f'{v:,.6g}' if isinstance(v, float) else v}")
    failed = 0
    reports: list[Path] = []
    for spec in demo_specs(cfg):
        for o in run_experiment(spec, config=cfg, parallel=2):
            say(f"{spec.name} #{o.index}: {'ok' if o.ok else 'FAILED ' + str(o.error)} in {o.seconds:.1f} s, "
                f"MLflow run {o.run_id or '-'}, notebook {o.output}")
            failed += not o.ok
            # the notebooks name their reports by the run id `experiment run` gives them: these are this run's
            reports += sorted(cfg.reports_dir.glob(f"{o.run_id}-*.html")) if o.run_id else []
    say(f"\ndemo finished in {time.perf_counter() - t0:.1f} s")
    say("MLflow: peaktrade mlflow ui   (then open the printed URL); runs: peaktrade mlflow runs")
    for r in reports:
        say(f"report: {r}")
    if failed:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add the research commands to the root app."""
    app.command("demo")(demo)
    app.command("backtest")(backtest)
    app.command("sweep")(sweep)
