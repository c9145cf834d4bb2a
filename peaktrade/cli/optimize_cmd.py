"""``peaktrade optimize``: an Optuna search of a strategy's parameters, batches evaluated by the fused sweep."""

from __future__ import annotations

from typing import Any

import typer

from peaktrade.cli._common import JSON_OPTION, console, frame_records, load_cfg, print_costs, print_json
from peaktrade.cli.research_cmd import (
    _DIR,
    _END,
    _EXCHANGE,
    _EXEC,
    _FEES,
    _FIXED,
    _SLIP,
    _START,
    _SYMBOL,
    _TF,
    CLUSTER_OPTION,
    _bars,
    _engine_opts,
    _json_mode,
    _param_text,
    _run_doc,
    _search,
    top_table,
)
from peaktrade.errors import PeakTradeError


def optimize_cmd(
    ctx: typer.Context,
    strategy: str = typer.Argument(..., help="Strategy name (see `peaktrade strategies list`)."),
    trials: int = typer.Option(..., "--trials", help="Trials to run now (added to the study's earlier ones)."),
    sampler: str = typer.Option("tpe", "--sampler", help="tpe, nsga2 or random."),
    objective: str = typer.Option("sharpe", "--objective",
                                  help="Metric(s) to optimize, comma separated: the first, to maximize (sharpe, "
                                       "sortino, calmar, ...), picks the best trial; e.g. sharpe,max_drawdown "
                                       "(multi-objective; max_drawdown is minimized)."),
    batch: int = typer.Option(32, "--batch", help="Trials per fused sweep call."),
    seed: int | None = typer.Option(None, "--seed", help="Sampler seed (reproducible proposals)."),
    study: str | None = typer.Option(None, "--study",
                                     help="Study name: the same name resumes it (default: strategy, symbol, "
                                          "timeframe and objectives)."),
    grid: list[str] | None = typer.Option(None, "--grid",
                                          help="Search a parameter over NAME=START:STOP[:STEP] (stop exclusive; a "
                                               "range with that step) or NAME=A,B,C (repeatable). Others: the "
                                               "strategy's declared search space."),
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
    top: int = typer.Option(10, "--top", help="Trials to print."),
    track: bool = typer.Option(True, "--track/--no-track", help="Log the study to MLflow (parent run, the best "
                                                                "trials as children, the trials table, the report)."),
    cluster: str | None = CLUSTER_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Search a strategy's parameters with Optuna (TPE, NSGA-II or random), each batch of trials backtested in
    one fused sweep; the study is kept in the project's store (<[data] dir>/studies.sqlite) and resumed by name.

    Prints the best trials and the Deflated Sharpe Ratio of the best one, deflated by every trial of the study."""
    from peaktrade.experiments.optimize import SAMPLERS, optimize, parse_objective
    from peaktrade.strategies import get_strategy

    if sampler not in SAMPLERS:
        raise PeakTradeError(f"--sampler {sampler!r} is invalid: expected one of {', '.join(SAMPLERS)}")
    try:
        objectives, _ = parse_objective(objective)
    except PeakTradeError as e:
        raise PeakTradeError(f"--objective {objective!r} is invalid: {str(e).split(': ', 1)[1]}") from None
    for name, v in (("--trials", trials), ("--batch", batch)):
        if v < 1:
            raise PeakTradeError(f"{name} {v} is invalid: expected an integer >= 1")
    cfg = load_cfg(ctx.obj)
    ex = exchange or cfg.data.exchange
    with _json_mode(as_json):
        strat = get_strategy(strategy, config=cfg)
        given, _ = _search(ctx, strat, grid, param)
        bars = _bars(cfg, symbol, timeframe, exchange, start, end)
        res = optimize(strat, bars, trials=trials, sampler=sampler, objective=objectives, batch=batch, seed=seed,
                       study=study or f"{strat.name} {symbol} {timeframe} {ex} {','.join(objectives)}", cluster=cluster,
                       **_engine_opts(cfg, fees, slippage, execution, direction), **given)
        run_id = None
        if track:
            from peaktrade.tracking import log_optimize

            run_id = log_optimize(res, bars=bars, config=cfg, symbol=symbol, timeframe=timeframe, exchange=ex)
    of = res.overfitting
    if as_json:
        from peaktrade.backtest.sweep import rank_table

        sw = res.trials
        doc = {**_run_doc("optimize", sw, symbol=symbol, timeframe=timeframe, exchange=ex, bars=bars),
               "study": res.study, "storage": res.storage, "sampler": res.sampler, "objectives": list(res.objectives),
               "directions": list(res.directions), "space": res.space, "seed": res.seed, "batch": res.batch,
               "trials_new": res.n_new, "trials_resumed": res.n_resumed, "trials_skipped": res.n_skipped,
               "n_trials": res.n_trials, "batches": res.n_batches, "elapsed_s": res.elapsed,
               "best": ({"trial": int(res.best["trial"]), "params": res.best_params,
                         "values": {o: float(res.best[o]) for o in res.objectives}} if len(res.best) else None),
               "dsr": res.dsr, "overfitting": {str(k): v for k, v in of.items()},
               "pareto": frame_records(res.pareto), "top": frame_records(rank_table(sw.table, objectives[0]).head(top)),
               "mlflow_run_id": run_id}
        print_json(doc)
        return
    _print(res, top=top, symbol=symbol, timeframe=timeframe, n_bars=len(bars), run_id=run_id, track=track)


def _print(res: Any, *, top: int, symbol: str, timeframe: str, n_bars: int, run_id: str | None, track: bool) -> None:
    from peaktrade.backtest.stats import format_stat

    say = console.print
    sw = res.trials
    say(f"study {res.study!r} ({res.storage}): {res.n_new} trial(s) now with {res.sampler}, {res.n_resumed} "
        f"resumed; {res.n_trials} evaluated in all", soft_wrap=True, highlight=False, markup=False)
    say("search space: " + ", ".join(f"{k}={v}" for k, v in res.space.items()), soft_wrap=True, highlight=False,
        markup=False)
    metric = res.objectives[0]
    say(top_table(sw.table, metric, top, ["trial", *sw.param_names]))
    if len(res.objectives) > 1:
        cols = ", ".join(f"{o} ({d})" for o, d in zip(res.objectives, res.directions))
        say(f"Pareto front of {cols}: {len(res.pareto)} trial(s): " + "; ".join(
            f"#{int(r['trial'])} " + " ".join(f"{o}={format_stat(o, r[o])}" for o in res.objectives)
            for _, r in res.pareto.head(10).iterrows()), soft_wrap=True, highlight=False, markup=False)
    if len(res.best):
        params = " ".join(f"{k}={_param_text(v)}" for k, v in res.best_params.items())
        say(f"best by {metric}: trial #{int(res.best['trial'])} {params}: {metric} "
            f"{format_stat(metric, res.best[metric])}", soft_wrap=True, highlight=False, markup=False)
    else:
        say(f"no trial has a finite {metric} without ruin", highlight=False)
    of = res.overfitting
    if len(of):
        say(str(of["dsr_reading"]), soft_wrap=True, highlight=False, markup=False)
        if of.get("pbo_reading"):
            say(str(of["pbo_reading"]), soft_wrap=True, highlight=False, markup=False)
    else:
        say("DSR not computable: it needs at least 2 evaluated trials and a best one", highlight=False)
    print_costs(sw.costs)
    say(f"{res.n_new} trial(s) in {res.n_batches} fused batch(es) of up to {res.batch} × {n_bars:,} bars in "
        f"{res.elapsed:.2f} s; {res.n_skipped} skipped by constraints", soft_wrap=True, highlight=False)
    if run_id:
        say(f"MLflow run {run_id}; report: peaktrade report {run_id}", soft_wrap=True, highlight=False, markup=False)
    elif track:
        say("MLflow: not tracked (see the warning above); the study is stored", highlight=False)


def register(app: typer.Typer) -> None:
    """Add the ``optimize`` command to the root app."""
    app.command("optimize")(optimize_cmd)
