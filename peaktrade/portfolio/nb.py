"""Portfolio kernels: N assets, shared cash (or independent sleeves), target-weight rebalancing.

Pure numba over numpy arrays (no pandas, no I/O, no config); the pandas layer is
:mod:`peaktrade.portfolio.engine`.

Semantics (see docs/portfolio.md):

* A target weight is a fraction of the group's value (cash plus every position at its valuation
  price), all taken at one moment before any order of the bar: the orders of a rebalance do not
  move each other's targets. Shared cash is one group; sleeves are one group per asset.
* A rebalance orders every asset of a group to its target. Orders run in ascending order of their
  approximate value (``target × value − position value``): sells release cash before buys spend it.
  All of them fill at the bar's one order price (the close, or the open under ``next_open``) with
  the backtest's cost model: buys at ``price × (1 + slippage)``, sells at ``price × (1 − slippage)``,
  fees ``fees × notional + fixed_fees`` per order. A buy larger than the cash (plus the credit that
  ``max_leverage`` > 1 allows) is cut to what the cash pays for, fees included; what is left stays
  cash. Orders below the asset's minimum size are skipped. A missing bar (NaN order price) trades
  nothing for that asset. Near-zero residuals (relative 1e-9, absolute 1e-12) are treated as zero,
  as vectorbt does, so float dust never becomes an order.
* Ruin: equity at a close <= 0 liquidates every position at that close (slippage and fees booked,
  the shortfall written off against the trades), cash is 0 and nothing trades after.
* Trades are position parts closed by a sell (average entry price, entry fees pro rata), the part
  still open at the end valued at the last close: the trade statistics of a single backtest.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from peaktrade.backtest.enums import EXIT_OPEN, EXIT_RUIN, EXIT_SIGNAL, trade_dt
from peaktrade.backtest.nb import finalize_stats_nb, stats_from_series_nb
from peaktrade.portfolio.enums import N_SKIP, SKIP_MIN_SIZE, SKIP_NO_BAR, SKIP_NO_CASH, order_dt

REL_TOL = 1e-9
ABS_TOL = 1e-12


@njit(cache=True)
def is_close_nb(a, b):
    """Return whether ``a`` and ``b`` are equal up to float dust (relative 1e-9, absolute 1e-12)."""
    if np.isnan(a) or np.isnan(b) or np.isinf(a) or np.isinf(b):
        return False
    if a == b:
        return True
    return abs(a - b) <= max(REL_TOL * max(abs(a), abs(b)), ABS_TOL)


@njit(cache=True)
def add_nb(a, b):
    """Return ``a + b``, exactly 0 when the sum is float dust of its terms."""
    if np.sign(a) != np.sign(b):
        if is_close_nb(abs(a), abs(b)):
            return 0.0
    elif is_close_nb(a + b, 0.0):
        return 0.0
    return a + b


@njit(cache=True)
def _trade_nb(trades, tcol, k, j, entry_idx, entry_price, entry_fees, t, exit_price, exit_fees, size, reason):
    """Write one trade record (``size`` units of asset ``j``) at slot ``k``; return the next slot."""
    pnl = size * (exit_price - entry_price) - entry_fees - exit_fees
    r = trades[k]
    r["id"] = k
    r["direction"] = 1
    r["entry_idx"] = entry_idx
    r["entry_price"] = entry_price
    r["entry_fees"] = entry_fees
    r["exit_idx"] = t
    r["exit_price"] = exit_price
    r["exit_fees"] = exit_fees
    r["size"] = size
    r["pnl"] = pnl
    cost = size * entry_price + entry_fees
    r["ret"] = pnl / cost if cost > 0.0 else np.nan
    r["exit_reason"] = reason
    tcol[k] = j
    return k + 1


@njit(cache=True)
def _order_nb(orders, k, t, j, side, size, price, fees):
    r = orders[k]
    r["id"] = k
    r["idx"] = t
    r["col"] = j
    r["side"] = side
    r["size"] = size
    r["price"] = price
    r["fees"] = fees
    return k + 1


@njit(cache=True)
def group_value_nb(cash, pos, val, g, groups):
    """Return cash plus the positions of group ``g`` at valuation prices ``val``."""
    v = cash[g]
    for j in range(pos.shape[0]):
        if groups[j] == g and pos[j] != 0.0:
            v += pos[j] * val[j]
    return v


@njit(cache=True)
def drifted_nb(cash, pos, val, tw, g, groups, threshold):
    """Return whether any asset of group ``g`` sits more than ``threshold`` from its target weight."""
    value = group_value_nb(cash, pos, val, g, groups)
    if not value > 0.0:
        return False
    for j in range(pos.shape[0]):
        if groups[j] == g and not np.isnan(tw[j]) and not np.isnan(val[j]):
            w = pos[j] * val[j] / value if pos[j] != 0.0 else 0.0
            if abs(w - tw[j]) > threshold:
                return True
    return False


@njit(cache=True)
def rebalance_group_nb(t, g, groups, price, val, tw, cash, pos, lot_price, lot_fees, lot_idx, fees, fixed_fees,
                       slippage, min_size, max_lev, orders, n_orders, trades, tcol, n_trades, skipped):
    """Order every asset of group ``g`` to its target weight ``tw`` at bar ``t``; return (orders, trades) written.

    Sells run first (ascending approximate order value, ties in asset order), all at one price.
    """
    m = pos.shape[0]
    value = group_value_nb(cash, pos, val, g, groups)
    if not value > 0.0:
        return n_orders, n_trades
    credit = (max_lev - 1.0) * value if max_lev > 1.0 else 0.0
    # call sequence: insertion argsort (stable; NaN last) of the approximate order values
    seq = np.empty(m, dtype=np.int64)
    ov = np.empty(m)
    n = 0
    for j in range(m):
        if groups[j] == g:
            seq[n] = j
            ov[n] = tw[j] * value - pos[j] * val[j]
            n += 1
    for a in range(1, n):
        x = ov[a]
        s = seq[a]
        b = a - 1
        while b >= 0 and (ov[b] > x or np.isnan(ov[b])):
            ov[b + 1] = ov[b]
            seq[b + 1] = seq[b]
            b -= 1
        ov[b + 1] = x
        seq[b + 1] = s
    for a in range(n):
        j = seq[a]
        if np.isnan(tw[j]):
            continue
        p = price[j]
        if np.isnan(p):
            skipped[SKIP_NO_BAR] += 1
            continue
        v = val[j]
        if not (v > 0.0):
            continue
        c = cash[g]
        if is_close_nb(c, 0.0):
            c = 0.0
        q = pos[j]
        if is_close_nb(q, 0.0):
            q = 0.0
        size = tw[j] * value / v - q
        if is_close_nb(size, 0.0):
            continue
        if size > 0.0:
            fill = p * (1.0 + slippage)
            limit = c + credit
            if not limit > 0.0:
                skipped[SKIP_NO_CASH] += 1
                continue
            req = size * fill
            paid = req * fees + fixed_fees
            total = req + paid
            if is_close_nb(total, limit) or total < limit:
                final = size
            else:
                budget = add_nb(limit, -fixed_fees) / (1.0 + fees)
                if budget <= 0.0:
                    skipped[SKIP_NO_CASH] += 1
                    continue
                final = budget / fill
                paid = limit - budget
                total = limit
            if final < min_size[j] and not is_close_nb(final, min_size[j]):
                skipped[SKIP_MIN_SIZE] += 1
                continue
            cash[g] = add_nb(c, -total)
            if q == 0.0:
                lot_idx[j] = t
                lot_price[j] = fill
                lot_fees[j] = paid
            else:
                lot_price[j] = (q * lot_price[j] + final * fill) / (q + final)
                lot_fees[j] += paid
            pos[j] = add_nb(q, final)
            n_orders = _order_nb(orders, n_orders, t, j, 1, final, fill, paid)
        elif size < 0.0:
            sell = -size
            if sell < min_size[j] and not is_close_nb(sell, min_size[j]):
                skipped[SKIP_MIN_SIZE] += 1
                continue
            fill = p * (1.0 - slippage)
            gross = sell * fill
            paid = gross * fees + fixed_fees
            net = add_nb(gross, -paid)
            if net < 0.0:
                skipped[SKIP_NO_CASH] += 1
                continue
            cash[g] = c + net
            new_pos = add_nb(q, -sell)
            share = sell / q if q > 0.0 else 1.0
            if share > 1.0:
                share = 1.0
            part_fees = lot_fees[j] * share
            closed = min(sell, q)
            n_trades = _trade_nb(trades, tcol, n_trades, j, lot_idx[j], lot_price[j], part_fees, t, fill, paid,
                                 closed, EXIT_SIGNAL)
            lot_fees[j] -= part_fees
            pos[j] = new_pos
            if new_pos == 0.0:
                lot_fees[j] = 0.0
            n_orders = _order_nb(orders, n_orders, t, j, -1, sell, fill, paid)
    return n_orders, n_trades


@njit(cache=True)
def simulate_portfolio_nb(price, val, close, target, rebal, drift, groups, init_cash, fees, fixed_fees, slippage,
                          min_size, max_lev):
    """Simulate a portfolio of ``m`` assets over ``n`` bars.

    Parameters
    ----------
    price : (n, m) order prices (NaN: the asset has no bar, no order)
    val : (n, m) valuation prices at order time (carried forward; NaN before an asset's first bar)
    close : (n, m) closes carried forward (equity is valued at them)
    target : (n, m) target weights of the group's value (NaN: no order for that asset)
    rebal : (n,) scheduled rebalances
    drift : rebalance a group between scheduled bars when a weight sits more than this from its
        target (<= 0 or NaN: off)
    groups : (m,) cash group of each asset (all 0: shared cash; 0..m-1: sleeves)
    init_cash : (n_groups,) initial cash per group
    min_size : (m,) minimum order size per asset (base units)
    max_lev : gross exposure a buy may reach as a multiple of the group's value (1: cash only)

    Returns
    -------
    equity (n,), cash (n,), positions (n, m), orders (order_dt), trades (trade_dt), trade asset (int64),
    skipped order counts (N_SKIP,), ruin bar (-1: none)
    """
    n, m = price.shape
    n_groups = init_cash.shape[0]
    cash = init_cash.astype(np.float64).copy()
    pos = np.zeros(m)
    lot_price = np.zeros(m)
    lot_fees = np.zeros(m)
    lot_idx = np.zeros(m, dtype=np.int64)
    last_val = np.full(m, np.nan)
    last_close = np.full(m, np.nan)
    equity = np.zeros(n)
    cash_out = np.zeros(n)
    positions = np.zeros((n, m))
    cap = n * m + m + 1
    orders = np.empty(cap, dtype=order_dt)
    trades = np.empty(2 * cap, dtype=trade_dt)
    tcol = np.empty(2 * cap, dtype=np.int64)
    skipped = np.zeros(N_SKIP, dtype=np.int64)
    n_orders = 0
    n_trades = 0
    ruin = -1
    drift_on = drift > 0.0
    for t in range(n):
        if ruin >= 0:
            break
        for j in range(m):
            if not np.isnan(val[t, j]):
                last_val[j] = val[t, j]
        for g in range(n_groups):
            go = rebal[t]
            if not go and drift_on:
                go = drifted_nb(cash, pos, last_val, target[t], g, groups, drift)
            if go:
                n_orders, n_trades = rebalance_group_nb(
                    t, g, groups, price[t], last_val, target[t], cash, pos, lot_price, lot_fees, lot_idx, fees,
                    fixed_fees, slippage, min_size, max_lev, orders, n_orders, trades, tcol, n_trades, skipped)
        total_cash = 0.0
        for g in range(n_groups):
            total_cash += cash[g]
        e = total_cash
        for j in range(m):
            if not np.isnan(close[t, j]):
                last_close[j] = close[t, j]
            if pos[j] != 0.0:
                e += pos[j] * last_close[j]
        if e <= 0.0:
            # ruin: liquidate at this close, write the shortfall off against the trades just closed
            ruin = t
            first = n_trades
            for j in range(m):
                q = pos[j]
                if q > 0.0:
                    fill = last_close[j] * (1.0 - slippage)
                    gross = q * fill
                    paid = gross * fees + fixed_fees
                    total_cash += gross - paid
                    n_orders = _order_nb(orders, n_orders, t, j, -1, q, fill, paid)
                    n_trades = _trade_nb(trades, tcol, n_trades, j, lot_idx[j], lot_price[j], lot_fees[j], t, fill,
                                         paid, q, EXIT_RUIN)
                    pos[j] = 0.0
            if total_cash < 0.0 and n_trades > first:
                share = total_cash / (n_trades - first)  # negative: each liquidated trade bears a part
                for k in range(first, n_trades):
                    trades[k]["pnl"] -= share
                    cost = trades[k]["size"] * trades[k]["entry_price"] + trades[k]["entry_fees"]
                    trades[k]["ret"] = trades[k]["pnl"] / cost
            for g in range(n_groups):
                cash[g] = 0.0
            total_cash = 0.0
            e = 0.0
        equity[t] = e
        cash_out[t] = total_cash
        for j in range(m):
            positions[t, j] = pos[j]
    # positions still open at the end: valued at the last close, no exit costs
    for j in range(m):
        if pos[j] > 0.0:
            n_trades = _trade_nb(trades, tcol, n_trades, j, lot_idx[j], lot_price[j], lot_fees[j], n - 1,
                                 last_close[j], 0.0, pos[j], EXIT_OPEN)
    return (equity, cash_out, positions, orders[:n_orders].copy(), trades[:n_trades].copy(), tcol[:n_trades].copy(),
            skipped, ruin)


@njit(cache=True)
def gate_state_nb(entries, exits):
    """Return 1.0 from an entry until the next exit (an entry and an exit on one bar: ignored), else 0.0."""
    n = entries.shape[0]
    out = np.zeros(n)
    s = 0.0
    for t in range(n):
        if entries[t] and not exits[t]:
            s = 1.0
        elif exits[t] and not entries[t]:
            s = 0.0
        out[t] = s
    return out


@njit(cache=True)
def combo_target_nb(listed, wrows, wmap, w_off, gates, gi, target):
    """Write one combination's target weights into ``target`` (n, m): the weight row in force at each bar
    (``wrows[w_off + wmap[t]]``) times the asset's gate (``gates[gi]``; ``gi`` < 0: no gate), NaN where the
    asset is not listed: what :func:`peaktrade.portfolio.engine.targets` computes for that combination."""
    n, m = target.shape
    for t in range(n):
        r = w_off + wmap[t]
        for j in range(m):
            if not listed[t, j]:
                target[t, j] = np.nan
            elif gi >= 0:
                target[t, j] = wrows[r, j] * gates[gi, t, j]
            else:
                target[t, j] = wrows[r, j]


@njit(cache=True, parallel=True)
def sweep_portfolio_nb(price, val, close, listed, wrows, wmaps, gates, tmasks, combos, drift, max_lev, groups,
                       init_cash, fees, fixed_fees, slippage, min_size, tm, ann_factor, years, bounds, out, extra,
                       part_sums):
    """Simulate one portfolio per row of ``combos`` in parallel; write its stats (``STAT_KEYS`` order) to
    ``out[k]``, (turnover, orders, rebalance bars) to ``extra[k]`` and the sums of its bar returns and of
    their squares over each part ``bounds[s]..bounds[s+1]-1`` to ``part_sums[k]`` (for CSCV / PBO).

    The inputs are shared by every combination (fused): ``wrows`` (R, m) the weight rows of every distinct
    allocation, ``wmaps`` (n_schedules, n) the row (relative to an allocation's first) in force at each bar,
    ``gates`` (n_gates, n, m) the gating strategies' states, ``tmasks`` (n_schedules, n) the scheduled
    rebalance bars. ``combos[k]`` = (first weight row, schedule, gate or -1); ``drift[k]``
    and ``max_lev[k]`` as in :func:`simulate_portfolio_nb`, which each combination runs itself, so a row
    equals the stats of that portfolio run alone. Only one path per thread is alive at a time.
    """
    n, m = price.shape
    total = init_cash.sum()
    for k in prange(combos.shape[0]):
        target = np.empty((n, m))
        combo_target_nb(listed, wrows, wmaps[combos[k, 1]], combos[k, 0], gates, combos[k, 2], target)
        equity, cash, positions, orders, trades, tcol, skipped, ruin = simulate_portfolio_nb(
            price, val, close, target, tmasks[combos[k, 1]], drift[k], groups, init_cash, fees, fixed_fees,
            slippage, min_size, max_lev[k])
        gross = np.zeros(n)
        for t in range(n):
            for j in range(m):
                if positions[t, j] != 0.0:
                    gross[t] += 1.0
        acc = stats_from_series_nb(equity, gross, trades, total, tm)
        finalize_stats_nb(acc, total, ann_factor, years, out[k])
        # turnover: traded notional per year over the mean equity (PortfolioResult.turnover)
        notional = 0.0
        n_rebal = 0.0
        for i in range(orders.shape[0]):
            notional += orders[i]["size"] * orders[i]["price"]
            if i == 0 or orders[i]["idx"] != orders[i - 1]["idx"]:
                n_rebal += 1.0
        mean_eq = equity.mean()
        if not (mean_eq > 0.0 and years > 0.0):
            extra[k, 0] = np.nan
        else:
            extra[k, 0] = notional / mean_eq / years if orders.shape[0] else 0.0
        extra[k, 1] = orders.shape[0]
        extra[k, 2] = n_rebal
        # per-part return sums, up to and including a ruin bar (the per-bar statistics stop there too)
        prev = total
        p = 0
        for t in range(n):
            while p + 2 < bounds.shape[0] and bounds[p + 1] <= t:
                p += 1
            e = equity[t] if equity[t] > 0.0 else 0.0
            r = e / prev - 1.0 if prev != 0.0 else 0.0
            part_sums[k, p, 0] += r
            part_sums[k, p, 1] += r * r
            if e <= 0.0:
                break
            prev = e
