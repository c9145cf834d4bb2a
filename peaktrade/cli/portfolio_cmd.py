"""``peaktrade portfolio run``: backtest a multi-asset portfolio on stored bars (or the synthetic set)."""

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
    parent.add_typer(app, name="portfolio", help="Backtest multi-asset portfolios (allocation, rebalancing, shared cash).")


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
    from peaktrade.cli._common import err_console
    from peaktrade.errors import bad_value
    from peaktrade.portfolio import REBALANCE, Allocation, load_universe, run_portfolio

    cfg = load_cfg(ctx.obj)
    offline = symbols is None and exchange is None
    syms = _symbols(symbols or _DEFAULT_SYMBOLS)
    alloc_kw = parse_kv(alloc_param, option="--alloc-param")
    w = _weights(weights, syms)
    if w is not None:
        alloc_kw["weights"] = w
    # the cheap checks before the data is read
    Allocation(rule=alloc, **alloc_kw)
    if rebalance not in REBALANCE:
        raise PeakTradeError(bad_value("rebalance", rebalance, "one of " + ", ".join(REBALANCE)))
    source = "synthetic" if offline else (exchange or cfg.data.exchange)
    bars = load_universe(syms, timeframe, exchange=source, start=start, end=end, config=cfg)
    if offline and not as_json:
        err_console.print(f"data: seeded correlated synthetic set {', '.join(syms)} {timeframe} (offline default; "
                          "pass --symbols to use stored data)", highlight=False, soft_wrap=True)
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
