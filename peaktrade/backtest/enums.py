"""Integer enums and structured record dtypes shared by the kernels and the pandas layer."""

from __future__ import annotations

import numpy as np

# Execution timing
EXEC_NEXT_OPEN = 0  # a signal on bar t's close fills at bar t+1's open (default; no lookahead)
EXEC_CLOSE = 1  # fills at the signal bar's close (vectorbt's default)
EXECUTION = {"next_open": EXEC_NEXT_OPEN, "close": EXEC_CLOSE}

# Direction
DIR_LONG = 0  # entries open longs, exits close them
DIR_SHORT = 1  # entries open shorts, exits close them
DIR_BOTH = 2  # entries go long (reversing a short), exits go short (reversing a long)
DIRECTION = {"long": DIR_LONG, "short": DIR_SHORT, "both": DIR_BOTH}

# Sizing
SIZE_PERCENT = 0  # invest `size` × equity (1.0 = all-in)
SIZE_VALUE = 1  # invest a fixed notional `size` (capped by the available cash, shorts included: no leverage)
SIZE_VOL_TARGET = 2  # invest min(1, target_vol / realized_vol[t]) × equity
SIZE_TYPE = {"percent": SIZE_PERCENT, "value": SIZE_VALUE, "vol_target": SIZE_VOL_TARGET}

# Which stop wins when stop-loss and take-profit both lie inside one bar
STOP_FIRST_SL = 0  # pessimistic (default)
STOP_FIRST_TP = 1
STOP_PRIORITY = {"sl": STOP_FIRST_SL, "tp": STOP_FIRST_TP}

# Exit reasons of trade records
EXIT_SIGNAL = 0
EXIT_STOP_LOSS = 1
EXIT_TAKE_PROFIT = 2
EXIT_TRAILING = 3
EXIT_REVERSE = 4  # closed by an opposite entry (direction="both")
EXIT_OPEN = 5  # still open at the last bar (valued at the last close, no exit costs)
EXIT_RUIN = 6  # liquidated where equity reached zero (or a close that left equity <= 0): the account is ruined
EXIT_WINDOW_END = 7  # closed at the last close of a walk-forward test window (never written by the kernels)
EXIT_REASON_NAMES = ("signal", "stop_loss", "take_profit", "trailing_stop", "reverse", "open", "ruin", "window_end")

trade_dt = np.dtype(
    [
        ("id", np.int64),
        ("direction", np.int64),  # +1 long, -1 short
        ("entry_idx", np.int64),
        ("entry_price", np.float64),  # fill price incl. slippage
        ("entry_fees", np.float64),
        ("exit_idx", np.int64),
        ("exit_price", np.float64),
        ("exit_fees", np.float64),
        ("size", np.float64),  # units of the base asset (> 0)
        ("pnl", np.float64),  # net of both sides' fees
        ("ret", np.float64),  # pnl / (entry_price × size + entry_fees)
        ("exit_reason", np.int64),
    ],
    align=True,
)

# Simulation state vector (one float64 array per simulated combination)
ST_CASH = 0
ST_POS = 1  # signed units
ST_ENTRY_PRICE = 2
ST_ENTRY_FEES = 3
ST_ENTRY_IDX = 4
ST_EXTREME = 5  # highest high (long) / lowest low (short) since entry, for trailing stops
ST_PENDING = 6  # next_open: target sign to reach at the next open (+1, 0, -1), or ST_NONE
ST_STOP_FROM = 7  # first bar index on which stops are checked for the current position
ST_TRADES = 8  # trade records written so far
ST_PREV_EQUITY = 9
ST_RUINED = 10  # 1 once equity reached zero: no further orders, equity stays 0
ST_N = 11
ST_NONE = 99.0

# Simulation parameters (one float64 vector; a sweep holds one row per combination)
SP_INIT_CASH = 0
SP_FEES = 1
SP_FIXED_FEES = 2
SP_SLIPPAGE = 3
SP_EXECUTION = 4
SP_DIRECTION = 5
SP_SIZE_TYPE = 6
SP_SIZE = 7
SP_SL = 8  # stop-loss distance as a fraction of the entry price (NaN/0 = off)
SP_TP = 9  # take-profit distance (NaN/0 = off)
SP_TRAIL = 10  # trailing-stop distance from the best price since entry (NaN/0 = off)
SP_STOP_PRIORITY = 11
SP_N = 12

# Metric accumulators (one float64 array per combination); see stats.py for the finalisation
AC_N = 0  # bars (set at the end)
AC_SUM_R = 1  # sum of bar returns
AC_SUM_R2 = 2  # sum of squared bar returns
AC_SUM_DOWN2 = 3  # sum of min(r, 0)^2
AC_PEAK = 4
AC_PEAK_TIME = 5  # close time (days from the start) of the last bar at the running peak (0: initial cash)
AC_MAX_DD = 6  # as a positive fraction
AC_MAX_DD_DAYS = 7  # longest peak-to-recovery (or to the end) in calendar days
AC_EXPOSED = 8  # bars with a non-zero position at the close
AC_CLOSED = 9
AC_WINS = 10
AC_GROSS_WIN = 11
AC_GROSS_LOSS = 12  # positive number
AC_SUM_PNL = 13
AC_SUM_RET = 14
AC_BEST = 15
AC_WORST = 16
AC_HOLD_DAYS = 17  # calendar days held, summed over closed trades
AC_FEES = 18
AC_OPEN = 19  # 1 if a position is open at the end
AC_FINAL = 20
AC_UNDER = 21  # 1 while below the running peak
AC_RUINED = 22  # 1 if equity reached zero
AC_RUIN_IDX = 23  # bar on which it did (the last bar of the path the per-bar stats use)
AC_RUIN_TIME = 24  # days from the start of the data to the open of that bar
AC_LEN = 25

#: Stable stat keys, in order; ``stats.py`` documents each.
STAT_KEYS = (
    "total_return",
    "cagr",
    "volatility",
    "sharpe",
    "sortino",
    "calmar",
    "max_drawdown",
    "max_drawdown_duration",
    "exposure",
    "n_trades",
    "win_rate",
    "profit_factor",
    "expectancy",
    "avg_trade_return",
    "best_trade",
    "worst_trade",
    "avg_holding_time",
    "total_fees",
    "final_equity",
    "ruined",
    "ruin_time",
)
