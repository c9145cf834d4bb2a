"""Indicator kernels: pure numba functions over 1-D float64 arrays. Warm-up bars are NaN.

Conventions shared by every kernel here:

* Inputs are 1-D float64 arrays of equal length; outputs have the same length.
* A value at bar ``t`` only depends on inputs at bars ``<= t`` (no lookahead).
* Windowed (non-recursive) kernels return NaN for a bar whose window holds a NaN.
* Recursive kernels (``ema_nb``, ``rma_nb`` and what is built on them) start after leading NaNs
  and carry the previous value through a NaN met later.
* Divisions that would be 0/0 or x/0 are guarded (numba raises on float division by zero);
  each kernel documents what it returns then.
* Standard deviations are **population** standard deviations (ddof=0) unless a ``ddof`` is given:
  that is Bollinger's definition and vectorbt's default (``BBANDS``, ``MSTD``).
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def sma_nb(x, window):
    """Return the simple moving average over ``window`` bars (prefix-sum form, NaN-aware)."""
    n = x.shape[0]
    out = np.full(n, np.nan)
    csum = np.zeros(n + 1)
    nans = np.zeros(n + 1, dtype=np.int64)
    for i in range(n):
        v = x[i]
        if np.isnan(v):
            csum[i + 1] = csum[i]
            nans[i + 1] = nans[i] + 1
        else:
            csum[i + 1] = csum[i] + v
            nans[i + 1] = nans[i]
    for i in range(window - 1, n):
        if nans[i + 1] - nans[i + 1 - window] == 0:
            out[i] = (csum[i + 1] - csum[i + 1 - window]) / window
    return out


@njit(cache=True)
def ema_nb(x, window):
    """Return the exponential moving average, alpha = 2 / (window + 1), seeded with the first SMA."""
    n = x.shape[0]
    out = np.full(n, np.nan)
    alpha = 2.0 / (window + 1.0)
    start = 0
    while start < n and np.isnan(x[start]):
        start += 1
    if start + window > n:
        return out
    s = 0.0
    for i in range(start, start + window):
        s += x[i]
    prev = s / window
    out[start + window - 1] = prev
    for i in range(start + window, n):
        if not np.isnan(x[i]):
            prev = alpha * x[i] + (1.0 - alpha) * prev
        out[i] = prev
    return out


@njit(cache=True)
def rma_nb(x, window):
    """Return Wilder's moving average (alpha = 1 / window), seeded with an SMA.

    The seed is the mean of the first ``window`` consecutive non-NaN values; from then on
    ``out[t] = (out[t-1] * (window - 1) + x[t]) / window``, carrying the previous value through
    a NaN. This is the smoothing of Wilder's RSI, ATR and ADX.
    """
    n = x.shape[0]
    out = np.full(n, np.nan)
    if window < 1:
        return out
    run = 0
    s = 0.0
    i = 0
    while i < n:
        if np.isnan(x[i]):
            run = 0
            s = 0.0
        else:
            run += 1
            s += x[i]
            if run == window:
                break
        i += 1
    if i >= n:
        return out
    prev = s / window
    out[i] = prev
    for j in range(i + 1, n):
        if not np.isnan(x[j]):
            prev = (prev * (window - 1) + x[j]) / window
        out[j] = prev
    return out


@njit(cache=True)
def rolling_std_nb(x, window, ddof=0):
    """Return the rolling standard deviation over ``window`` bars (population by default).

    Parameters
    ----------
    x : 1-D float64 array
    window : int
        Bars per window; a window that holds a NaN gives NaN.
    ddof : int
        Delta degrees of freedom: 0 = population (default), 1 = sample.

    Notes
    -----
    Updates a Welford mean/M2 as values enter and leave the window (O(n)), re-computes both
    exactly (two-pass) every ``window`` bars so rounding cannot drift, and returns exactly 0
    for a window of identical values (the same guard pandas uses).
    """
    n = x.shape[0]
    out = np.full(n, np.nan)
    if window < 1 or window - ddof <= 0:
        return out
    cnt = 0
    mean = 0.0
    m2 = 0.0
    since = 0  # values added since the last exact re-computation
    same = 0  # length of the current run of values equal to their predecessor
    for i in range(n):
        v = x[i]
        if np.isnan(v):
            cnt = 0
            mean = 0.0
            m2 = 0.0
            since = 0
            same = 0
            continue
        if i > 0 and x[i - 1] == v:
            same += 1
        else:
            same = 0
        if cnt == window:
            y = x[i - window]
            cnt -= 1
            if cnt == 0:
                mean = 0.0
                m2 = 0.0
            else:
                d = y - mean
                mean -= d / cnt
                m2 -= d * (y - mean)
        cnt += 1
        d = v - mean
        mean += d / cnt
        m2 += d * (v - mean)
        since += 1
        if cnt == window and since >= window:
            s = 0.0
            for j in range(i - window + 1, i + 1):
                s += x[j]
            mean = s / window
            m2 = 0.0
            for j in range(i - window + 1, i + 1):
                m2 += (x[j] - mean) * (x[j] - mean)
            since = 0
        if cnt == window:
            if same >= window - 1:
                out[i] = 0.0
            else:
                var = m2 / (window - ddof)
                out[i] = np.sqrt(var) if var > 0.0 else 0.0
    return out


@njit(cache=True)
def rolling_max_nb(x, window):
    """Return the maximum of the last ``window`` bars including the current one (monotone deque)."""
    n = x.shape[0]
    out = np.full(n, np.nan)
    if window < 1:
        return out
    dq = np.empty(n, dtype=np.int64)
    head = 0
    tail = 0
    last_nan = -1
    for i in range(n):
        v = x[i]
        if np.isnan(v):
            last_nan = i
            head = 0
            tail = 0
            continue
        while tail > head and x[dq[tail - 1]] <= v:
            tail -= 1
        dq[tail] = i
        tail += 1
        while dq[head] <= i - window:
            head += 1
        if i - last_nan >= window:
            out[i] = x[dq[head]]
    return out


@njit(cache=True)
def rolling_min_nb(x, window):
    """Return the minimum of the last ``window`` bars including the current one."""
    return -rolling_max_nb(-x, window)


@njit(cache=True)
def rolling_quantile_nb(x, window, q):
    """Return the rolling ``q`` quantile over ``window`` bars (linear interpolation, as numpy/pandas).

    Keeps the window's values in a sorted buffer (O(window) per bar). A window holding a NaN gives NaN.
    """
    n = x.shape[0]
    out = np.full(n, np.nan)
    if window < 1:
        return out
    buf = np.empty(window)
    cnt = 0
    nans = 0
    pos = q * (window - 1)
    lo = int(np.floor(pos))
    if lo > window - 1:
        lo = window - 1
    frac = pos - lo
    for i in range(n):
        if i >= window:
            y = x[i - window]
            if np.isnan(y):
                nans -= 1
            else:
                k = np.searchsorted(buf[:cnt], y)
                for j in range(k, cnt - 1):
                    buf[j] = buf[j + 1]
                cnt -= 1
        v = x[i]
        if np.isnan(v):
            nans += 1
        else:
            k = np.searchsorted(buf[:cnt], v)
            for j in range(cnt, k, -1):
                buf[j] = buf[j - 1]
            buf[k] = v
            cnt += 1
        if i >= window - 1 and nans == 0:
            if lo + 1 < window:
                out[i] = buf[lo] + frac * (buf[lo + 1] - buf[lo])
            else:
                out[i] = buf[lo]
    return out


@njit(cache=True)
def rsi_nb(close, window):
    """Return Wilder's RSI (0–100) over ``window`` bars.

    Average gain and loss of the close-to-close changes are smoothed with :func:`rma_nb`, seeded
    with the mean of the first ``window`` changes, so the first value is at bar ``window``.
    A window without losses gives 100, one without gains or losses gives 50.
    """
    n = close.shape[0]
    gain = np.full(n, np.nan)
    loss = np.full(n, np.nan)
    for i in range(1, n):
        d = close[i] - close[i - 1]
        if not np.isnan(d):
            gain[i] = d if d > 0.0 else 0.0
            loss[i] = -d if d < 0.0 else 0.0
    ag = rma_nb(gain, window)
    al = rma_nb(loss, window)
    out = np.full(n, np.nan)
    for i in range(n):
        g = ag[i]
        lo = al[i]
        if np.isnan(g) or np.isnan(lo):
            continue
        if lo == 0.0:
            out[i] = 50.0 if g == 0.0 else 100.0
        else:
            out[i] = 100.0 - 100.0 / (1.0 + g / lo)
    return out


@njit(cache=True)
def bollinger_nb(x, window, k):
    """Return Bollinger bands ``(mid, upper, lower)``: SMA ± ``k`` population standard deviations."""
    mid = sma_nb(x, window)
    sd = rolling_std_nb(x, window, 0)
    return mid, mid + k * sd, mid - k * sd


@njit(cache=True)
def macd_nb(x, fast, slow, signal):
    """Return ``(line, signal, hist)``: EMA(fast) − EMA(slow), its EMA(signal), and their difference.

    EMAs are :func:`ema_nb` (alpha = 2 / (w + 1), SMA-seeded); the signal EMA starts where the
    line does, so the first signal value is at bar ``slow + signal - 2``.
    """
    line = ema_nb(x, fast) - ema_nb(x, slow)
    sig = ema_nb(line, signal)
    return line, sig, line - sig


@njit(cache=True)
def roc_nb(x, window):
    """Return the rate of change ``x[t] / x[t - window] - 1`` as a fraction (0.05 = +5 %).

    NaN during the first ``window`` bars and where ``x[t - window]`` is 0.
    """
    n = x.shape[0]
    out = np.full(n, np.nan)
    for i in range(window, n):
        prev = x[i - window]
        if prev != 0.0 and not np.isnan(prev) and not np.isnan(x[i]):
            out[i] = x[i] / prev - 1.0
    return out


@njit(cache=True)
def true_range_nb(high, low, close):
    """Return the true range ``max(h - l, |h - c[t-1]|, |l - c[t-1]|)``; bar 0 (no previous close) is NaN."""
    n = close.shape[0]
    out = np.full(n, np.nan)
    for i in range(1, n):
        pc = close[i - 1]
        a = high[i] - low[i]
        b = abs(high[i] - pc)
        c = abs(low[i] - pc)
        if np.isnan(a) or np.isnan(b) or np.isnan(c):
            continue
        m = a
        if b > m:
            m = b
        if c > m:
            m = c
        out[i] = m
    return out


@njit(cache=True)
def atr_nb(high, low, close, window):
    """Return Wilder's average true range: :func:`rma_nb` of :func:`true_range_nb`.

    The true range starts at bar 1, so the first ATR (the mean of bars ``1..window``) is at bar
    ``window`` (TA-Lib's convention).
    """
    return rma_nb(true_range_nb(high, low, close), window)


@njit(cache=True)
def adx_nb(high, low, close, window):
    """Return Wilder's ``(adx, plus_di, minus_di)``.

    +DM = up-move when it exceeds the down-move and is positive (else 0), −DM likewise; +DI and
    −DI are 100 × Wilder-smoothed DM / Wilder-smoothed true range (0 when the smoothed range is 0),
    first at bar ``window``; DX = 100 × |+DI − −DI| / (+DI + −DI) (0 when both are 0); ADX is DX
    Wilder-smoothed, first at bar ``2 * window - 1``.
    """
    n = close.shape[0]
    pdm = np.full(n, np.nan)
    mdm = np.full(n, np.nan)
    for i in range(1, n):
        up = high[i] - high[i - 1]
        down = low[i - 1] - low[i]
        if np.isnan(up) or np.isnan(down):
            continue
        pdm[i] = up if (up > down and up > 0.0) else 0.0
        mdm[i] = down if (down > up and down > 0.0) else 0.0
    tr = rma_nb(true_range_nb(high, low, close), window)
    sp = rma_nb(pdm, window)
    sm = rma_nb(mdm, window)
    plus = np.full(n, np.nan)
    minus = np.full(n, np.nan)
    dx = np.full(n, np.nan)
    for i in range(n):
        if np.isnan(tr[i]) or np.isnan(sp[i]) or np.isnan(sm[i]):
            continue
        if tr[i] > 0.0:
            plus[i] = 100.0 * sp[i] / tr[i]
            minus[i] = 100.0 * sm[i] / tr[i]
        else:
            plus[i] = 0.0
            minus[i] = 0.0
        s = plus[i] + minus[i]
        dx[i] = 100.0 * abs(plus[i] - minus[i]) / s if s > 0.0 else 0.0
    return rma_nb(dx, window), plus, minus


@njit(cache=True)
def zscore_nb(x, window):
    """Return ``(x - SMA) / std`` over ``window`` bars (population std); NaN where the std is 0."""
    n = x.shape[0]
    mean = sma_nb(x, window)
    sd = rolling_std_nb(x, window, 0)
    out = np.full(n, np.nan)
    for i in range(n):
        if sd[i] > 0.0:
            out[i] = (x[i] - mean[i]) / sd[i]
    return out


@njit(cache=True)
def donchian_nb(high, low, window):
    """Return ``(upper, lower)``: the highest high and lowest low of the **previous** ``window`` bars.

    The current bar is excluded, so ``close[t] > upper[t]`` is a breakout that uses no future
    data; the first value is at bar ``window``.
    """
    n = high.shape[0]
    hi = rolling_max_nb(high, window)
    lo = rolling_min_nb(low, window)
    upper = np.full(n, np.nan)
    lower = np.full(n, np.nan)
    for i in range(1, n):
        upper[i] = hi[i - 1]
        lower[i] = lo[i - 1]
    return upper, lower


@njit(cache=True)
def log_returns_nb(close):
    """Return ``log(close[t] / close[t-1])``; NaN at bar 0 and where a price is not positive."""
    n = close.shape[0]
    out = np.full(n, np.nan)
    for i in range(1, n):
        a = close[i - 1]
        b = close[i]
        if a > 0.0 and b > 0.0:
            out[i] = np.log(b / a)
    return out


@njit(cache=True)
def realized_vol_nb(close, window):
    """Return the per-bar realized volatility: population rolling std of log returns over ``window``.

    Not annualized (multiply by sqrt(bars per year) for that); first value at bar ``window``.
    """
    return rolling_std_nb(log_returns_nb(close), window, 0)
