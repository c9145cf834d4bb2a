"""An independent, plain-Python reference of the simulator's documented semantics (docs/backtest.md),
written from the docs and issue 10, not from the kernels: one loop over bars, a dict of state, no
numba. Used to check ``from_signals``/``run``/``sweep``/``paper_replay`` on random violent cases.

Ruin (issue 10): equity = cash + position × price reaching zero ruins the account. The position is
closed where that happens — intrabar from the bar's high for a short, its low for a long, at the open
when the bar gaps through; equity stays at zero and no order follows. What the liquidation leaves
below zero (costs, a gap) is written off against the trade's pnl.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd


@dataclass
class RefOptions:
    init_cash: float = 10_000.0
    fees: float = 0.0
    fixed_fees: float = 0.0
    slippage: float = 0.0
    execution: str = "next_open"
    direction: str = "long"
    size: float = 1.0
    size_type: str = "percent"
    sl_stop: float | None = None
    tp_stop: float | None = None
    sl_trail: float | None = None
    stop_priority: str = "sl"


@dataclass
class RefTrade:
    direction: int
    entry_idx: int
    entry_price: float
    entry_fees: float
    size: float
    exit_idx: int = -1
    exit_price: float = math.nan
    exit_fees: float = 0.0
    pnl: float = math.nan
    ret: float = math.nan
    exit_reason: str = "open"


@dataclass
class RefResult:
    equity: np.ndarray
    cash: np.ndarray
    position: np.ndarray
    trades: list[RefTrade] = field(default_factory=list)
    ruin_idx: int | None = None


def simulate(o, h, l, c, entries, exits, opt: RefOptions) -> RefResult:
    n = len(c)
    cash = opt.init_cash
    pos = 0.0  # signed units
    tr: RefTrade | None = None
    extreme = math.nan
    stop_from = 0
    pending = None  # target direction under next_open
    ruined = False
    ruin_idx = None
    trades: list[RefTrade] = []
    eq_out, cash_out, pos_out = np.zeros(n), np.zeros(n), np.zeros(n)

    def close(t, price, reason):
        nonlocal cash, pos, tr, ruined, ruin_idx, pending
        units = abs(pos)
        if pos > 0:
            fill = price * (1 - opt.slippage)
            fee = units * fill * opt.fees + opt.fixed_fees
            cash += units * fill - fee
            pnl = units * (fill - tr.entry_price) - tr.entry_fees - fee
        else:
            fill = price * (1 + opt.slippage)
            fee = units * fill * opt.fees + opt.fixed_fees
            cash -= units * fill + fee
            pnl = units * (tr.entry_price - fill) - tr.entry_fees - fee
        if reason == "ruin" or cash <= 0:
            pnl -= cash  # written off: the trade loses exactly what the account had
            cash = 0.0
            ruined, ruin_idx, pending, reason = True, t, None, "ruin"
        tr.exit_idx, tr.exit_price, tr.exit_fees, tr.pnl, tr.exit_reason = t, fill, fee, pnl, reason
        tr.ret = pnl / (units * tr.entry_price + tr.entry_fees)
        trades.append(tr)
        pos, tr = 0.0, None

    def open_(t, sign, price, sfrom):
        nonlocal cash, pos, tr, extreme, stop_from
        if cash <= 0 or price <= 0:
            return
        if opt.size_type == "percent":
            budget = opt.size * cash
        else:  # value: a notional, plus its fees
            budget = opt.size * (1 + opt.fees) + opt.fixed_fees
        budget = min(budget, cash)
        if budget <= opt.fixed_fees:
            return
        fill = price * (1 + opt.slippage) if sign > 0 else price * (1 - opt.slippage)
        units = (budget - opt.fixed_fees) / (1 + opt.fees) / fill
        fee = budget - units * fill
        cash = cash - budget if sign > 0 else cash + units * fill - fee
        pos = sign * units
        tr = RefTrade(sign, t, fill, fee, units)
        extreme = fill
        stop_from = sfrom

    def move(t, target, price, sfrom):
        cur = int(np.sign(pos))
        if cur == target:
            return
        if cur != 0:
            close(t, price, "signal" if target == 0 else "reverse")
        if target != 0 and not ruined:
            open_(t, target, price, sfrom)

    def want(e, x):
        if e == x:
            return None
        cur = int(np.sign(pos))
        if opt.direction == "long":
            return 1 if (e and cur == 0) else (0 if (x and cur > 0) else None)
        if opt.direction == "short":
            return -1 if (e and cur == 0) else (0 if (x and cur < 0) else None)
        return 1 if (e and cur <= 0) else (-1 if (x and cur >= 0) else None)

    def check_stops(t):
        nonlocal extreme
        ruin_price = -cash / pos  # where cash + pos * price == 0
        entry = tr.entry_price
        s = 1 if pos > 0 else -1
        # adverse levels: the one the price reaches first is the highest for a long, lowest for a short
        adverse = [(ruin_price, "ruin")]
        if opt.sl_stop:
            adverse.append((entry * (1 - s * opt.sl_stop), "stop_loss"))
        if opt.sl_trail:
            adverse.append((extreme * (1 - s * opt.sl_trail), "trailing_stop"))
        # first reached; on a tie ruin first, then stop-loss, then trailing (list order)
        best = adverse[0]
        for lv in adverse[1:]:
            if s * lv[0] > s * best[0]:
                best = lv
        level, reason = best
        tp = entry * (1 + s * opt.tp_stop) if opt.tp_stop else None
        worst_px = l[t] if s > 0 else h[t]
        best_px = h[t] if s > 0 else l[t]
        if s * o[t] <= s * level:
            close(t, o[t], reason)
        elif tp is not None and s * o[t] >= s * tp:
            close(t, o[t], "take_profit")
        else:
            hit_adv = s * worst_px <= s * level
            hit_tp = tp is not None and s * best_px >= s * tp
            if hit_adv and (not hit_tp or opt.stop_priority == "sl"):
                close(t, level, reason)
            elif hit_tp:
                close(t, tp, "take_profit")
            elif s * best_px > s * extreme:
                extreme = best_px

    for t in range(n):
        if not ruined:
            if opt.execution == "next_open" and pending is not None:
                tgt, pending = pending, None
                move(t, tgt, o[t], t)
            if pos != 0 and t >= stop_from:
                check_stops(t)
            if not ruined:
                tgt = want(bool(entries[t]), bool(exits[t]))
                if tgt is not None:
                    if opt.execution == "next_open":
                        pending = tgt
                    else:
                        move(t, tgt, c[t], t + 1)
        eq_out[t] = cash + pos * c[t]
        cash_out[t] = cash
        pos_out[t] = pos
    if tr is not None:
        units = abs(pos)
        last = c[-1]
        tr.exit_idx, tr.exit_price, tr.exit_fees = n - 1, last, 0.0
        tr.pnl = (units * (last - tr.entry_price) if pos > 0 else units * (tr.entry_price - last)) - tr.entry_fees
        tr.ret = tr.pnl / (units * tr.entry_price + tr.entry_fees)
        trades.append(tr)
    return RefResult(eq_out, cash_out, pos_out, trades, ruin_idx)


def ref_stats(res: RefResult, index: pd.DatetimeIndex, init_cash: float) -> dict[str, float]:
    """Stats from the reference path, as the issue and docs define them (path ends at the ruin)."""
    day = pd.Timedelta(days=1)
    days = np.asarray((index - index[0]) / day, dtype=float)  # bar opens, in days from the first
    gaps, counts = np.unique(np.diff(days), return_counts=True)
    step = gaps[np.argmax(counts)]  # the nominal bar: the most common spacing
    years = (days[-1] + step) / 365.0
    ann = len(index) / years  # observed bars per calendar year
    close_days = days + step

    eq = res.equity.copy()
    end = len(eq)
    ruined = 0.0
    nonpos = np.flatnonzero(eq <= 0)
    if len(nonpos):
        end = nonpos[0] + 1
        ruined = 1.0
    path = eq[:end]
    prev = np.r_[init_cash, path[:-1]]
    r = path / prev - 1.0
    final = path[-1] if ruined == 0.0 else 0.0
    mean = r.mean()
    std = r.std(ddof=1) if len(r) > 1 else math.nan
    sharpe = mean / std * math.sqrt(ann) if std > 0 else math.nan
    down = math.sqrt((np.minimum(r, 0) ** 2).mean())
    sortino = mean / down * math.sqrt(ann) if down > 0 else math.nan
    vol = (std if std > 0 else 0.0) * math.sqrt(ann)
    # drawdown and its calendar duration (peak close -> the close that recovers it, or path end)
    peak, peak_t, max_dd, max_dur, under = init_cash, 0.0, 0.0, 0.0, False
    for t, e in enumerate(path):
        if e >= peak:
            if under:
                max_dur = max(max_dur, close_days[t] - peak_t)
            peak, peak_t, under = e, close_days[t], False
        else:
            max_dd = max(max_dd, 1 - e / peak)
            under = True
    if under:
        max_dur = max(max_dur, close_days[end - 1] - peak_t)
    with np.errstate(over="ignore"):
        cagr = float(np.float64(final / init_cash) ** (1 / years) - 1) if final > 0 else -1.0
    closed = [t for t in res.trades if t.exit_reason != "open"]
    pnl = np.array([t.pnl for t in closed])
    rets = np.array([t.ret for t in closed])
    out = {
        "total_return": final / init_cash - 1,
        "cagr": cagr,
        "volatility": vol,
        "sharpe": sharpe,
        "sortino": sortino,
        "calmar": cagr / max_dd if max_dd > 0 else math.nan,
        "max_drawdown": max_dd,
        "max_drawdown_duration": max_dur,
        "exposure": float(np.mean(res.position[:end] != 0)),
        "n_trades": float(len(res.trades)),
        "win_rate": float(np.mean(pnl > 0)) if len(closed) else math.nan,
        "profit_factor": (pnl[pnl > 0].sum() / -pnl[pnl <= 0].sum() if (pnl <= 0).any() and pnl[pnl <= 0].sum() < 0
                          else (math.inf if (pnl > 0).any() else math.nan)) if len(closed) else math.nan,
        "expectancy": float(pnl.mean()) if len(closed) else math.nan,
        "avg_trade_return": float(rets.mean()) if len(closed) else math.nan,
        "best_trade": float(rets.max()) if len(closed) else math.nan,
        "worst_trade": float(rets.min()) if len(closed) else math.nan,
        "avg_holding_time": float(np.mean([close_days[t.exit_idx] - close_days[t.entry_idx] for t in closed]))
        if len(closed) else math.nan,
        "total_fees": float(sum(t.entry_fees + t.exit_fees for t in res.trades)),
        "final_equity": final,
        "ruined": ruined,
        "ruin_time": days[end - 1] if ruined else math.nan,
    }
    return out
