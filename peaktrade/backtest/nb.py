"""Simulation kernels: pure numba over numpy arrays (no pandas, no I/O, no config).

One bar step (:func:`bar_nb`) serves every path: :func:`simulate_nb` runs it over precomputed
signals (``from_signals`` / ``run``) and :func:`sweep_nb` runs it fused with a strategy's signal
kernel, block by block, for many parameter combinations in parallel. Both feed the same metric
accumulators (:func:`acc_bar_nb`, :func:`acc_trade_nb`, :func:`finalize_stats_nb`), so a sweep row
equals the stats of the same combination run alone.

Semantics (see also docs/backtest.md):

* Fill prices: buys at ``price × (1 + slippage)``, sells at ``price × (1 − slippage)``; fees are
  ``fees × notional + fixed_fees`` per order.
* ``execution="next_open"``: a signal on bar t's close fills at bar t+1's open; ``"close"``: at
  bar t's close. A signal on the last bar under ``next_open`` never fills.
* Entry and exit on the same bar conflict and are ignored (vectorbt's default).
* Stops are checked intrabar from OHLC on every bar after the fill (the fill bar included under
  ``next_open``). A bar that opens beyond a stop fills at the open (gap-through). When stop-loss
  and take-profit both lie inside one bar the bar's path is unknown: ``stop_priority`` decides
  (stop-loss first by default: pessimistic). The trailing level uses the best price seen on
  earlier bars of the trade (and the entry price), then takes the current bar's extreme.
* Ruin: equity (cash + position × price) reaching zero ends the account. The open position is
  watched against the price where that happens (``-cash / position``) like a stop that is always
  on: reached intrabar (the low for a long, the high for a short) it is liquidated there, at the
  open when the bar gaps through it; a close that leaves cash <= 0 ruins the account too. The
  liquidation is booked with the usual slippage and fees, the loss beyond the account is written
  off against that trade's pnl, cash stays 0 and no order follows. Per-bar statistics use the bars
  up to and including the ruin bar.
* Times: ``tm[t]`` is bar t's close time in days from the open of the first bar; durations
  (drawdowns, holding times, the ruin time) are calendar time, gaps in the data included.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange, types
from numba.cpython.unsafe.numbers import trailing_zeros

from peaktrade.backtest.enums import (
    AC_BEST,
    AC_CLOSED,
    AC_EXPOSED,
    AC_FEES,
    AC_FINAL,
    AC_GROSS_LOSS,
    AC_GROSS_WIN,
    AC_HOLD_DAYS,
    AC_LEN,
    AC_MAX_DD,
    AC_MAX_DD_DAYS,
    AC_N,
    AC_OPEN,
    AC_PEAK,
    AC_PEAK_TIME,
    AC_RUIN_IDX,
    AC_RUIN_TIME,
    AC_RUINED,
    AC_SUM_DOWN2,
    AC_SUM_PNL,
    AC_SUM_R,
    AC_SUM_R2,
    AC_SUM_RET,
    AC_UNDER,
    AC_WINS,
    AC_WORST,
    DIR_BOTH,
    DIR_LONG,
    EXEC_NEXT_OPEN,
    EXIT_OPEN,
    EXIT_REVERSE,
    EXIT_RUIN,
    EXIT_SIGNAL,
    EXIT_STOP_LOSS,
    EXIT_TAKE_PROFIT,
    EXIT_TRAILING,
    SIZE_PERCENT,
    SIZE_VALUE,
    SP_DIRECTION,
    SP_EXECUTION,
    SP_FEES,
    SP_FIXED_FEES,
    SP_INIT_CASH,
    SP_SIZE,
    SP_SIZE_TYPE,
    SP_SL,
    SP_SLIPPAGE,
    SP_STOP_PRIORITY,
    SP_TP,
    SP_TRAIL,
    ST_CASH,
    ST_ENTRY_FEES,
    ST_ENTRY_IDX,
    ST_ENTRY_PRICE,
    ST_EXTREME,
    ST_N,
    ST_NONE,
    ST_PENDING,
    ST_POS,
    ST_PREV_EQUITY,
    ST_RUINED,
    ST_STOP_FROM,
    ST_TRADES,
    STAT_KEYS,
    STOP_FIRST_SL,
    trade_dt,
)
from peaktrade.indicators.nb import acc_add_nb
from peaktrade.strategies.base import SIGNAL_FN_TYPE

N_STATS = len(STAT_KEYS)

# Reference counting: a kernel that allocates nothing and returns no array is compiled with
# ``_nrt=False``. Numba otherwise increments and decrements the reference count of every array a
# function receives, atomically, on entry and exit, and the parallel sweep's workers pass the same
# arrays (the bars, the tables): per call those counts' cache lines bounced between the cores, which
# doubled the time of a sweep with stops (tests/backtest/test_kernel_refcounts.py keeps the rule).


# --------------------------------------------------------------------------------------------
# metric accumulators


@njit(cache=True)
def init_acc_nb(init_cash):
    """Return a fresh accumulator vector."""
    acc = np.zeros(AC_LEN)
    acc[AC_PEAK] = init_cash
    acc[AC_PEAK_TIME] = 0.0  # the initial cash "closes" at the open of the first bar
    acc[AC_BEST] = -np.inf
    acc[AC_WORST] = np.inf
    acc[AC_FINAL] = init_cash
    return acc


# The per-bar accumulators travel as a tuple of scalars through the hot loop (no array traffic,
# no reference counting); acc_bar_nb applies the same update to the accumulator vector.
_BAR_SLOTS = (AC_SUM_R, AC_SUM_R2, AC_SUM_DOWN2, AC_EXPOSED, AC_PEAK, AC_PEAK_TIME, AC_MAX_DD, AC_MAX_DD_DAYS,
              AC_UNDER)


@njit(cache=True, _nrt=False, inline="always")
def load_bar_acc_nb(acc):
    return (acc[AC_SUM_R], acc[AC_SUM_R2], acc[AC_SUM_DOWN2], acc[AC_EXPOSED], acc[AC_PEAK], acc[AC_PEAK_TIME],
            acc[AC_MAX_DD], acc[AC_MAX_DD_DAYS], acc[AC_UNDER])


@njit(cache=True, _nrt=False, inline="always")
def store_bar_acc_nb(acc, a):
    (acc[AC_SUM_R], acc[AC_SUM_R2], acc[AC_SUM_DOWN2], acc[AC_EXPOSED], acc[AC_PEAK], acc[AC_PEAK_TIME],
     acc[AC_MAX_DD], acc[AC_MAX_DD_DAYS], acc[AC_UNDER]) = a


@njit(cache=True, _nrt=False, inline="always")
def bar_acc_update_nb(a, t, tm, equity, prev_equity, pos):
    """Return the bar accumulators ``a`` updated with bar ``t``'s closing equity (``tm``: close times).

    A flat bar whose equity equals the previous one changes nothing, so the drivers may skip such
    bars (the bar count is set at the end): the result is the same to the last bit.
    """
    sum_r, sum_r2, down2, exposed, peak, peak_time, max_dd, max_dd_days, under = a
    r = equity / prev_equity - 1.0 if prev_equity != 0.0 else 0.0
    neg = min(r, 0.0)  # branch-free: the sign of r is a coin flip for the branch predictor
    sum_r += r
    sum_r2 += r * r
    down2 += neg * neg
    exposed += 1.0 if pos != 0.0 else 0.0
    # the drawdown bookkeeping is written with selects, not branches: near a peak the comparison
    # flips unpredictably
    now = tm[t]
    if under == 0.0:  # the previous bar closed at the peak (skipped flat bars included)
        peak_time = tm[t - 1] if t > 0 else 0.0
    at_peak = equity >= peak
    dur = now - peak_time if (at_peak and under == 1.0) else 0.0
    max_dd_days = max(max_dd_days, dur)
    dd = 1.0 - equity / peak
    max_dd = max(max_dd, dd)  # dd <= 0 at a new peak, so this is a no-op there
    peak = equity if at_peak else peak
    peak_time = now if at_peak else peak_time
    under = 0.0 if at_peak else 1.0
    return (sum_r, sum_r2, down2, exposed, peak, peak_time, max_dd, max_dd_days, under)


@njit(cache=True, _nrt=False, inline="always")
def acc_bar_nb(acc, t, tm, equity, prev_equity, pos):
    """Fold one bar's closing equity into the accumulator vector."""
    store_bar_acc_nb(acc, bar_acc_update_nb(load_bar_acc_nb(acc), t, tm, equity, prev_equity, pos))


@njit(cache=True, _nrt=False, inline="always")
def acc_trade_nb(acc, pnl, ret, hold_days):
    """Fold one closed trade into the accumulators."""
    acc[AC_CLOSED] += 1.0
    if pnl > 0.0:
        acc[AC_WINS] += 1.0
        acc[AC_GROSS_WIN] += pnl
    else:
        acc[AC_GROSS_LOSS] -= pnl
    acc[AC_SUM_PNL] += pnl
    acc[AC_SUM_RET] += ret
    if ret > acc[AC_BEST]:
        acc[AC_BEST] = ret
    if ret < acc[AC_WORST]:
        acc[AC_WORST] = ret
    acc[AC_HOLD_DAYS] += hold_days


@njit(cache=True, _nrt=False)
def ruin_acc_nb(acc, t, tm):
    """Mark the account ruined on bar ``t``: the per-bar statistics end with this bar."""
    acc[AC_RUINED] = 1.0
    acc[AC_RUIN_IDX] = t
    acc[AC_RUIN_TIME] = tm[t] - tm[0]  # the open of bar t, from the open of the first bar


@njit(cache=True, _nrt=False)
def finish_acc_nb(acc, tm, final_equity, open_pos):
    """Close the accumulators at the end of the path: the last bar, or the ruin bar."""
    n_bars = acc[AC_RUIN_IDX] + 1.0 if acc[AC_RUINED] == 1.0 else float(tm.shape[0])
    acc[AC_N] = n_bars
    if acc[AC_UNDER] == 1.0 and n_bars > 0.0:
        dur = tm[int(n_bars) - 1] - acc[AC_PEAK_TIME]
        if dur > acc[AC_MAX_DD_DAYS]:
            acc[AC_MAX_DD_DAYS] = dur
    acc[AC_FINAL] = final_equity
    acc[AC_OPEN] = 1.0 if open_pos != 0.0 else 0.0


@njit(cache=True, _nrt=False)
def finalize_stats_nb(acc, init_cash, ann_factor, years, out):
    """Write the stats (order of ``enums.STAT_KEYS``) from finished accumulators into ``out``."""
    n = acc[AC_N]
    final = acc[AC_FINAL]
    total_return = final / init_cash - 1.0
    if final > 0.0 and years > 0.0:
        cagr = (final / init_cash) ** (1.0 / years) - 1.0
    else:
        cagr = -1.0 if final <= 0.0 else np.nan
    mean = acc[AC_SUM_R] / n if n > 0.0 else np.nan
    var = (acc[AC_SUM_R2] - n * mean * mean) / (n - 1.0) if n > 1.0 else np.nan
    std = np.sqrt(var) if var > 0.0 else 0.0
    vol = std * np.sqrt(ann_factor)
    sharpe = mean / std * np.sqrt(ann_factor) if std > 0.0 else np.nan
    down = np.sqrt(acc[AC_SUM_DOWN2] / n) if n > 0.0 else np.nan
    sortino = mean / down * np.sqrt(ann_factor) if down > 0.0 else np.nan
    max_dd = acc[AC_MAX_DD]
    calmar = cagr / max_dd if max_dd > 0.0 else np.nan
    closed = acc[AC_CLOSED]
    out[0] = total_return
    out[1] = cagr
    out[2] = vol
    out[3] = sharpe
    out[4] = sortino
    out[5] = calmar
    out[6] = max_dd
    out[7] = acc[AC_MAX_DD_DAYS]
    out[8] = acc[AC_EXPOSED] / n if n > 0.0 else np.nan
    out[9] = closed + acc[AC_OPEN]
    if closed > 0.0:
        out[10] = acc[AC_WINS] / closed
        if acc[AC_GROSS_LOSS] > 0.0:
            out[11] = acc[AC_GROSS_WIN] / acc[AC_GROSS_LOSS]
        else:
            out[11] = np.inf if acc[AC_GROSS_WIN] > 0.0 else np.nan
        out[12] = acc[AC_SUM_PNL] / closed
        out[13] = acc[AC_SUM_RET] / closed
        out[14] = acc[AC_BEST]
        out[15] = acc[AC_WORST]
        out[16] = acc[AC_HOLD_DAYS] / closed
    else:
        for j in range(10, 17):
            out[j] = np.nan
    out[17] = acc[AC_FEES]
    out[18] = final
    out[19] = acc[AC_RUINED]
    out[20] = acc[AC_RUIN_TIME] if acc[AC_RUINED] == 1.0 else np.nan


# --------------------------------------------------------------------------------------------
# costs: the one cost model (the backtest's kernels, and through :mod:`peaktrade.backtest.costs`
# the paper executor, the pipeline's sizing and walk-forward's window-end close)


@njit(cache=True, _nrt=False)
def fill_price_nb(price, sign, slippage):
    """Return the fill price of a market order at ``price``: a buy (``sign`` > 0) pays up, a sell receives less."""
    return price * (1.0 + slippage) if sign > 0 else price * (1.0 - slippage)


@njit(cache=True, _nrt=False)
def fee_nb(notional, fees, fixed_fees):
    """Return the fees of one order of ``notional``: proportional plus fixed."""
    return notional * fees + fixed_fees


@njit(cache=True, _nrt=False)
def entry_order_nb(cash, price, sign, size_type, size, frac, fees, fixed_fees, slippage):
    """Return ``(ok, units, fill price, budget)`` of an entry of direction ``sign`` at market ``price``.

    The budget (cash spent on a long, cash set aside on a short, fees included) is ``size`` × cash
    (percent), the notional ``size`` plus its fees (value) or ``frac`` × cash (vol target), capped
    by the cash; ``ok`` is False when nothing can be bought (no cash, no price, the budget does not
    cover the fixed fee).
    """
    if cash <= 0.0 or not (price > 0.0):
        return False, 0.0, 0.0, 0.0
    if size_type == SIZE_PERCENT:
        budget = size * cash
    elif size_type == SIZE_VALUE:
        budget = size * (1.0 + fees) + fixed_fees
    else:
        budget = frac * cash
    if budget > cash:
        budget = cash
    if not (budget > fixed_fees):
        return False, 0.0, 0.0, 0.0
    fill = fill_price_nb(price, sign, slippage)
    return True, (budget - fixed_fees) / (1.0 + fees) / fill, fill, budget


# --------------------------------------------------------------------------------------------
# orders


@njit(cache=True)
def init_state_nb(sp):
    """Return a fresh simulation state for parameters ``sp``."""
    st = np.zeros(ST_N)
    st[ST_CASH] = sp[SP_INIT_CASH]
    st[ST_PENDING] = ST_NONE
    st[ST_PREV_EQUITY] = sp[SP_INIT_CASH]
    return st


@njit(cache=True, _nrt=False)
def open_nb(st, acc, sp, sign, price, t, frac, stop_from):
    """Open a position of direction ``sign`` (+1/-1) at market ``price``; return True if filled."""
    cash = st[ST_CASH]
    ok, size, fill, budget = entry_order_nb(cash, price, sign, int(sp[SP_SIZE_TYPE]), sp[SP_SIZE], frac,
                                            sp[SP_FEES], sp[SP_FIXED_FEES], sp[SP_SLIPPAGE])
    if not ok:
        return False
    paid = budget - size * fill
    if sign > 0:
        st[ST_CASH] = cash - budget
        st[ST_POS] = size
    else:
        st[ST_CASH] = cash + size * fill - paid
        st[ST_POS] = -size
    st[ST_ENTRY_PRICE] = fill
    st[ST_ENTRY_FEES] = paid
    st[ST_ENTRY_IDX] = t
    st[ST_EXTREME] = fill
    st[ST_STOP_FROM] = stop_from
    acc[AC_FEES] += paid
    return True


@njit(cache=True, _nrt=False)
def close_nb(st, acc, sp, price, t, reason, records, tm):
    """Close the whole position at market ``price`` (before slippage), recording the trade.

    A close that leaves cash <= 0 (or a ruin liquidation) ruins the account: the shortfall is
    written off against this trade's pnl, so cash is exactly 0 and ``init_cash + Σ pnl`` still
    equals the equity.
    """
    pos = st[ST_POS]
    size = abs(pos)
    if pos > 0.0:
        fill = fill_price_nb(price, -1, sp[SP_SLIPPAGE])
        gross = size * fill
        paid = fee_nb(gross, sp[SP_FEES], sp[SP_FIXED_FEES])
        st[ST_CASH] += gross - paid
        pnl = size * (fill - st[ST_ENTRY_PRICE]) - st[ST_ENTRY_FEES] - paid
    else:
        fill = fill_price_nb(price, 1, sp[SP_SLIPPAGE])
        gross = size * fill
        paid = fee_nb(gross, sp[SP_FEES], sp[SP_FIXED_FEES])
        st[ST_CASH] -= gross + paid
        pnl = size * (st[ST_ENTRY_PRICE] - fill) - st[ST_ENTRY_FEES] - paid
    if reason == EXIT_RUIN or st[ST_CASH] <= 0.0:
        pnl -= st[ST_CASH]
        st[ST_CASH] = 0.0
        st[ST_RUINED] = 1.0
        st[ST_PENDING] = ST_NONE
        reason = EXIT_RUIN
        ruin_acc_nb(acc, t, tm)
    ret = pnl / (size * st[ST_ENTRY_PRICE] + st[ST_ENTRY_FEES])
    acc[AC_FEES] += paid
    acc_trade_nb(acc, pnl, ret, tm[t] - tm[int(st[ST_ENTRY_IDX])])
    _record_nb(st, records, pos, t, fill, paid, pnl, ret, reason)
    st[ST_POS] = 0.0


@njit(cache=True, _nrt=False)
def _record_nb(st, records, pos, t, fill, paid, pnl, ret, reason):
    k = int(st[ST_TRADES])
    if k < records.shape[0]:
        r = records[k]
        r["id"] = k
        r["direction"] = 1 if pos > 0.0 else -1
        r["entry_idx"] = int(st[ST_ENTRY_IDX])
        r["entry_price"] = st[ST_ENTRY_PRICE]
        r["entry_fees"] = st[ST_ENTRY_FEES]
        r["exit_idx"] = t
        r["exit_price"] = fill
        r["exit_fees"] = paid
        r["size"] = abs(pos)
        r["pnl"] = pnl
        r["ret"] = ret
        r["exit_reason"] = reason
    st[ST_TRADES] = k + 1


@njit(cache=True, _nrt=False)
def move_nb(st, acc, sp, target, price, t, frac, stop_from, records, tm):
    """Move the position to direction ``target`` (+1, 0, −1) at ``price``."""
    pos = st[ST_POS]
    cur = 1 if pos > 0.0 else (-1 if pos < 0.0 else 0)
    if cur == target:
        return
    if cur != 0:
        close_nb(st, acc, sp, price, t, EXIT_SIGNAL if target == 0 else EXIT_REVERSE, records, tm)
    if target != 0 and st[ST_RUINED] == 0.0:
        open_nb(st, acc, sp, target, price, t, frac, stop_from)


@njit(cache=True, _nrt=False)
def target_nb(entry, exit_, pos, direction):
    """Return the direction a signal pair asks for, or ST_NONE when it asks for nothing."""
    if entry == exit_:
        return ST_NONE  # nothing, or a conflict: ignored
    cur = 1 if pos > 0.0 else (-1 if pos < 0.0 else 0)
    if direction == DIR_LONG:
        if entry and cur == 0:
            return 1.0
        if exit_ and cur > 0:
            return 0.0
    elif direction == DIR_BOTH:
        if entry and cur <= 0:
            return 1.0
        if exit_ and cur >= 0:
            return -1.0
    else:
        if entry and cur == 0:
            return -1.0
        if exit_ and cur < 0:
            return 0.0
    return ST_NONE


@njit(cache=True, _nrt=False)
def stops_nb(st, acc, sp, t, o, h, l, records, tm):
    """Check the ruin level, stop-loss, take-profit and trailing stop of the open position on bar ``t``.

    The ruin level (where equity reaches zero) is an adverse stop that is always on; of the
    adverse levels the one the price reaches first wins (the ruin level on a tie).
    """
    pos = st[ST_POS]
    ruin = -st[ST_CASH] / pos
    entry = st[ST_ENTRY_PRICE]
    sl = sp[SP_SL]
    tp = sp[SP_TP]
    trail = sp[SP_TRAIL]
    if pos > 0.0:
        sl_level = entry * (1.0 - sl) if sl > 0.0 else -np.inf
        tr_level = st[ST_EXTREME] * (1.0 - trail) if trail > 0.0 else -np.inf
        stop_level = sl_level if sl_level >= tr_level else tr_level
        stop_reason = EXIT_STOP_LOSS if sl_level >= tr_level else EXIT_TRAILING
        if ruin >= stop_level:
            stop_level = ruin
            stop_reason = EXIT_RUIN
        tp_level = entry * (1.0 + tp) if tp > 0.0 else np.inf
        if o <= stop_level:
            close_nb(st, acc, sp, o, t, stop_reason, records, tm)
        elif o >= tp_level:
            close_nb(st, acc, sp, o, t, EXIT_TAKE_PROFIT, records, tm)
        else:
            hit_stop = l <= stop_level
            hit_tp = h >= tp_level
            if hit_stop and (not hit_tp or sp[SP_STOP_PRIORITY] == STOP_FIRST_SL):
                close_nb(st, acc, sp, stop_level, t, stop_reason, records, tm)
            elif hit_tp:
                close_nb(st, acc, sp, tp_level, t, EXIT_TAKE_PROFIT, records, tm)
            elif h > st[ST_EXTREME]:
                st[ST_EXTREME] = h
    elif pos < 0.0:
        sl_level = entry * (1.0 + sl) if sl > 0.0 else np.inf
        tr_level = st[ST_EXTREME] * (1.0 + trail) if trail > 0.0 else np.inf
        stop_level = sl_level if sl_level <= tr_level else tr_level
        stop_reason = EXIT_STOP_LOSS if sl_level <= tr_level else EXIT_TRAILING
        if ruin <= stop_level:
            stop_level = ruin
            stop_reason = EXIT_RUIN
        tp_level = entry * (1.0 - tp) if tp > 0.0 else -np.inf
        if o >= stop_level:
            close_nb(st, acc, sp, o, t, stop_reason, records, tm)
        elif o <= tp_level:
            close_nb(st, acc, sp, o, t, EXIT_TAKE_PROFIT, records, tm)
        else:
            hit_stop = h >= stop_level
            hit_tp = l <= tp_level
            if hit_stop and (not hit_tp or sp[SP_STOP_PRIORITY] == STOP_FIRST_SL):
                close_nb(st, acc, sp, stop_level, t, stop_reason, records, tm)
            elif hit_tp:
                close_nb(st, acc, sp, tp_level, t, EXIT_TAKE_PROFIT, records, tm)
            elif l < st[ST_EXTREME]:
                st[ST_EXTREME] = l


# --------------------------------------------------------------------------------------------
# the bar step and its drivers


@njit(cache=True, _nrt=False)
def bar_nb(t, entry, exit_, o, h, l, c, tm, sp, frac, st, acc, records):
    """Simulate bar ``t``: pending fill at the open, ruin level and stops, the signal, then the close."""
    nxt = sp[SP_EXECUTION] == EXEC_NEXT_OPEN
    if nxt and st[ST_PENDING] != ST_NONE:
        target = int(st[ST_PENDING])
        st[ST_PENDING] = ST_NONE
        move_nb(st, acc, sp, target, o[t], t, frac[t - 1] if frac.shape[0] > 1 else frac[0], t, records, tm)
    if st[ST_POS] != 0.0 and t >= st[ST_STOP_FROM]:
        stops_nb(st, acc, sp, t, o[t], h[t], l[t], records, tm)
    if (entry or exit_) and st[ST_RUINED] == 0.0:
        target = target_nb(entry, exit_, st[ST_POS], int(sp[SP_DIRECTION]))
        if target != ST_NONE:
            if nxt:
                st[ST_PENDING] = target
            else:
                move_nb(st, acc, sp, int(target), c[t], t, frac[t] if frac.shape[0] > 1 else frac[0],
                        t + 1, records, tm)
    pos = st[ST_POS]
    equity = st[ST_CASH] + pos * c[t] if pos != 0.0 else st[ST_CASH]
    acc_bar_nb(acc, t, tm, equity, st[ST_PREV_EQUITY], pos)
    st[ST_PREV_EQUITY] = equity
    return equity


@njit(cache=True, _nrt=False)
def stop_touched_nb(st, sp, t, h, l):
    """Return True if bar ``t``'s range reaches the ruin level or a stop of the open position (cheap
    pre-check; a bar that opens beyond a level also reaches it)."""
    if t < st[ST_STOP_FROM]:
        return False
    pos = st[ST_POS]
    ruin = -st[ST_CASH] / pos
    entry = st[ST_ENTRY_PRICE]
    sl = sp[SP_SL]
    tp = sp[SP_TP]
    trail = sp[SP_TRAIL]
    if pos > 0.0:
        return (l <= ruin or (sl > 0.0 and l <= entry * (1.0 - sl)) or (tp > 0.0 and h >= entry * (1.0 + tp))
                or (trail > 0.0 and l <= st[ST_EXTREME] * (1.0 - trail)))
    return (h >= ruin or (sl > 0.0 and h >= entry * (1.0 + sl)) or (tp > 0.0 and l <= entry * (1.0 - tp))
            or (trail > 0.0 and h >= st[ST_EXTREME] * (1.0 + trail)))


@njit(cache=True, _nrt=False)
def run_range_nb(t0, t1, entries, exits, o, h, l, c, tm, sp, frac, has_stops, st, acc, records,
                 equity_out, cash_out, pos_out):
    """Simulate bars ``t0..t1-1`` (signals at ``entries[t - t0]``), optionally writing per-bar series.

    Bars on which nothing but the mark to market can happen take a short path inline; the full
    :func:`bar_nb` runs only on bars with a signal, a pending order or a touched stop or ruin
    level. Both paths give the same numbers (a flat bar with unchanged equity leaves the
    accumulators unchanged). After a ruin nothing happens any more: equity stays 0 and the bars
    are not part of the per-bar statistics.
    """
    write = equity_out.shape[0] > 0
    a = load_bar_acc_nb(acc)
    for t in range(t0, t1):
        if st[ST_RUINED] != 0.0:
            if not write:
                break
            equity = 0.0
        else:
            entry = entries[t - t0]
            exit_ = exits[t - t0]
            pos = st[ST_POS]
            if (not entry and not exit_ and st[ST_PENDING] == ST_NONE
                    and (pos == 0.0 or not stop_touched_nb(st, sp, t, h[t], l[t]))):
                if pos == 0.0:
                    equity = st[ST_CASH]
                else:
                    if has_stops:
                        if pos > 0.0 and h[t] > st[ST_EXTREME]:
                            st[ST_EXTREME] = h[t]
                        elif pos < 0.0 and l[t] < st[ST_EXTREME]:
                            st[ST_EXTREME] = l[t]
                    equity = st[ST_CASH] + pos * c[t]
                    a = bar_acc_update_nb(a, t, tm, equity, st[ST_PREV_EQUITY], pos)
                    st[ST_PREV_EQUITY] = equity
            else:
                store_bar_acc_nb(acc, a)
                equity = bar_nb(t, entry, exit_, o, h, l, c, tm, sp, frac, st, acc, records)
                a = load_bar_acc_nb(acc)
        if write:
            equity_out[t] = equity
            cash_out[t] = st[ST_CASH]
            pos_out[t] = st[ST_POS]
    store_bar_acc_nb(acc, a)


@njit(cache=True, _nrt=False)
def has_stops_nb(sp):
    return sp[SP_SL] > 0.0 or sp[SP_TP] > 0.0 or sp[SP_TRAIL] > 0.0


@njit(cache=True, _nrt=False)
def finish_nb(st, acc, c, tm, records):
    """Record a position still open at the last bar (valued at the last close) and close the books."""
    n = c.shape[0]
    pos = st[ST_POS]
    if pos != 0.0:
        size = abs(pos)
        last = c[n - 1]
        if pos > 0.0:
            pnl = size * (last - st[ST_ENTRY_PRICE]) - st[ST_ENTRY_FEES]
        else:
            pnl = size * (st[ST_ENTRY_PRICE] - last) - st[ST_ENTRY_FEES]
        ret = pnl / (size * st[ST_ENTRY_PRICE] + st[ST_ENTRY_FEES])
        _record_nb(st, records, pos, n - 1, last, 0.0, pnl, ret, EXIT_OPEN)
    finish_acc_nb(acc, tm, st[ST_PREV_EQUITY], pos)  # 0 after a ruin (the ruin bar closed at 0)


@njit(cache=True)
def simulate_nb(entries, exits, o, h, l, c, tm, sp, frac):
    """Simulate one parameter set over precomputed signals (``tm``: bar close times in days).

    Returns
    -------
    equity, cash, position : float64 arrays per bar (at the close)
    trades : trade_dt records (closed trades, then the open one if any)
    acc : finished metric accumulators
    """
    n = c.shape[0]
    st = init_state_nb(sp)
    acc = init_acc_nb(sp[SP_INIT_CASH])
    records = np.empty(2 * n + 2, dtype=trade_dt)  # at most two closes per bar
    equity = np.empty(n)
    cash = np.empty(n)
    position = np.empty(n)
    run_range_nb(0, n, entries, exits, o, h, l, c, tm, sp, frac, has_stops_nb(sp), st, acc, records,
                 equity, cash, position)
    finish_nb(st, acc, c, tm, records)
    return equity, cash, position, records[: int(st[ST_TRADES])].copy(), acc


@njit(cache=True)
def stats_from_series_nb(equity, position, trades, init_cash, tm):
    """Rebuild the metric accumulators from an equity/position series and trade records.

    The first bar whose equity is <= 0 is the ruin: the per-bar statistics stop there (exactly
    as the simulation's accumulators do), and a series that goes negative is never read past it.
    """
    acc = init_acc_nb(init_cash)
    prev = init_cash
    last = equity.shape[0] - 1
    for t in range(equity.shape[0]):
        e = equity[t]
        if e <= 0.0:
            e = 0.0
            acc_bar_nb(acc, t, tm, e, prev, position[t])
            ruin_acc_nb(acc, t, tm)
            prev = e
            last = t
            break
        acc_bar_nb(acc, t, tm, e, prev, position[t])
        prev = e
    for k in range(trades.shape[0]):
        tr = trades[k]
        if tr["exit_reason"] != EXIT_OPEN:
            acc_trade_nb(acc, tr["pnl"], tr["ret"], tm[tr["exit_idx"]] - tm[tr["entry_idx"]])
        acc[AC_FEES] += tr["entry_fees"] + tr["exit_fees"]
    last_pos = position[last] if equity.shape[0] > 0 else 0.0
    finish_acc_nb(acc, tm, prev, last_pos)
    return acc


# --------------------------------------------------------------------------------------------
# the fast path: between signals an all-in long position's equity is units × close
#
# With no cash left over (``size_type="percent"``, ``size`` >= 1), long only, no stops and positive
# prices, the equity of a holding period after its entry bar is ``K × c[t]`` (K: units held), so its
# bar returns are the asset's own returns ``c[t] / c[t-1] - 1``: their sums come from prefix sums,
# and its drawdown from a scan of the closes that passes over whole blocks of bars lying under the
# running peak (their block maximum and minimum tell all the bookkeeping needs). Entry and exit bars
# (fees, slippage, fills at the open) are booked with the per-bar path's own arithmetic, flat bars
# change nothing. ``sweep_nb`` runs a combination on the fast path (:func:`fast_block_nb`, block by
# block, then :func:`fast_finish_nb`) when :func:`fast_path_ok_nb` holds, else on the per-bar path.

#: Columns of the ``pre`` table: double-double prefix sums (hi, lo) of r, r², min(r, 0)², and two of
#: padding, so that a bar's sums are one aligned 64-byte cache line (a fold reads two bars' lines).
PRE_ROWS = 8
#: log2 of the bars per block of the drawdown scan's block maxima and minima.
LOG_DD_BLOCK = 4
DD_BLOCK = 1 << LOG_DD_BLOCK


@njit(cache=True, _nrt=False)
def fast_path_ok_nb(sp):
    """Return True if parameters ``sp`` keep equity proportional to the price while a position is open."""
    return (sp[SP_DIRECTION] == DIR_LONG and sp[SP_SIZE_TYPE] == SIZE_PERCENT and sp[SP_SIZE] >= 1.0
            and not has_stops_nb(sp))


@njit(cache=True, _nrt=False)
def any_fast_path_nb(spar):
    """Return True if some row of ``spar`` can take the fast path (then the tables are worth building)."""
    for k in range(spar.shape[0]):
        if fast_path_ok_nb(spar[k]):
            return True
    return False


@njit(cache=True)
def hold_tables_nb(c):
    """Return the tables the fast path reads, built once per sweep (``c``: positive closes).

    pre : (n, 8) double-double prefix sums of the asset's bar returns ``r[t] = c[t]/c[t-1] - 1``
        (``r[0] = 0``), of ``r²`` and of ``min(r, 0)²`` (compensated, so a range sum keeps full
        precision however long the series).
    blk : (2, ceil(n / DD_BLOCK)) the maximum and the minimum close of each block of ``DD_BLOCK`` bars.
    """
    n = c.shape[0]
    buf = np.zeros(n * PRE_ROWS + 8)
    skip = ((-buf.ctypes.data) & 63) >> 3  # start the table on a 64-byte boundary
    pre = buf[skip:skip + n * PRE_ROWS].reshape((n, PRE_ROWS))
    h1 = l1 = h2 = l2 = h3 = l3 = 0.0
    for t in range(1, n):
        r = c[t] / c[t - 1] - 1.0
        neg = min(r, 0.0)
        h1, l1 = acc_add_nb(h1, l1, r)
        h2, l2 = acc_add_nb(h2, l2, r * r)
        h3, l3 = acc_add_nb(h3, l3, neg * neg)
        pre[t, 0] = h1
        pre[t, 1] = l1
        pre[t, 2] = h2
        pre[t, 3] = l2
        pre[t, 4] = h3
        pre[t, 5] = l3
    blk = np.empty((2, (n + DD_BLOCK - 1) >> LOG_DD_BLOCK))
    for j in range(blk.shape[1]):
        seg = c[j << LOG_DD_BLOCK:min((j + 1) << LOG_DD_BLOCK, n)]
        blk[0, j] = seg.max()
        blk[1, j] = seg.min()
    return pre, blk


@njit(cache=True, _nrt=False, inline="always")
def _range_sum_nb(pre, row, a, b):
    """Return the sum of series ``row`` (0: r, 1: r², 2: min(r, 0)²) over bars ``a..b`` (``1 <= a <= b``)."""
    return (pre[b, 2 * row] - pre[a - 1, 2 * row]) + (pre[b, 2 * row + 1] - pre[a - 1, 2 * row + 1])


@njit(cache=True, _nrt=False, inline="always")
def _part_of_nb(bounds, t, p):
    """Return the part holding bar ``t`` (``bounds[p] <= t < bounds[p + 1]``), searching forward from part ``p``
    (at most ``t``'s: a combination's bars are booked in time order, so it passes the last part found)."""
    while p + 2 < bounds.shape[0] and bounds[p + 1] <= t:
        p += 1
    return p


@njit(cache=True, _nrt=False, inline="always")
def fast_bar_nb(acc, ps, bounds, t, tm, equity, prev, pos, p):
    """Fold one explicitly booked bar (an entry or exit bar) into the accumulators and its part's sums."""
    r = equity / prev - 1.0 if prev != 0.0 else 0.0
    acc_bar_nb(acc, t, tm, equity, prev, pos)
    p = _part_of_nb(bounds, t, p)
    ps[p, 0] += r
    ps[p, 1] += r * r
    return p


@njit(cache=True, _nrt=False, inline="always")
def fold_hold_nb(acc, ps, bounds, units, a, b, c, tm, pre, blk, p):
    """Fold bars ``a..b`` of an open all-in long position (equity ``units × c[t]``, ``1 <= a <= b``).

    Returns and exposure come from prefix sums; the drawdown bookkeeping (running peak, its time,
    the deepest fall, the longest time under water) follows the per-bar rules of
    :func:`bar_acc_update_nb` (:func:`_drawdown_scan_nb`).
    """
    acc[AC_SUM_R] += _range_sum_nb(pre, 0, a, b)
    acc[AC_SUM_R2] += _range_sum_nb(pre, 1, a, b)
    acc[AC_SUM_DOWN2] += _range_sum_nb(pre, 2, a, b)
    acc[AC_EXPOSED] += b - a + 1
    p = _part_of_nb(bounds, a, p)
    while p < bounds.shape[0] - 1 and bounds[p] <= b:
        lo = max(a, bounds[p])
        hi = min(b, bounds[p + 1] - 1)
        if lo <= hi:
            ps[p, 0] += _range_sum_nb(pre, 0, lo, hi)
            ps[p, 1] += _range_sum_nb(pre, 1, lo, hi)
        p += 1
    _drawdown_scan_nb(acc, units, a, b, c, tm, blk)
    return p - 1  # the part of bar b


@njit(cache=True, _nrt=False, inline="always")
def _drawdown_scan_nb(acc, units, a, b, c, tm, blk):
    """The drawdown bookkeeping of bars ``a..b`` (equity ``units × c[t]``, ``a >= 1``), block by block.

    A block whose highest close stays under the running peak holds no new peak, so its bars (all of
    them, or the part of it in ``a..b``) change only the stretch's lowest equity (the block's lowest
    close, or a branch-free minimum over the part) and, if they open the stretch, the peak's time:
    ``units × max(c)`` is the largest of the ``units × c[t]`` as floats (rounding is monotonic), so the
    test is the per-bar comparison's own. A run of such blocks is passed over in a tight loop; the
    other blocks are scanned bar by bar with the per-bar rules of :func:`bar_acc_update_nb`, the
    deepest fall of each stretch under water taken from its lowest equity ``low`` (``1 - low / peak`` is
    the largest ``1 - equity / peak`` of the stretch: the division is monotonic).
    """
    peak = acc[AC_PEAK]
    peak_time = acc[AC_PEAK_TIME]
    under = acc[AC_UNDER] == 1.0
    max_dd = acc[AC_MAX_DD]
    max_days = acc[AC_MAX_DD_DAYS]
    low = np.inf  # the lowest equity of the stretch under water since bar a
    t = a
    j = t >> LOG_DD_BLOCK
    while t <= b:
        e = min(b + 1, (j + 1) << LOG_DD_BLOCK)  # the end of block j's part of a..b
        if units * blk[0, j] >= peak:  # the block may hold a new peak: bar by bar
            for i in range(t, e):
                equity = units * c[i]
                if equity >= peak:
                    if under:
                        max_days = max(max_days, tm[i] - peak_time)
                        max_dd = max(max_dd, 1.0 - low / peak)
                        low = np.inf
                        under = False
                    peak = equity
                    peak_time = tm[i]
                else:
                    if not under:
                        peak_time = tm[i - 1]
                        under = True
                    low = min(low, equity)
            t = e
            j += 1
            continue
        if not under:
            peak_time = tm[t - 1]
            under = True
        if e - t == DD_BLOCK:
            lowest = blk[1, j]
        else:
            lowest = np.inf
            for i in range(t, e):
                lowest = min(lowest, c[i])
        t = e
        j += 1
        while t + DD_BLOCK <= b + 1 and units * blk[0, j] < peak:  # whole blocks under the peak
            lowest = min(lowest, blk[1, j])
            t += DD_BLOCK
            j += 1
        low = min(low, units * lowest)
    if under and low < np.inf:
        max_dd = max(max_dd, 1.0 - low / peak)
    acc[AC_PEAK] = peak
    acc[AC_PEAK_TIME] = peak_time
    acc[AC_MAX_DD] = max_dd
    acc[AC_MAX_DD_DAYS] = max_days
    acc[AC_UNDER] = 1.0 if under else 0.0


#: Slots of a combination's fast-path state between blocks (:func:`fast_block_nb`).
FS_CASH, FS_UNITS, FS_ENTRY, FS_ENTRY_PRICE, FS_ENTRY_FEES, FS_PREV, FS_DONE, FS_PART = 0, 1, 2, 3, 4, 5, 6, 7
FS_LEN = 8  # one 64-byte cache line per combination


@njit(cache=True, _nrt=False)
def fast_block_nb(signal_fn, ind, cols, fpar, states, entries, exits, t0, t1, spar, tm, bounds, part_sums, pre,
                  blk, accs, fss, k, j):
    """Run bars ``t0..t1-1`` of combination ``k`` (its scratch rows ``j`` of ``states``, ``accs``, ``fss``)
    on the fast path (see :func:`fast_path_ok_nb`).

    The same orders as :func:`bar_nb` (fills at the close or the next open, entry failure when the
    cash does not cover the fixed fee, a close that leaves cash <= 0 ruins the account), booked only
    on the bars where they happen. The signal arrays are read eight bars at a time (their length is a
    multiple of 8) and a word's signals found by their trailing zeros, so bars without a signal cost
    little more than the scan that wrote them.
    """
    fs = fss[j]
    if fs[FS_DONE] != 0.0:
        return
    sp = spar[k]
    acc = accs[j]
    ps = part_sums[k]
    o = ind[0]
    c = ind[3]
    n = c.shape[0]
    nxt = sp[SP_EXECUTION] == EXEC_NEXT_OPEN
    fees = sp[SP_FEES]
    fixed = sp[SP_FIXED_FEES]
    slip = sp[SP_SLIPPAGE]
    cash = fs[FS_CASH]
    units = fs[FS_UNITS]
    e = int(fs[FS_ENTRY])
    entry_price = fs[FS_ENTRY_PRICE]
    entry_fees = fs[FS_ENTRY_FEES]
    prev = fs[FS_PREV]  # equity at the close of the last booked bar
    part = int(fs[FS_PART])  # the part of the last booked bar
    ruined = False
    signal_fn(ind, cols[k], fpar[k], states[j], t0, t1, entries, exits)
    e_words = entries.view(np.uint64)
    x_words = exits.view(np.uint64)
    for w in range((t1 - t0 + 7) >> 3):
        word = e_words[w] | x_words[w]
        while word != 0:  # the word's bars with a signal, in order (bytes past t1 - t0 are stale)
            b = trailing_zeros(word) >> 3
            word &= ~(np.uint64(0xFF) << np.uint64(b << 3))
            i = (w << 3) + b
            if i >= t1 - t0:
                break
            target = target_nb(entries[i], exits[i], units, DIR_LONG)
            if target == ST_NONE:
                continue
            t = t0 + i + 1 if nxt else t0 + i
            if t >= n:
                continue  # next_open: a signal on the last bar never fills
            price = o[t] if nxt else c[t]
            if target == 1.0:
                ok, size, fill, budget = entry_order_nb(cash, price, 1, SIZE_PERCENT, sp[SP_SIZE], 0.0, fees,
                                                        fixed, slip)
                if not ok:
                    continue
                paid = budget - size * fill
                cash = cash - budget
                units = size
                e = t
                entry_price = fill
                entry_fees = paid
                acc[AC_FEES] += paid
                equity = cash + units * c[t]
                part = fast_bar_nb(acc, ps, bounds, t, tm, equity, prev, units, part)
                prev = equity
            else:
                if t - 1 > e:
                    part = fold_hold_nb(acc, ps, bounds, units, e + 1, t - 1, c, tm, pre, blk, part)
                    prev = cash + units * c[t - 1]
                fill = fill_price_nb(price, -1, slip)
                gross = units * fill
                paid = fee_nb(gross, fees, fixed)
                cash += gross - paid
                pnl = units * (fill - entry_price) - entry_fees - paid
                if cash <= 0.0:
                    pnl -= cash
                    cash = 0.0
                    ruined = True
                    ruin_acc_nb(acc, t, tm)
                ret = pnl / (units * entry_price + entry_fees)
                acc[AC_FEES] += paid
                acc_trade_nb(acc, pnl, ret, tm[t] - tm[e])
                part = fast_bar_nb(acc, ps, bounds, t, tm, cash, prev, 0.0, part)
                prev = cash
                units = 0.0
                if ruined:
                    break
        if ruined:
            break
    fs[FS_CASH] = cash
    fs[FS_UNITS] = units
    fs[FS_ENTRY] = e
    fs[FS_ENTRY_PRICE] = entry_price
    fs[FS_ENTRY_FEES] = entry_fees
    fs[FS_PREV] = prev
    fs[FS_DONE] = 1.0 if ruined else 0.0
    fs[FS_PART] = part


@njit(cache=True, _nrt=False)
def fast_init_nb(fs, sp):
    """Set a combination's fast-path state ``fs`` to its start: flat, all cash, no entry yet."""
    fs[:] = 0.0
    fs[FS_CASH] = sp[SP_INIT_CASH]
    fs[FS_PREV] = sp[SP_INIT_CASH]
    fs[FS_ENTRY] = -1.0


@njit(cache=True, _nrt=False)
def fast_finish_nb(c, tm, bounds, ps, pre, blk, acc, fs):
    """Close the books of a fast-path combination after its last block: fold a position still open."""
    n = c.shape[0]
    units = fs[FS_UNITS]
    prev = fs[FS_PREV]
    e = int(fs[FS_ENTRY])
    if units != 0.0 and n - 1 > e:
        fold_hold_nb(acc, ps, bounds, units, e + 1, n - 1, c, tm, pre, blk, int(fs[FS_PART]))
        prev = fs[FS_CASH] + units * c[n - 1]
    finish_acc_nb(acc, tm, prev, units)


@njit(cache=True)
def _per_bar_combo_nb(signal_fn, ind, cols, fpar, state, entries, exits, block, sp, frac, tm, bounds, ps, acc):
    """Run one combination bar by bar (any options), filling ``acc`` and its per-part return sums ``ps``."""
    o = ind[0]
    h = ind[1]
    l = ind[2]
    c = ind[3]
    records = np.empty(0, dtype=trade_dt)
    st = init_state_nb(sp)
    stops = has_stops_nb(sp)
    none = np.empty(0)
    for part in range(bounds.shape[0] - 1):
        r0 = acc[AC_SUM_R]
        r2 = acc[AC_SUM_R2]
        for t0 in range(bounds[part], bounds[part + 1], block):
            if st[ST_RUINED] != 0.0:
                break
            t1 = min(t0 + block, bounds[part + 1])
            signal_fn(ind, cols, fpar, state, t0, t1, entries, exits)
            run_range_nb(t0, t1, entries, exits, o, h, l, c, tm, sp, frac, stops, st, acc, records,
                         none, none, none)
        ps[part, 0] = acc[AC_SUM_R] - r0
        ps[part, 1] = acc[AC_SUM_R2] - r2
    finish_nb(st, acc, c, tm, records)


_F64_2D = types.float64[:, ::1]
SWEEP_SIG = types.void(
    SIGNAL_FN_TYPE,  # signal kernel of the strategy
    _F64_2D,  # ind
    types.int64[:, ::1],  # cols
    _F64_2D,  # fpar
    types.int64,  # n_state
    _F64_2D,  # spar: simulation parameters per combination
    types.float64[::1],  # frac: vol-target size fraction per bar (or length 1)
    types.float64[::1],  # tm: bar close times in days from the first bar's open
    types.float64,  # ann_factor
    types.float64,  # years
    types.int64,  # block: bars per signal call
    types.int64,  # groups: groups of fast-path combinations run in parallel (one per thread)
    types.int64[::1],  # bounds: S+1 partition boundaries for per-partition return sums
    types.float64[:, :, ::1],  # part_sums out: (n_combos, S, 2) sum of returns and of squares per part
    _F64_2D,  # out: (n_combos, N_STATS)
    _F64_2D,  # pre: hold_tables_nb's prefix sums, or (0, PRE_ROWS) when no combination takes the fast path
    _F64_2D,  # blk: hold_tables_nb's block maxima and minima of the closes
)


def _sweep_py(signal_fn, ind, cols, fpar, n_state, spar, frac, tm, ann_factor, years, block, groups, bounds,
              part_sums, out, pre, blk):
    """Run signals, simulation and metrics fused per combination, in parallel over combinations.

    Memory per worker is O(block); no bars × combinations array is ever built. Besides the stats,
    the sums of bar returns and of their squares over each part ``bounds[s]..bounds[s+1]-1`` are
    written to ``part_sums`` (what CSCV needs to score any union of parts). A ruined combination
    stops at its ruin: its later parts hold no returns. Given the tables of :func:`hold_tables_nb`
    (``pre`` with one row per bar), a combination for which :func:`fast_path_ok_nb` holds runs
    on the fast path (:func:`fast_block_nb`), the others bar by bar; both give the same stats.
    """
    n_combos = cols.shape[0]
    n = ind.shape[1]
    is_fast = np.zeros(n_combos, dtype=np.bool_)
    if pre.shape[0] == n:
        for k in range(n_combos):
            is_fast[k] = fast_path_ok_nb(spar[k])
    fidx = np.nonzero(is_fast)[0]
    sidx = np.nonzero(~is_fast)[0]
    nf = fidx.shape[0]
    # ``groups`` groups (one per thread), combinations dealt round-robin (neighbours in a grid cost
    # alike): a group walks the bars block by block through all its combinations, so a block of the
    # indicator rows is read from memory once per group and then from cache
    ng = max(1, min(nf, groups))
    for g in prange(ng):
        m = (nf - g + ng - 1) // ng  # combinations fidx[g], fidx[g + ng], ...
        entries = np.zeros((block + 7) & -8, dtype=np.bool_)  # whole 8-byte words: fast_block_nb reads words
        exits = np.zeros((block + 7) & -8, dtype=np.bool_)
        states = np.zeros((m, max(n_state, 1)))
        accs = np.empty((m, AC_LEN))
        fss = np.zeros((m, FS_LEN))
        for j in range(m):
            sp = spar[fidx[g + j * ng]]
            accs[j] = init_acc_nb(sp[SP_INIT_CASH])
            fast_init_nb(fss[j], sp)
        for t0 in range(0, n, block):
            t1 = min(t0 + block, n)
            for j in range(m):
                fast_block_nb(signal_fn, ind, cols, fpar, states, entries, exits, t0, t1, spar, tm, bounds,
                              part_sums, pre, blk, accs, fss, fidx[g + j * ng], j)
        for j in range(m):
            k = fidx[g + j * ng]
            fast_finish_nb(ind[3], tm, bounds, part_sums[k], pre, blk, accs[j], fss[j])
            finalize_stats_nb(accs[j], spar[k, SP_INIT_CASH], ann_factor, years, out[k])
    for i in prange(sidx.shape[0]):
        k = sidx[i]
        sp = spar[k]
        entries = np.zeros((block + 7) & -8, dtype=np.bool_)
        exits = np.zeros((block + 7) & -8, dtype=np.bool_)
        state = np.zeros(max(n_state, 1))
        acc = init_acc_nb(sp[SP_INIT_CASH])
        _per_bar_combo_nb(signal_fn, ind, cols[k], fpar[k], state, entries, exits, block, sp, frac, tm,
                          bounds, part_sums[k], acc)
        finalize_stats_nb(acc, sp[SP_INIT_CASH], ann_factor, years, out[k])


def __getattr__(name):
    """Build ``sweep_nb`` (:func:`_sweep_py` compiled for ``SWEEP_SIG``) on first use.

    An explicit signature compiles (or loads from the cache) when the decorator runs, i.e. at import:
    the parallel sweep kernel is the largest one, and ``peaktrade backtest`` never calls it. The
    signature stays explicit (signal kernels are passed as first-class functions, so one compiled
    kernel serves every strategy); only the moment it is built moves. The cache entry is the same:
    numba keys it by the Python function, not by the name it is bound to.
    """
    if name == "sweep_nb":
        fn = njit(SWEEP_SIG, cache=True, parallel=True)(_sweep_py)
        globals()["sweep_nb"] = fn
        return fn
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@njit(cache=True)
def vol_target_frac_nb(close, window, target_vol, ann_factor, max_frac):
    """Return min(max_frac, target_vol / annualized realized vol) per bar (NaN → 0 during warm-up)."""
    n = close.shape[0]
    out = np.zeros(n)
    if window < 2:
        return out
    for t in range(window, n):
        s = 0.0
        s2 = 0.0
        for j in range(t - window + 1, t + 1):
            r = np.log(close[j] / close[j - 1])
            s += r
            s2 += r * r
        m = s / window
        var = (s2 - window * m * m) / (window - 1)
        vol = np.sqrt(var * ann_factor) if var > 0.0 else 0.0
        if vol > 0.0:
            f = target_vol / vol
            out[t] = f if f < max_frac else max_frac
    return out


__all__ = [
    "N_STATS",
    "any_fast_path_nb",
    "fast_path_ok_nb",
    "finalize_stats_nb",
    "hold_tables_nb",
    "simulate_nb",
    "stats_from_series_nb",
    "sweep_nb",  # noqa: F822  (built on first use by the module __getattr__)
    "vol_target_frac_nb",
]
