"""``peaktrade demo``, ``peaktrade backtest`` and ``peaktrade sweep``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from peaktrade.cli._common import (
    JSON_OPTION,
    console,
    frame_records,
    load_cfg,
    parse_kv,
    print_costs,
    print_json,
    quality_value,
    stats_doc,
    stats_table,
)
from peaktrade.errors import PeakTradeError
from peaktrade.experiments.grid import parse_grid

if TYPE_CHECKING:
    import pandas as pd

    from peaktrade.config import Config

_ENGINE_DOC = "Engine option from config [backtest] when omitted."


def _engine_opts(cfg: Config, fees: float | None, slippage: float | None, execution: str | None,
                 direction: str | None) -> dict[str, Any]:
    """Return the options given on the command line and ``config=cfg``: the API fills in the rest from
    the config's [backtest] section, the way a notebook's ``run(...)`` does, and records the source."""
    given = {"fees": fees, "slippage": slippage, "execution": execution, "direction": direction}
    return {"config": cfg, **{k: v for k, v in given.items() if v is not None}}


def _run_doc(command: str, res: Any, *, symbol: str, timeframe: str, exchange: str | None,
             bars: pd.DataFrame) -> dict[str, Any]:
    """The common head of a result's JSON document: what ran, on which bars, with which costs."""
    return {"command": command, "strategy": res.strategy, "symbol": symbol, "timeframe": timeframe,
            "exchange": exchange, "bars": len(bars), "start": bars.index[0].isoformat(),
            "end": bars.index[-1].isoformat(), "options": res.options, "options_source": res.options_source,
            "costs": res.costs}


def _bars(cfg: Config, symbol: str, timeframe: str, exchange: str | None, start: str | None,
          end: str | None) -> pd.DataFrame:
    from peaktrade.data import load_bars

    return load_bars(symbol, timeframe, exchange=exchange, start=start, end=end, config=cfg)


def _param_text(v: Any) -> str:
    """A parameter value as given (a sweep table holds ints as floats: 20.0 reads 20)."""
    return f"{v:g}" if isinstance(v, float) else str(v)


TOP_COLUMNS = ("total_return", "excess_return", "sharpe", "max_drawdown", "n_trades")


def top_table(table, metric: str, n: int, params: list[str]) -> Table:
    """Render the top ``n`` sweep rows by ``metric`` (readable values: % and units)."""
    from peaktrade.backtest.stats import format_stat
    from peaktrade.backtest.sweep import rank_table

    cols = [*params, *TOP_COLUMNS]
    if metric not in cols:
        cols.append(metric)
    t = Table(title=f"top {n} by {metric}")
    for c in cols:
        t.add_column(c, justify="right")
    for _, row in rank_table(table, metric).head(n).iterrows():  # ruined combinations are never ranked
        t.add_row(*(_param_text(row[c]) if c in params else format_stat(c, row[c]) for c in cols))
    return t


_SYMBOL = typer.Option("BTC/USD", "--symbol", help="Market symbol, e.g. BTC/USD.")
_TF = typer.Option("1h", "--timeframe", help="Bar timeframe, e.g. 1h.")
_EXCHANGE = typer.Option(None, "--exchange", help="Store exchange (default from config; 'synthetic' for demo data).")
_START = typer.Option(None, "--start", help="First bar (inclusive), e.g. 2020-01-01.")
_END = typer.Option(None, "--end", help="Last bar (exclusive).")
_FEES = typer.Option(None, "--fees", help="Proportional fee per side. " + _ENGINE_DOC)
_SLIP = typer.Option(None, "--slippage", help="Proportional slippage. " + _ENGINE_DOC)
_EXEC = typer.Option(None, "--execution", help="next_open or close. " + _ENGINE_DOC)
_DIR = typer.Option(None, "--direction", help="long, short or both (default: long).")


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
    direction: str | None = _DIR,
    as_json: bool = JSON_OPTION,
) -> None:
    """Backtest one strategy on stored bars and print its statistics, its costs and execution, and the
    buy-and-hold benchmark of the same bars."""
    from peaktrade.backtest import run
    from peaktrade.strategies import get_strategy

    cfg = load_cfg(ctx.obj)
    bars = _bars(cfg, symbol, timeframe, exchange, start, end)
    res = run(get_strategy(strategy, config=cfg), bars, **_engine_opts(cfg, fees, slippage, execution, direction),
              **parse_kv(param, option="--param"))
    stats = res.stats()
    if as_json:
        print_json({**_run_doc("backtest", res, symbol=symbol, timeframe=timeframe, exchange=exchange or
                               cfg.data.exchange, bars=bars), "params": res.params, "stats": stats_doc(stats)})
        return
    console.print(stats_table(stats, f"{strategy} {res.params} on {symbol} {timeframe} ({len(bars):,} bars, "
                                     f"{bars.index[0]:%Y-%m-%d} → {bars.index[-1]:%Y-%m-%d})"))
    print_costs(res.costs)


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
    direction: str | None = _DIR,
    metric: str = typer.Option("sharpe", "--metric", help="Ranking metric."),
    top: int = typer.Option(10, "--top", help="Rows to print."),
    out: Path | None = typer.Option(None, "--out", help="Write the full table (.parquet or .csv)."),
    as_json: bool = JSON_OPTION,
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
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        res.table.to_parquet(out) if out.suffix == ".parquet" else res.table.to_csv(out, index=False)
    if as_json:
        from peaktrade.backtest.sweep import rank_table

        ranked = rank_table(res.table, metric).head(top)
        doc = {**_run_doc("sweep", res, symbol=symbol, timeframe=timeframe,
                          exchange=exchange or cfg.data.exchange, bars=bars),
               "grid": res.grid, "metric": metric, "combinations": len(res.table), "skipped": res.n_skipped,
               "skipped_reasons": res.skipped_reasons, "elapsed_s": res.elapsed,
               "table_path": None if out is None else str(out), "top": frame_records(ranked)}
        print_json(doc)
        return
    console.print(top_table(res.table, metric, top, res.param_names))
    if len(res.table):
        from peaktrade.backtest.stats import format_stat

        b = res.table.iloc[0]
        console.print(f"buy and hold of the same bars: {format_stat('benchmark_return', b['benchmark_return'])}, "
                      f"Sharpe {format_stat('benchmark_sharpe', b['benchmark_sharpe'])}, max drawdown "
                      f"{format_stat('benchmark_max_drawdown', b['benchmark_max_drawdown'])}", soft_wrap=True,
                      highlight=False)
    print_costs(res.costs)
    console.print(f"{len(res.table):,} combinations × {len(bars):,} bars in {res.elapsed:.2f} s "
                  f"({len(res.table) * len(bars) / max(res.elapsed, 1e-9) / 1e6:,.0f} M bar-combinations/s); "
                  f"{res.n_skipped} skipped by constraints", soft_wrap=True)
    if out is not None:
        console.print(f"table written to {out}")


def demo(ctx: typer.Context) -> None:
    """Run the flagship experiment offline: data quality, then the backtest and sweep notebooks via
    papermill, tracked in MLflow, with HTML reports."""
    from peaktrade.data import demo_dataset, quality_summary
    from peaktrade.experiments.batch import demo_specs, run_experiment

    t0 = time.perf_counter()
    cfg = load_cfg(ctx.obj)
    bars = demo_dataset(config=cfg)
    summary = quality_summary(bars, cfg.demo.timeframe)
    t = Table(title=f"data quality: synthetic {cfg.demo.symbol} {cfg.demo.timeframe} (offline default)",
              show_header=False)
    for k, v in summary.items():
        t.add_row(str(k), quality_value(str(k), v))
    console.print(t)
    failed = 0
    for spec in demo_specs(cfg):
        for o in run_experiment(spec, config=cfg, parallel=2):
            status = "ok" if o.ok else f"[red]FAILED[/] {o.error}"
            console.print(f"{spec.name} #{o.index}: {status} in {o.seconds:.1f} s, MLflow run {o.run_id or '-'}, "
                          f"notebook {o.output}")
            failed += not o.ok
    reports = sorted(cfg.reports_dir.glob("*.html"), key=lambda p: p.stat().st_mtime)[-4:]
    console.print(f"\ndemo finished in {time.perf_counter() - t0:.1f} s")
    for r in reports:
        console.print(f"report: {r}")
    console.print("MLflow: peaktrade mlflow ui   (then open the printed URL); runs: peaktrade mlflow runs")
    if failed:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add the research commands to the root app."""
    app.command("demo")(demo)
    app.command("backtest")(backtest)
    app.command("sweep")(sweep)
