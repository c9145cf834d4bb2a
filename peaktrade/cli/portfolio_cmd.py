"""``peaktrade portfolio run``, ``sweep`` and ``walk-forward``: multi-asset portfolios on stored bars (or the
seeded synthetic set)."""

from __future__ import annotations

from typing import Any

import typer

from peaktrade.cli._common import (
    JSON_OPTION,
    console,
    load_cfg,
    parse_kv,
    print_costs,
    print_json,
    stats_doc,
    stats_table,
)
from peaktrade.errors import PeakTradeError

app = typer.Typer(no_args_is_help=True, help="Multi-asset portfolios: allocation, rebalancing, shared cash.")

_DEFAULT_SYMBOLS = "BTC/USD,ETH/USD,LTC/USD"


def register(parent: typer.Typer) -> None:
    """Add the ``portfolio`` group to the root command."""
    parent.add_typer(app, name="portfolio", help="Backtest, sweep and walk-forward multi-asset portfolios (allocation, "
                      "rebalancing, shared cash).")


def _symbols(text: str) -> list[str]:
    syms = [s.strip() for s in text.split(",") if s.strip()]
    if len(syms) < 1 or len(set(syms)) != len(syms):
        raise PeakTradeError(f"--symbols {text!r} is invalid: expected distinct symbols separated by commas, "
                             "e.g. BTC/USD,ETH/USD")
    return syms


def _weights(text: str | None, symbols: list[str]) -> dict[str, float] | None:
    if text is None:
        return None
    out: dict[str, float] = {}
    for item in text.split(","):
        sym, sep, val = item.partition("=")
        try:
            out[sym.strip()] = float(val)
        except ValueError:
            raise PeakTradeError(f"--weights {text!r} is invalid: expected SYMBOL=FRACTION,... e.g. "
                                 f"{symbols[0]}=0.5") from None
        if not sep:
            raise PeakTradeError(f"--weights {text!r} is invalid: expected SYMBOL=FRACTION,...")
    return out


def _load(cfg: Any, symbols: str | None, syms: list[str], timeframe: str, exchange: str | None, start: str | None,
          end: str | None, as_json: bool) -> tuple[dict[str, Any], str]:
    """Return the bars and their source: the store, or offline (no --symbols, no --exchange) the synthetic set."""
    from peaktrade.cli._common import err_console
    from peaktrade.portfolio import load_universe

    offline = symbols is None and exchange is None
    source = "synthetic" if offline else (exchange or cfg.data.exchange)
    bars = load_universe(syms, timeframe, exchange=source, start=start, end=end, config=cfg)
    if offline and not as_json:
        err_console.print(f"data: seeded correlated synthetic set {', '.join(syms)} {timeframe} (offline default; "
                          "pass --symbols to use stored data)", highlight=False, soft_wrap=True)
    return bars, source


@app.command("run")
def run_cmd(
    ctx: typer.Context,
    symbols: str | None = typer.Option(None, "--symbols", help="Symbols separated by commas (default: "
                                       f"{_DEFAULT_SYMBOLS} of the seeded correlated synthetic set, offline)."),
    timeframe: str = typer.Option("1h", "--timeframe", help="Bar timeframe, e.g. 1h."),
    exchange: str | None = typer.Option(None, "--exchange", help="Store exchange (default: [data] exchange; "
                                        "'synthetic' for the seeded correlated set)."),
    start: str | None = typer.Option(None, "--start", help="First bar (inclusive), e.g. 2020-01-01."),
    end: str | None = typer.Option(None, "--end", help="Last bar (exclusive)."),
    alloc: str = typer.Option("equal", "--alloc", help="equal, fixed, inverse_vol, vol_target, erc or hrp."),
    weights: str | None = typer.Option(None, "--weights", help="Fixed weights SYMBOL=FRACTION,... (--alloc fixed)."),
    alloc_param: list[str] | None = typer.Option(None, "--alloc-param", help="Allocation parameter NAME=VALUE "
                                                 "(lookback, min_periods, target_vol, max_leverage, base; repeatable)."),
    rebalance: str = typer.Option("1W", "--rebalance", help="1D, 1W, 1M, drift, signal or none."),
    drift: float = typer.Option(0.05, "--drift", help="Weight distance that triggers --rebalance drift."),
    mode: str = typer.Option("shared", "--mode", help="shared (one cash balance) or sleeves."),
    strategy: str | None = typer.Option(None, "--strategy", help="Strategy gating each asset's exposure."),
    param: list[str] | None = typer.Option(None, "--param", help="Strategy parameter NAME=VALUE (repeatable)."),
    fees: float | None = typer.Option(None, "--fees", help="Proportional fee per side (default: config [backtest])."),
    slippage: float | None = typer.Option(None, "--slippage", help="Proportional slippage (default: config)."),
    execution: str | None = typer.Option(None, "--execution", help="next_open or close (default: config)."),
    track: bool = typer.Option(False, "--track", help="Log the run to MLflow (with its HTML report)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Backtest a portfolio: target weights of the portfolio's value, rebalanced on a schedule, one shared cash
    balance; print its statistics (the single backtest's keys plus turnover and average correlation), each
    symbol's contribution and the costs."""
    from peaktrade.errors import bad_value
    from peaktrade.portfolio import REBALANCE, Allocation, run_portfolio

    cfg = load_cfg(ctx.obj)
    syms = _symbols(symbols or _DEFAULT_SYMBOLS)
    alloc_kw = parse_kv(alloc_param, option="--alloc-param")
    w = _weights(weights, syms)
    if w is not None:
        alloc_kw["weights"] = w
    # the cheap checks before the data is read
    Allocation(rule=alloc, **alloc_kw)
    if rebalance not in REBALANCE:
        raise PeakTradeError(bad_value("rebalance", rebalance, "one of " + ", ".join(REBALANCE)))
    bars, source = _load(cfg, symbols, syms, timeframe, exchange, start, end, as_json)
    kw: dict[str, Any] = {**alloc_kw, **parse_kv(param, option="--param")}
    given = {"fees": fees, "slippage": slippage, "execution": execution}
    res = run_portfolio(bars, alloc=alloc, rebalance=rebalance, strategy=strategy, mode=mode, drift=drift,
                        config=cfg, **{k: v for k, v in given.items() if v is not None}, **kw)
    stats = res.stats()
    run_id = None
    if track:
        from peaktrade.tracking import log_portfolio

        run_id = log_portfolio(res, config=cfg, timeframe=timeframe, exchange=source)
    if as_json:
        print_json({"command": "portfolio run", "symbols": syms, "timeframe": timeframe, "exchange": source,
                    "bars": len(res.index), "start": res.index[0].isoformat(), "end": res.index[-1].isoformat(),
                    "alloc": res.alloc, "rebalance": rebalance, "mode": mode, "strategy": res.strategy,
                    "params": res.params, "options": res.options, "options_source": res.options_source,
                    "costs": res.costs, "stats": stats_doc(stats),
                    "contribution": {k: float(v) for k, v in res.contribution().items()},
                    "final_weights": {k: float(v) for k, v in res.weights.iloc[-1].items()},
                    "skipped_orders": res.skipped, "run_id": run_id})
        return
    console.print(stats_table(stats, f"portfolio {alloc} rebalance {rebalance} on {', '.join(syms)} {timeframe} "
                                     f"({len(res.index):,} bars, {res.index[0]:%Y-%m-%d} → {res.index[-1]:%Y-%m-%d})"))
    contrib = res.contribution()
    w_last = res.weights.iloc[-1]
    console.print("contribution: " + ", ".join(f"{s} {contrib[s]:+.2%} (weight {w_last[s]:.1%})" for s in syms),
                  highlight=False, soft_wrap=True)
    print_costs(res.costs)
    if run_id:
        console.print(f"tracked: run {run_id}", highlight=False)


_GRID = typer.Option(None, "--grid", help="NAME=START:STOP[:STEP] (stop exclusive) or NAME=A,B,C (repeatable): "
                     "rebalance, drift, alloc, lookback, min_periods, target_vol, max_leverage, base, or a parameter of "
                     "--strategy.")


def _search(*, alloc: str, rebalance: str, drift: float, weights: str | None, syms: list[str],
            alloc_param: list[str] | None, param: list[str] | None, grid: list[str] | None,
            fees: float | None, slippage: float | None, execution: str | None) -> dict[str, Any]:
    """Return the keywords of ``sweep_portfolio``: the grids (--grid) over the fixed values (the options)."""
    from peaktrade.experiments.grid import parse_grid
    from peaktrade.portfolio.sweep import check_grids

    grids = parse_grid(grid)
    fixed: dict[str, Any] = {"alloc": alloc, "rebalance": rebalance, "drift": drift,
                             **parse_kv(alloc_param, option="--alloc-param"), **parse_kv(param, option="--param")}
    w = _weights(weights, syms)
    if w is not None:
        fixed["weights"] = w
    for name in grids:
        if name in fixed and name not in ("alloc", "rebalance", "drift"):
            raise PeakTradeError(f"--grid {name}=... and a fixed {name} were both given: expected one of them")
    given = {"fees": fees, "slippage": slippage, "execution": execution}
    kw = {**fixed, **grids, **{k: v for k, v in given.items() if v is not None}}
    check_grids(kw)  # before the data is read
    return kw


def _check_metric(metric: str) -> None:
    from peaktrade.backtest import STAT_KEYS

    if metric not in STAT_KEYS:
        raise PeakTradeError(f"--metric {metric!r} is invalid: expected one of {', '.join(STAT_KEYS)}")


_SYMBOLS = typer.Option(None, "--symbols", help=f"Symbols separated by commas (default: {_DEFAULT_SYMBOLS} of the "
                        "seeded correlated synthetic set, offline).")
_TF = typer.Option("1h", "--timeframe", help="Bar timeframe, e.g. 1h.")
_EXCHANGE = typer.Option(None, "--exchange", help="Store exchange (default: [data] exchange; 'synthetic' for the "
                         "seeded correlated set).")
_START = typer.Option(None, "--start", help="First bar (inclusive), e.g. 2020-01-01.")
_END = typer.Option(None, "--end", help="Last bar (exclusive).")
_ALLOC = typer.Option("equal", "--alloc", help="equal, fixed, inverse_vol, vol_target, erc or hrp (fixed unless "
                      "--grid alloc=...).")
_WEIGHTS = typer.Option(None, "--weights", help="Fixed weights SYMBOL=FRACTION,... (--alloc fixed).")
_ALLOC_PARAM = typer.Option(None, "--alloc-param", help="Fixed allocation parameter NAME=VALUE (repeatable).")
_REBALANCE = typer.Option("1W", "--rebalance", help="1D, 1W, 1M, drift, signal or none (fixed unless --grid "
                          "rebalance=...).")
_DRIFT = typer.Option(0.05, "--drift", help="Weight distance that triggers rebalance drift.")
_STRATEGY = typer.Option(None, "--strategy", help="Strategy gating each asset's exposure.")
_PARAM = typer.Option(None, "--param", help="Fixed strategy parameter NAME=VALUE (repeatable).")
_FEES = typer.Option(None, "--fees", help="Proportional fee per side (default: config [backtest]).")
_SLIP = typer.Option(None, "--slippage", help="Proportional slippage (default: config).")
_EXEC = typer.Option(None, "--execution", help="next_open or close (default: config).")
_METRIC = typer.Option("sharpe", "--metric", help="Ranking metric.")
_TOP = typer.Option(10, "--top", min=1, help="Rows printed (best first by --metric).")


@app.command("sweep")
def sweep_cmd(
    ctx: typer.Context,
    grid: list[str] | None = _GRID,
    symbols: str | None = _SYMBOLS,
    timeframe: str = _TF,
    exchange: str | None = _EXCHANGE,
    start: str | None = _START,
    end: str | None = _END,
    alloc: str = _ALLOC,
    weights: str | None = _WEIGHTS,
    alloc_param: list[str] | None = _ALLOC_PARAM,
    rebalance: str = _REBALANCE,
    drift: float = _DRIFT,
    strategy: str | None = _STRATEGY,
    param: list[str] | None = _PARAM,
    fees: float | None = _FEES,
    slippage: float | None = _SLIP,
    execution: str | None = _EXEC,
    metric: str = _METRIC,
    top: int = _TOP,
    as_json: bool = JSON_OPTION,
) -> None:
    """Sweep allocation, rebalancing and gating parameters (fused, parallel): print the top rows by --metric, the
    Deflated Sharpe Ratio of the best and the PBO of the sweep, and the costs.

    Every row equals `portfolio run` with the same values, e.g.
    `--alloc vol_target --grid target_vol=0.2,0.4 --grid lookback=168,720 --grid rebalance=1D,1W`."""
    from peaktrade.backtest.sweep import rank_table
    from peaktrade.cli._common import frame_records
    from peaktrade.cli.research_cmd import top_table
    from peaktrade.experiments.portfolio import portfolio_overfitting
    from peaktrade.portfolio.sweep import sweep_portfolio

    _check_metric(metric)
    cfg = load_cfg(ctx.obj)
    syms = _symbols(symbols or _DEFAULT_SYMBOLS)
    kw = _search(alloc=alloc, rebalance=rebalance, drift=drift, weights=weights, syms=syms, alloc_param=alloc_param,
                 param=param, grid=grid, fees=fees, slippage=slippage, execution=execution)
    bars, source = _load(cfg, symbols, syms, timeframe, exchange, start, end, as_json)
    res = sweep_portfolio(bars, strategy=strategy, config=cfg, **kw)
    ok = len(res.table) >= 2 and bool(res.eligible(metric).any())
    over = portfolio_overfitting(res, bars, metric=metric, config=cfg) if ok else None
    n_bars = res.n_bars
    if as_json:
        ranked = rank_table(res.table, metric).head(top)
        print_json({"command": "portfolio sweep", "symbols": syms, "timeframe": timeframe, "exchange": source,
                    "bars": n_bars, "start": min(b.index[0] for b in bars.values()).isoformat(),
                    "end": max(b.index[-1] for b in bars.values()).isoformat(), "strategy": res.gate,
                    "fixed": res.fixed, "options": res.options, "options_source": res.options_source,
                    "costs": res.costs, "grid": res.grid, "metric": metric, "combinations": res.n_combos,
                    "skipped": res.n_skipped, "skipped_reasons": res.skipped_reasons, "elapsed_s": res.elapsed,
                    "rows_kept": len(res.table), "top": frame_records(ranked),
                    "overfitting": None if over is None else {k: _plain(v) for k, v in over.items()}})
        return
    console.print(top_table(res.table, metric, top, res.param_names))
    if over is not None:
        console.print(str(over["dsr_reading"]), soft_wrap=True, highlight=False)
        console.print(str(over["pbo_reading"]), soft_wrap=True, highlight=False)
    print_costs(res.costs)
    console.print(f"{res.n_combos:,} combinations × {n_bars:,} bars × {len(syms)} symbols in {res.elapsed:.2f} s; "
                  f"{res.n_skipped} skipped by constraints", soft_wrap=True, highlight=False)


def _plain(v: Any) -> Any:
    import math

    v = v.item() if hasattr(v, "item") else v
    return None if isinstance(v, float) and not math.isfinite(v) else v


@app.command("walk-forward")
def walk_forward_cmd(
    ctx: typer.Context,
    train: str = typer.Option(..., "--train", help="Train window: bars (2000) or a span (180D, 3MS)."),
    test: str = typer.Option(..., "--test", help="Test window: bars (500) or a span (30D, 1MS)."),
    step: str | None = typer.Option(None, "--step", help="Window step (default: --test)."),
    anchored: bool = typer.Option(False, "--anchored", help="Train windows all start at the first bar."),
    grid: list[str] | None = _GRID,
    symbols: str | None = _SYMBOLS,
    timeframe: str = _TF,
    exchange: str | None = _EXCHANGE,
    start: str | None = _START,
    end: str | None = _END,
    alloc: str = _ALLOC,
    weights: str | None = _WEIGHTS,
    alloc_param: list[str] | None = _ALLOC_PARAM,
    rebalance: str = _REBALANCE,
    drift: float = _DRIFT,
    strategy: str | None = _STRATEGY,
    param: list[str] | None = _PARAM,
    fees: float | None = _FEES,
    slippage: float | None = _SLIP,
    execution: str | None = _EXEC,
    metric: str = typer.Option("sharpe", "--metric", help="Metric the train sweeps are ranked by."),
    minimize: bool = typer.Option(False, "--minimize", help="Lower --metric is better (e.g. max_drawdown)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Walk-forward over allocation parameters: sweep each train window (as `portfolio sweep`), trade the best in
    the next test window (warm lookbacks and indicators, sold at the window's end), stitch the test windows."""
    from peaktrade.cli._common import print_walk_forward, walk_forward_doc
    from peaktrade.cli.research_cmd import _span
    from peaktrade.experiments.portfolio import walk_forward_portfolio

    _check_metric(metric)
    cfg = load_cfg(ctx.obj)
    syms = _symbols(symbols or _DEFAULT_SYMBOLS)
    kw = _search(alloc=alloc, rebalance=rebalance, drift=drift, weights=weights, syms=syms, alloc_param=alloc_param,
                 param=param, grid=grid, fees=fees, slippage=slippage, execution=execution)
    bars, source = _load(cfg, symbols, syms, timeframe, exchange, start, end, as_json)
    wf = walk_forward_portfolio(bars, train=_span("--train", train), test=_span("--test", test),
                                step=_span("--step", step), anchored=anchored, metric=metric, minimize=minimize,
                                strategy=strategy, config=cfg, **kw)
    label = ",".join(syms)
    if as_json:
        doc = walk_forward_doc(wf, symbol=label, timeframe=timeframe, exchange=source)
        print_json({**doc, "command": "portfolio walk-forward", "symbols": syms, "gate": wf.gate})
        return
    print_walk_forward(wf, symbol=label, timeframe=timeframe, exchange=source)
    f = wf.folds
    console.print(f"train sweeps: {int(f['n_combos'].iloc[0]):,} combinations each; median PBO "
                  f"{f['train_pbo'].median():.2f}, median DSR of the selected {f['train_dsr'].median():.2f} "
                  "(PBO no skill ≈ 0.5, lower is better; DSR 0.95+ is strong evidence)", soft_wrap=True,
                  highlight=False)
