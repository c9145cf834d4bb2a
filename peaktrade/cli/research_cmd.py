"""``peaktrade demo``, ``backtest``, ``sweep``, ``walk-forward`` and ``lookahead``."""

from __future__ import annotations

import contextlib
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from peaktrade.cli._common import (
    JSON_OPTION,
    console,
    err_console,
    frame_records,
    load_cfg,
    parse_kv,
    print_costs,
    print_json,
    print_walk_forward,
    quality_value,
    stats_doc,
    stats_table,
)
from peaktrade.errors import PeakTradeError

if TYPE_CHECKING:
    import pandas as pd

    from peaktrade.config import Config

_ENGINE_DOC = "Engine option from config [backtest] when omitted."
#: ``--cluster`` of sweep, walk-forward, optimize and experiment run (peaktrade.compute, docs/scale.md).
CLUSTER_OPTION = typer.Option(
    None, "--cluster", help="Where the work runs: local (in process), local:N (a Dask LocalCluster of N worker "
    "processes) or tcp://HOST:PORT (a running Dask scheduler). Default: [compute] backend in the config.")
#: A sweep estimated to take longer (seconds) prints its estimate before it runs.
LONG_SWEEP_SECONDS = 10.0


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
    """Load the bars; a --start/--end window holding fewer than 2 says where the stored data lies."""
    from peaktrade.data import load_bars

    bars = load_bars(symbol, timeframe, exchange=exchange, start=start, end=end, config=cfg)
    if len(bars) < 2 and (start is not None or end is not None):
        whole = load_bars(symbol, timeframe, exchange=exchange, config=cfg)
        window = " ".join(([f"from {start}"] if start else []) + ([f"to {end}"] if end else []))
        span = (f"the stored data spans {whole.index[0]:%Y-%m-%d %H:%M} → {whole.index[-1]:%Y-%m-%d %H:%M} "
                f"({len(whole):,} bars)" if len(whole) else "nothing is stored")
        raise PeakTradeError(f"{len(bars)} bar(s) of {symbol} {timeframe} on {exchange or cfg.data.exchange} "
                             f"{window}: expected at least 2; {span}")
    return bars


def _json_mode(as_json: bool) -> contextlib.AbstractContextManager[Any]:
    """With --json, what runs inside (a user strategy's print(), at import or per bar) writes to stderr:
    stdout holds only the JSON document, printed after the block."""
    return contextlib.redirect_stdout(sys.stderr) if as_json else contextlib.nullcontext()


#: Keywords the commands pass to the API themselves: a --param/--grid of that name would clash with them.
_RESERVED = ("config", "space", "progress", "n_parts", "chunk", "cluster", "runner", "cache", "max_memory", "memory_limit", "top", "out", "pbo_sample",
             "calibrate", "train", "test", "step", "anchored",
             "metric", "minimize", "checkpoints", "signal_bars", "n_random", "seed", "max_combos",
             "max_signal_bars", "strategy", "bars")


def _check_names(ctx: typer.Context, strat: Any, values: dict[str, Any], option: str) -> dict[str, Any]:
    """Return ``values`` when every name is a parameter of ``strat``; else raise one line naming what to use.

    A backtest option or an option of the command (``--param fees=0.002``) names its option; an unknown
    name gets the closest parameter names (``did you mean``) and the strategy's parameters."""
    import difflib

    from peaktrade.backtest.options import OPTION_NAMES
    from peaktrade.strategies.base import STOP_PARAMS

    params = (*strat.param_names, *STOP_PARAMS)
    cli_opts: dict[str, str] = {}
    for c in (ctx.parent, ctx):  # the root options (--config) and the command's own
        for p in (c.command.params if c is not None else ()):
            for o in getattr(p, "opts", ()):
                if o.startswith("--"):
                    cli_opts.setdefault(o[2:].replace("-", "_"), o)
    for name, value in values.items():
        if name in params:
            continue
        given = f"{option} {name}={value}"
        if name in OPTION_NAMES:
            use = f"use {cli_opts[name]}" if name in cli_opts else "set it in the config's [backtest] section"
            raise PeakTradeError(f"{given}: {name} is a backtest option, not a parameter of {strat.name}: {use}")
        if name in cli_opts:
            raise PeakTradeError(f"{given}: {name} is an option of the command, not a parameter of {strat.name}: "
                                 f"use {cli_opts[name]}")
        if name in _RESERVED:
            raise PeakTradeError(f"{given}: {name} is a keyword peaktrade sets itself, not a parameter of "
                                 f"{strat.name}; its parameters: {', '.join(params)}")
        close = difflib.get_close_matches(name, params, n=3)
        hint = f" (did you mean {' or '.join(close)}?)" if close else ""
        raise PeakTradeError(f"{given}: {name} is not a parameter of {strat.name}{hint}; its parameters: "
                             f"{', '.join(params)}")
    return values


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
_EXCHANGE = typer.Option(None, "--exchange", help="Store exchange (default: [data] exchange; 'synthetic' for demo data).")
_START = typer.Option(None, "--start", help="First bar (inclusive), e.g. 2020-01-01.")
_END = typer.Option(None, "--end", help="Last bar (exclusive).")
_FEES = typer.Option(None, "--fees", help="Proportional fee per side. " + _ENGINE_DOC)
_SLIP = typer.Option(None, "--slippage", help="Proportional slippage. " + _ENGINE_DOC)
_EXEC = typer.Option(None, "--execution", help="next_open or close. " + _ENGINE_DOC)
_DIR = typer.Option(None, "--direction", help="long, short or both (default: long).")
_GRID = typer.Option(None, "--grid", help="NAME=START:STOP[:STEP] (stop exclusive) or NAME=A,B,C (repeatable). "
                     "Without --grid: the strategy's declared search space.")
_FIXED = typer.Option(None, "--param", help="Fixed strategy parameter NAME=VALUE (repeatable).")


def _search(ctx: typer.Context, strat: Any, grid: list[str] | None,
            param: list[str] | None) -> tuple[dict[str, Any], str | None]:
    """Return the sweep keywords and ``space`` of ``--grid``/``--param``: the declared space without a grid.

    A parameter given both a fixed value and a grid is an error (which one was meant is unknowable)."""
    from peaktrade.experiments.grid import parse_grid  # here: the experiments package is not on backtest's path

    fixed = _check_names(ctx, strat, parse_kv(param, option="--param"), "--param")
    grids = _check_names(ctx, strat, parse_grid(grid), "--grid")
    both = sorted(set(fixed) & set(grids))
    if both:
        raise PeakTradeError(f"--param {both[0]}={fixed[both[0]]!r} conflicts with --grid {both[0]}=...: expected "
                             "a parameter either fixed (--param) or swept (--grid), not both")
    return {**fixed, **grids}, (None if grids else "declared")


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
    with _json_mode(as_json):
        strat = get_strategy(strategy, config=cfg)
        kw = _check_names(ctx, strat, parse_kv(param, option="--param"), "--param")
        bars = _bars(cfg, symbol, timeframe, exchange, start, end)
        res = run(strat, bars, **_engine_opts(cfg, fees, slippage, execution, direction), **kw)
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
    grid: list[str] | None = _GRID,
    symbol: str = _SYMBOL,
    timeframe: str = _TF,
    exchange: str | None = _EXCHANGE,
    start: str | None = _START,
    end: str | None = _END,
    param: list[str] | None = _FIXED,
    fees: float | None = _FEES,
    slippage: float | None = _SLIP,
    execution: str | None = _EXEC,
    direction: str | None = _DIR,
    metric: str = typer.Option("sharpe", "--metric", help="Ranking metric."),
    top: int | None = typer.Option(None, "--top", min=1, help="Keep only the best K rows by --metric (memory stays "
                                   "bounded whatever the grid) and print them. Without it the whole table is kept "
                                   "(refused above [sweep] max_memory) and the best 10 printed."),
    out: Path | None = typer.Option(None, "--out", help="Stream every row to this file (.parquet or .csv), block by "
                                    "block: memory stays bounded whatever the grid."),
    cluster: str | None = CLUSTER_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Sweep parameter grids (fused, parallel), print the top rows and write the table.

    Without --grid the strategy's declared search space is swept (`peaktrade strategies show NAME`),
    with each --param fixed. The memory and time are estimated first (combinations × bars): above
    [sweep] max_memory the sweep is refused with one line; a long run prints its estimate first."""
    from peaktrade.backtest import STAT_KEYS, estimate_sweep
    from peaktrade.compute import backend
    from peaktrade.strategies import get_strategy

    if metric not in STAT_KEYS:
        raise PeakTradeError(f"--metric {metric!r} is invalid: expected one of {', '.join(STAT_KEYS)}")
    if out is not None and out.suffix not in (".parquet", ".csv"):
        raise PeakTradeError(f"--out {out} is invalid: expected a .parquet or .csv path")
    cfg = load_cfg(ctx.obj)
    shown = top or 10
    with _json_mode(as_json):
        strat = get_strategy(strategy, config=cfg)
        grids, space = _search(ctx, strat, grid, param)
        bars = _bars(cfg, symbol, timeframe, exchange, start, end)
        kw = {"space": space, "top": top if top is not None or out is None else shown, "out": out, "metric": metric,
              **_engine_opts(cfg, fees, slippage, execution, direction), **grids}
        est = estimate_sweep(strat, bars, **kw)
        if est.memory <= est.limit and est.seconds > LONG_SWEEP_SECONDS:
            est = estimate_sweep(strat, bars, calibrate=True, **kw)
            if est.seconds > LONG_SWEEP_SECONDS:  # before a long run, what it will take (stderr: stdout is results)
                err_console.print(f"estimate: {est.describe()}", soft_wrap=True, highlight=False)
        with backend(cluster, config=cfg) as be:
            res = be.sweep(strat, bars, progress=None, **kw)
    if as_json:
        from peaktrade.backtest.sweep import rank_table

        ranked = rank_table(res.table, metric).head(shown)
        doc = {**_run_doc("sweep", res, symbol=symbol, timeframe=timeframe,
                          exchange=exchange or cfg.data.exchange, bars=bars),
               "grid": res.grid, "metric": metric, "combinations": res.n_combos, "skipped": res.n_skipped,
               "skipped_reasons": res.skipped_reasons, "elapsed_s": res.elapsed,
               "table_path": None if out is None else str(out), "rows_kept": len(res.table),
               "pbo_sample": res.part_sample, "top": frame_records(ranked),
               "compute": _compute_doc(res.compute)}
        print_json(doc)
        return
    if space is not None:
        console.print("declared search space: " + ", ".join(f"{k}={','.join(map(_param_text, res.grid[k]))}" for k in res.param_names),
                      soft_wrap=True, highlight=False)
    console.print(top_table(res.table, metric, shown, res.param_names))
    if len(res.table):
        from peaktrade.backtest.stats import format_stat

        b = res.table.iloc[0]
        console.print(f"buy and hold of the same bars: {format_stat('benchmark_return', b['benchmark_return'])}, "
                      f"Sharpe {format_stat('benchmark_sharpe', b['benchmark_sharpe'])}, max drawdown "
                      f"{format_stat('benchmark_max_drawdown', b['benchmark_max_drawdown'])}", soft_wrap=True,
                      highlight=False)
    print_costs(res.costs)
    console.print(f"{res.n_combos:,} combinations × {len(bars):,} bars in {res.elapsed:.2f} s "
                  f"({res.n_combos * len(bars) / max(res.elapsed, 1e-9) / 1e6:,.0f} M bar-combinations/s); "
                  f"{res.n_skipped} skipped by constraints", soft_wrap=True)
    if res.part_sample is not None:
        console.print(f"kept the best {len(res.table):,} rows by {metric}; PBO part sums kept for {res.part_sample}",
                      soft_wrap=True, highlight=False)
    if out is not None:
        console.print(f"table written to {out} ({res.n_combos:,} rows)", soft_wrap=True, highlight=False)
    if res.compute is not None:
        c = res.compute
        console.print(f"ran on {c.cluster} ({c.workers} worker(s)): {c.chunks} chunk(s), {c.computed} computed, "
                      f"{c.cached} from the cache" + (f" ({c.cache_dir})" if c.cache_dir else ""),
                      soft_wrap=True, highlight=False, markup=False)


def _compute_doc(c: Any) -> dict[str, Any]:
    """Where a sweep ran, for --json: in process, or the cluster and its chunks (computed / from the cache)."""
    if c is None:
        return {"backend": "local"}
    return {"backend": "dask", "cluster": c.cluster, "workers": c.workers, "chunks": c.chunks, "computed": c.computed,
            "cached": c.cached, "cache_dir": c.cache_dir}


def _span(option: str, raw: str | None) -> int | str | None:
    """A window of --train/--test/--step: a bar count (``2000``) or a time span (``180D``, ``3MS``)."""
    if raw is None:
        return None
    raw = raw.strip()
    if raw.isdigit():
        return int(raw)
    if not raw:
        raise PeakTradeError(f"{option} is empty: expected a bar count (2000) or a time span (180D, 3MS)")
    return raw


def walk_forward_cmd(
    ctx: typer.Context,
    strategy: str = typer.Argument(..., help="Strategy name (see `peaktrade strategies list`)."),
    train: str = typer.Option(..., "--train", help="Train window: bars (2000) or a span (180D, 3MS)."),
    test: str = typer.Option(..., "--test", help="Test window: bars (500) or a span (30D, 1MS)."),
    step: str | None = typer.Option(None, "--step", help="Window step (default: --test)."),
    anchored: bool = typer.Option(False, "--anchored", help="Train windows all start at the first bar."),
    grid: list[str] | None = _GRID,
    param: list[str] | None = _FIXED,
    symbol: str = _SYMBOL,
    timeframe: str = _TF,
    exchange: str | None = _EXCHANGE,
    start: str | None = _START,
    end: str | None = _END,
    fees: float | None = _FEES,
    slippage: float | None = _SLIP,
    execution: str | None = _EXEC,
    direction: str | None = _DIR,
    metric: str = typer.Option("sharpe", "--metric", help="Metric the train sweeps are ranked by."),
    minimize: bool = typer.Option(False, "--minimize", help="Lower --metric is better (e.g. max_drawdown)."),
    cluster: str | None = CLUSTER_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Walk-forward optimization: sweep each train window, trade the next test window, stitch them.

    Without --grid each train sweep covers the strategy's declared search space, with each --param fixed."""
    from peaktrade.experiments.walk_forward import walk_forward
    from peaktrade.strategies import get_strategy

    cfg = load_cfg(ctx.obj)
    with _json_mode(as_json):
        strat = get_strategy(strategy, config=cfg)
        grids, space = _search(ctx, strat, grid, param)
        bars = _bars(cfg, symbol, timeframe, exchange, start, end)
        wf = walk_forward(strat, bars, train=_span("--train", train), test=_span("--test", test),
                          step=_span("--step", step), anchored=anchored, metric=metric, minimize=minimize,
                          space=space, cluster=cluster, **_engine_opts(cfg, fees, slippage, execution, direction), **grids)
    print_walk_forward(wf, symbol=symbol, timeframe=timeframe, exchange=exchange or cfg.data.exchange,
                       as_json=as_json)


def lookahead_cmd(
    ctx: typer.Context,
    strategy: str = typer.Argument(..., help="Strategy name (see `peaktrade strategies list`)."),
    param: list[str] | None = typer.Option(None, "--param", help="Strategy parameter NAME=VALUE (repeatable)."),
    grid: list[str] | None = typer.Option(None, "--grid", help="Also check these values: NAME=START:STOP[:STEP] "
                                          "or NAME=A,B,C (repeatable)."),
    symbol: str = _SYMBOL,
    timeframe: str = _TF,
    exchange: str | None = _EXCHANGE,
    start: str | None = _START,
    end: str | None = _END,
    max_combos: int = typer.Option(64, "--max-combos", help="Most parameter combinations checked (sampled)."),
) -> None:
    """Check that a strategy never reads the future: recompute it on truncated histories and compare.

    Exit 0 when it passed, 1 (with the first offending bar, output and value) when it did not."""
    from peaktrade.experiments.lookahead import lookahead_check
    from peaktrade.strategies import get_strategy

    cfg = load_cfg(ctx.obj)
    strat = get_strategy(strategy, config=cfg)
    kw, _ = _search(ctx, strat, grid, param)  # without --grid: the given parameters only, not the declared space
    bars = _bars(cfg, symbol, timeframe, exchange, start, end)
    rep = lookahead_check(strat, bars, max_combos=max_combos, **kw)
    console.print(f"{symbol} {timeframe}, {len(bars):,} bars: {rep.message}",
                  highlight=False, soft_wrap=True)
    if not rep.passed:
        raise typer.Exit(1)


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
        say(f"  {k:<18} {quality_value(str(k), v)}")
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
    app.command("walk-forward")(walk_forward_cmd)
    app.command("lookahead")(lookahead_cmd)
