"""Paper replay of a portfolio: the backtest's rebalances sent as orders through the execution pipeline.

Each symbol gets the paper pipeline of a session (:func:`peaktrade.execution.assembly.build_pipeline`)
and all of them book into **one** :class:`~peaktrade.execution.ledger.Ledger` (one cash balance).
At every rebalance the orders are planned by the backtest's own kernel step
(:func:`peaktrade.portfolio.nb.rebalance_group_nb`) from the ledger's cash and positions, then each
is submitted: every check in ``checks`` sees every order (limits that hold in total, on the shared
ledger), ``symbol_checks[symbol]`` only that symbol's. The paper executor fills at the same price
with the same costs, so an unchecked replay reproduces the backtest fill for fill. A denied order
is skipped; the buys after it in that rebalance are skipped too (they were sized with cash the
denied order would have released: fail closed).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from peaktrade.backtest.enums import EXIT_OPEN, EXIT_REASON_NAMES, trade_dt
from peaktrade.backtest.stats import bar_interval
from peaktrade.errors import BacktestError
from peaktrade.execution.assembly import build_pipeline
from peaktrade.execution.ledger import Ledger
from peaktrade.execution.pipeline import Hooks, OrderCheck
from peaktrade.orders.model import OrderRequest, OrderStatus
from peaktrade.portfolio import nb
from peaktrade.portfolio.engine import prepare_portfolio
from peaktrade.portfolio.enums import N_SKIP, order_dt
from peaktrade.portfolio.result import PortfolioResult


def portfolio_paper_replay(bars: dict[str, pd.DataFrame], *, checks: Sequence[OrderCheck] = (),
                           symbol_checks: Mapping[str, Sequence[OrderCheck]] | None = None,
                           hooks: Hooks | None = None, **kwargs: Any) -> PortfolioResult:
    """Replay a portfolio through the paper execution pipeline; keywords as :func:`~peaktrade.portfolio.run_portfolio`.

    Returns a :class:`~peaktrade.portfolio.PortfolioResult` whose ``orders`` are the fills the ledger
    booked and whose ``trades`` are the ledger's round trips (and open positions); ``denials`` lists
    the orders the checks denied. Shared cash without leverage only.
    """
    p = prepare_portfolio(bars, **kwargs)
    if p.mode != "shared" or p.allocation.leverage > 1.0:
        raise BacktestError("the portfolio paper replay runs one shared cash account without leverage: expected "
                            "mode='shared' and max_leverage=1")
    al, opts = p.aligned, p.options
    syms, idx = al.symbols, al.index
    unknown = sorted(set(symbol_checks or {}) - set(syms))
    if unknown:
        raise BacktestError(f"symbol_checks name {', '.join(unknown)}: expected symbols among {', '.join(syms)}")
    n, m = p.price.shape
    ledger = Ledger(opts.init_cash)
    pipes = {}
    for s in syms:
        pipe = build_pipeline(s, opts, checks=[*checks, *(symbol_checks or {}).get(s, ())], hooks=hooks)
        pipe.ledger = ledger
        pipes[s] = pipe
    step = bar_interval(idx)
    at_close = opts.execution == "close"
    c = opts.costs
    equity, cash = np.zeros(n), np.zeros(n)
    positions = np.zeros((n, m))
    fills: list[tuple[int, int, int, float, float, float]] = []
    bar_of: dict[str, int] = {}
    denials: list[Any] = []
    skipped = np.zeros(N_SKIP, dtype=np.int64)
    plan = np.empty(m, dtype=order_dt)
    scratch_trades, scratch_col = np.empty(2 * m, dtype=trade_dt), np.empty(2 * m, dtype=np.int64)
    # the val rows carried forward: what the kernel's last_val holds at each bar
    val_ff = pd.DataFrame(p.val).ffill().to_numpy()
    pos = np.zeros(m)
    for t in range(n):
        cash_arr = np.array([ledger.cash])
        go = p.trade_bars[t] or (p.drift > 0.0 and nb.drifted_nb(cash_arr, pos, val_ff[t], p.target[t], 0, p.groups,
                                                                  p.drift))
        if go:
            z = np.zeros(m)
            k, _ = nb.rebalance_group_nb(t, 0, p.groups, p.price[t], val_ff[t], p.target[t], cash_arr, pos.copy(),
                                         z.copy(), z.copy(), np.zeros(m, dtype=np.int64), c.fees, c.fixed_fees,
                                         c.slippage, p.min_size, 1.0, plan, 0, scratch_trades, scratch_col, 0, skipped)
            now = idx[t] + (step if at_close else pd.Timedelta(0))
            denied = False
            for rec in plan[:k]:
                j, side = int(rec["col"]), ("buy" if rec["side"] > 0 else "sell")
                if denied and side == "buy":
                    continue
                s, px = syms[j], float(p.price[t, j])
                pipe = pipes[s]
                pipe.context.price, pipe.context.time = px, now
                pipe.bar_index = t
                req = OrderRequest(s, side, float(rec["size"]), tag="rebalance")
                res = pipe.submit(req, price=px, now=now)
                if res is None or res.status != OrderStatus.FILLED:
                    denied = True
                    denials.append(pipe.denials[-1] if pipe.denials else (req, res))
                    continue
                for f in res.fills:
                    bar_of[f.client_order_id] = t
                    fills.append((t, j, 1 if f.side == "buy" else -1, f.quantity, f.price, f.fee))
            pos = np.array([ledger.position(s) for s in syms])
        cash[t] = ledger.cash
        positions[t] = pos
    # the books only change at rebalances: equity at each close is the ledger's cash plus the positions
    # at the closes carried forward (Ledger.equity's arithmetic, for every bar at once)
    held = np.where(positions != 0.0, positions * np.nan_to_num(p.close), 0.0)
    equity[:] = cash + held.sum(axis=1)
    last_close = pd.DataFrame(p.close).ffill().to_numpy()[-1]
    orders = np.zeros(len(fills), dtype=order_dt)
    for i, f in enumerate(fills):
        orders[i] = (i, *f)
    trades, tcol = _ledger_trades(ledger, bar_of, syms, last_close, n)
    res = PortfolioResult.build(aligned=al, equity=equity, cash=cash, positions=positions, orders=orders,
                                trades=trades, tcol=tcol, skipped=skipped, ruin=-1, target=p.target,
                                rebalance_bars=p.trade_bars, **p.meta())
    res.options = {**res.options, "mode": "paper_replay"}
    res.denials = denials  # type: ignore[attr-defined]
    return res


def _ledger_trades(ledger: Ledger, bar_of: dict[str, int], syms: list[str], last_close: np.ndarray,
                   n: int) -> tuple[np.ndarray, np.ndarray]:
    """Return the ledger's round trips and open positions as trade records, and each record's symbol index."""
    code = {name: i for i, name in enumerate(EXIT_REASON_NAMES)}
    rows, cols = [], []
    for tr in ledger.trades:
        rows.append((tr.direction, bar_of[tr.entry_order_id], tr.entry_price, tr.entry_fees, bar_of[tr.exit_order_id],
                     tr.exit_price, tr.exit_fees, tr.size, tr.pnl, tr.ret, code.get(tr.exit_reason, 0)))
        cols.append(syms.index(tr.symbol))
    for j, s in enumerate(syms):
        pos = ledger.positions.get(s)
        if pos is not None and pos.quantity > 0.0:
            size, last = pos.quantity, float(last_close[j])
            # the open part, plus what the parts already sold realized (a position reduced by rebalances
            # closes no round trip): the records' pnl still sums to the account's profit
            closed = pos.realized - (pos.entry_fees_total - pos.entry_fees) - pos.exit_fees
            pnl = size * (last - pos.avg_price) - pos.entry_fees + closed
            rows.append((1, bar_of[pos.entry_order_id], pos.avg_price, pos.entry_fees, n - 1, last, 0.0, size, pnl,
                         pnl / (size * pos.avg_price + pos.entry_fees), EXIT_OPEN))
            cols.append(j)
    rec = np.zeros(len(rows), dtype=trade_dt)
    for i, r in enumerate(rows):
        rec[i] = (i, *r)
    return rec, np.asarray(cols, dtype=np.int64)


__all__ = ["portfolio_paper_replay"]
