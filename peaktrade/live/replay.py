"""Paper replay: the execution pipeline of sessions driven by stored bars, in-process.

The same strategy code as the backtest produces the signals (its ``signal_nb`` stepped one bar at
a time with persistent state), the same cost model fills the orders, and every order passes the
pipeline's checks. The result is a :class:`~peaktrade.backtest.BacktestResult`, so it can be
compared with ``run()`` field by field: the parity test requires identical trades and final
equity to 1e-9 relative.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from peaktrade.backtest.engine import check_bars, pop_options, resolve_params
from peaktrade.backtest.enums import EXIT_OPEN, EXIT_REASON_NAMES, trade_dt
from peaktrade.backtest.result import BacktestResult, trades_frame
from peaktrade.backtest.stats import bar_interval
from peaktrade.execution.assembly import build_pipeline
from peaktrade.execution.ledger import Ledger
from peaktrade.execution.pipeline import Hooks, OrderCheck
from peaktrade.strategies.base import Strategy, prices_from_bars
from peaktrade.strategies.registry import get_strategy
from peaktrade.strategies.stepping import SignalStepper

if TYPE_CHECKING:
    from peaktrade.config import Config


def paper_replay(strategy: str | Strategy, bars: pd.DataFrame, *, checks: list[OrderCheck] | None = None,
                 hooks: Hooks | None = None, config: Config | None = None, **kwargs: Any) -> BacktestResult:
    """Replay ``bars`` through the paper execution pipeline.

    Keywords are those of :func:`peaktrade.backtest.run` (backtest options and strategy
    parameters by name), plus ``checks`` (pre-trade checks such as a SafetyGuard and RiskLimits)
    and ``hooks`` (pipeline callbacks, e.g. a run log); ``config`` as in ``run()``.
    """
    strat = get_strategy(strategy, config=config)
    check_bars(bars)
    opts, _source = pop_options(kwargs, config, strategy=strat)  # the same config defaults as run()
    resolved, stops = resolve_params(strat, kwargs)
    o = opts.replace(**stops)  # validates every option exactly as run() does
    prices = prices_from_bars(bars if "volume" in bars else bars.assign(volume=0.0))
    frac = opts.size_fraction(prices, bars.index)
    symbol = str(bars.attrs.get("symbol", "BTC/USD"))
    pipe = build_pipeline(symbol, o, checks=checks or [], hooks=hooks)
    ledger = pipe.ledger
    bar_of: dict[str, int] = {}
    pipe.hooks.after_fill.append(lambda f: bar_of.setdefault(f.client_order_id, pipe.bar_index))
    stepper = SignalStepper(strat, bars, resolved)
    step = bar_interval(bars.index)
    n = len(bars)
    equity, cash, pos = np.empty(n), np.empty(n), np.empty(n)
    entries, exits = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    for t, (time, row) in enumerate(zip(bars.index, bars[["open", "high", "low", "close"]].to_numpy())):
        e, x = stepper.step(t)
        entries[t], exits[t] = e, x
        f = frac[t if len(frac) > 1 else 0]
        equity[t] = pipe.on_bar(time, time + step, row[0], row[1], row[2], row[3], float(prices.volume[t]), e, x,
                                frac=f)
        cash[t], pos[t] = ledger.cash, ledger.position(symbol)
    records = _records(ledger, bar_of, symbol, bars["close"].iloc[-1], n)
    idx = bars.index
    return BacktestResult(
        bars=bars, equity=pd.Series(equity, index=idx, name="equity"), cash=pd.Series(cash, index=idx, name="cash"),
        positions=pd.Series(pos, index=idx, name="position"),
        trades=trades_frame(records, idx, execution=o.execution),
        entries=pd.Series(entries, index=idx, name="entries"), exits=pd.Series(exits, index=idx, name="exits"),
        init_cash=o.init_cash, options={**o.to_dict(), **stops, "mode": "paper_replay"}, options_source=_source,
        params={**resolved, **stops}, strategy=strat.name,
    )


def _records(ledger: Ledger, bar_of: dict[str, int], symbol: str, last_close: float, n: int) -> np.ndarray:
    """Return the ledger's trades (and the open position) as backtest trade records."""
    code = {name: i for i, name in enumerate(EXIT_REASON_NAMES)}
    rows = []
    for tr in ledger.trades:
        rows.append((tr.direction, bar_of[tr.entry_order_id], tr.entry_price, tr.entry_fees,
                     bar_of[tr.exit_order_id], tr.exit_price, tr.exit_fees, tr.size, tr.pnl, tr.ret,
                     code.get(tr.exit_reason, 0)))
    p = ledger.positions.get(symbol)
    if p is not None and p.quantity != 0.0:
        size = abs(p.quantity)
        direction = 1 if p.quantity > 0 else -1
        pnl = size * (last_close - p.avg_price) * direction - p.entry_fees_total
        rows.append((direction, bar_of[p.entry_order_id], p.avg_price, p.entry_fees_total, n - 1, last_close, 0.0,
                     size, pnl, pnl / (size * p.avg_price + p.entry_fees_total), EXIT_OPEN))
    rec = np.zeros(len(rows), dtype=trade_dt)
    for i, r in enumerate(rows):
        rec[i] = (i, *r)
    return rec
