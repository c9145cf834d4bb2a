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
* Window means, variances and deviations from the mean (SMA, rolling std, Bollinger, z-score,
  realized vol, the EMA/RMA seeds) come from **exact window sums** (double-double, see below):
  the SMA is the exact mean of the window rounded once, so it does not drift over any length of
  data and two windows with equal exact means give identical floats (a crossover at an exact tie
  is a tie); the standard deviation is within a few ulps of the exact one. Tested against integer
  arithmetic on the real BTC and ETH hourly closes.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

# ------------------------------------------------------------------ exact window sums
#
# Rolling means and variances are computed from window sums kept as double-doubles (an unevaluated
# sum ``hi + lo`` of two floats, ~106 bits). Adding a value with an error-free TwoSum and removing
# the value that leaves the window the same way keeps the window sum exact for price data (whose
# window sums need far fewer than 106 bits), so nothing drifts however long the series; the sums are
# still re-accumulated from scratch once per ``window`` bars, which bounds any rounding of ``lo`` on
# data that would need more bits. (A sum of squares can need more: it is then accurate to ~2**-100
# relative, and a standard deviation may differ from the exact one, or from the same window's
# value on a truncated history, in its last bit.) The mean is then the window sum divided by the window length and
# rounded once, i.e. the correctly rounded mean of the exact sum: two windows whose means are equal
# in exact arithmetic give bit-identical floats (a crossover at an exact tie is a tie), and a
# prefix/running sum's error (up to 3e-12 relative on BTC hourly; 3.5e-3 for a 5-bar std) is gone.
# These kernels rely on IEEE rounding of every operation: never compile them with fastmath.


@njit(cache=True, nogil=True)
def two_sum_nb(a, b):
    """Return ``(s, e)`` with ``s = fl(a + b)`` and ``s + e == a + b`` exactly (Knuth's TwoSum)."""
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


@njit(cache=True, nogil=True)
def _split_nb(a):
    c = 134217729.0 * a  # 2**27 + 1: Dekker's split into two 26-bit halves
    hi = c - (c - a)
    return hi, a - hi


@njit(cache=True, nogil=True)
def two_prod_nb(a, b):
    """Return ``(p, e)`` with ``p = fl(a * b)`` and ``p + e == a * b`` exactly (Dekker's TwoProduct)."""
    p = a * b
    ah, al = _split_nb(a)
    bh, bl = _split_nb(b)
    return p, ((ah * bh - p) + ah * bl + al * bh) + al * bl


@njit(cache=True, nogil=True)
def acc_add_nb(hi, lo, x):
    """Return the accumulator ``(hi, lo)`` plus ``x``: ``hi`` the float sum, ``lo`` its exact errors.

    One step of Ogita-Rump-Oishi's Sum2: only ``hi + x`` is on the loop-carried path, the TwoSum
    error goes to ``lo``, so a running sum costs little more than a plain one. ``lo`` is left
    unnormalized (see :func:`dd_norm_nb`).
    """
    s, e = two_sum_nb(hi, x)
    return s, lo + e


@njit(cache=True, nogil=True)
def dd_norm_nb(hi, lo):
    """Return ``hi + lo`` as a normalized double-double (``|lo| <= ulp(hi) / 2``); needs ``|lo| <= |hi|``."""
    h = hi + lo
    return h, lo - (h - hi)


@intrinsic
def fma_nb(typingctx, a, b, c):
    """``a * b + c`` rounded once (LLVM's ``fma``: one instruction where the CPU has FMA, else libm's)."""
    sig = types.float64(types.float64, types.float64, types.float64)

    def codegen(context, builder, signature, args):
        fnty = ir.FunctionType(ir.DoubleType(), [ir.DoubleType()] * 3)
        return builder.call(cgutils.get_or_insert_function(builder.module, fnty, "llvm.fma.f64"), args)

    return sig, codegen


@njit(cache=True, nogil=True)
def dd_div_nb(hi, lo, w):
    """Return the double-double ``hi + lo`` divided by the whole number ``w < 2**26``, rounded once.

    ``q = fl(hi * fl(1 / w))`` (within 2 ulps of the quotient; in a loop over one ``w`` the reciprocal
    is computed once, so a row costs one division per value, not two) is corrected by the remainder
    ``hi + lo - q * w``, exact but for the one rounding of the added ``lo`` (``hi - q * w`` is a few
    units of ``ulp(q)``; the product's error comes from an FMA), divided by ``w``: the result is the
    correctly rounded quotient (exact halfway cases included: the correction is then exact) except
    within ~2**-100 of a rounding boundary.
    """
    q = hi * (1.0 / w)
    p = q * w
    pe = fma_nb(q, w, -p)  # q * w - p exactly
    return q + (((hi - p) - pe) + lo) / w


@njit(cache=True, nogil=True)
def dd_sq_nb(hi, lo):
    """Return ``(hi + lo) ** 2`` as a double-double (to ~2**-104 relative)."""
    p, e = two_prod_nb(hi, hi)
    e += 2.0 * hi * lo + lo * lo
    h = p + e
    return h, e - (h - p)


@njit(cache=True, nogil=True)
def window_sums_into_nb(x, window, squares, s_hi, s_lo, q_hi, q_lo):
    """Write the exact sums of each ``window``-bar window (see :func:`window_sums_nb`) into the given
    arrays: every bar of ``s_hi``/``s_lo`` (NaN and 0 where the window is incomplete or holds a NaN) and,
    when ``squares``, of ``q_hi``/``q_lo`` (0 there). ``window >= 1``."""
    n = x.shape[0]
    cnt = 0  # consecutive non-NaN values ending at bar i
    since = 0  # values added since the sums were last accumulated from scratch
    sh = 0.0
    sl = 0.0
    qh = 0.0
    ql = 0.0
    for i in range(n):
        v = x[i]
        if np.isnan(v):
            cnt = 0
            since = 0
            sh = 0.0
            sl = 0.0
            qh = 0.0
            ql = 0.0
        else:
            cnt += 1
            since += 1
            if since > window and cnt > window:
                # re-accumulate the window ending at i from scratch (once per `window` bars: O(n) in all);
                # this also bounds the growth of the unnormalized error terms
                sh = 0.0
                sl = 0.0
                qh = 0.0
                ql = 0.0
                for j in range(i - window + 1, i + 1):
                    sh, sl = acc_add_nb(sh, sl, x[j])
                    if squares:
                        p, e = two_prod_nb(x[j], x[j])
                        qh, ql = acc_add_nb(qh, ql + e, p)
                since = 1
            else:
                sh, sl = acc_add_nb(sh, sl, v)
                if squares:
                    p, e = two_prod_nb(v, v)
                    qh, ql = acc_add_nb(qh, ql + e, p)
                if cnt > window:
                    y = x[i - window]
                    sh, sl = acc_add_nb(sh, sl, -y)
                    if squares:
                        p, e = two_prod_nb(y, y)
                        qh, ql = acc_add_nb(qh, ql - e, -p)
        if cnt >= window:
            s_hi[i], s_lo[i] = dd_norm_nb(sh, sl)
            if squares:
                q_hi[i], q_lo[i] = dd_norm_nb(qh, ql)
        else:
            s_hi[i] = np.nan
            s_lo[i] = 0.0
            if squares:
                q_hi[i] = 0.0
                q_lo[i] = 0.0


@njit(cache=True, nogil=True)
def window_sums_nb(x, window, squares):
    """Return the exact sums of each ``window``-bar window as double-doubles.

    Returns ``(s_hi, s_lo, q_hi, q_lo)``: ``s_hi + s_lo`` is the sum of the window's values and,
    when ``squares`` is true, ``q_hi + q_lo`` the sum of their squares (each square exact as a
    TwoProduct); otherwise ``q_*`` are empty. ``s_hi`` is NaN during warm-up and for a window
    holding a NaN.
    """
    n = x.shape[0]
    s_hi = np.empty(n)
    s_lo = np.empty(n)
    q_hi = np.empty(n if squares else 0)
    q_lo = np.empty(n if squares else 0)
    if window < 1:
        s_hi[:] = np.nan
        s_lo[:] = 0.0
        q_hi[:] = 0.0
        q_lo[:] = 0.0
    else:
        window_sums_into_nb(x, window, squares, s_hi, s_lo, q_hi, q_lo)
    return s_hi, s_lo, q_hi, q_lo


@njit(cache=True, nogil=True)
def _window_mean_nb(x, start, window):
    """Return the correctly rounded mean of ``x[start:start + window]`` (the seed of EMA/RMA)."""
    sh = 0.0
    sl = 0.0
    for j in range(start, start + window):
        sh, sl = acc_add_nb(sh, sl, x[j])
    sh, sl = dd_norm_nb(sh, sl)
    return dd_div_nb(sh, sl, float(window))


@njit(cache=True, nogil=True)
def sma_nb(x, window):
    """Return the simple moving average over ``window`` bars: the correctly rounded mean of each window.

    A window holding a NaN gives NaN. See "exact window sums" above: no running-sum drift, and
    equal exact means give equal floats.
    """
    n = x.shape[0]
    out = np.empty(n)
    if window < 1:
        out[:] = np.nan
        return out
    # the window sums straight into ``out`` (hi) and one scratch row (lo), no other arrays; the divisions
    # then run in a second, branch-free (vectorized) pass, off the sums' loop-carried chain
    lo = np.empty(n)
    window_sums_into_nb(x, window, False, out, lo, lo[:0], lo[:0])
    w = float(window)
    for i in range(n):
        out[i] = dd_div_nb(out[i], lo[i], w)  # NaN stays NaN
    return out


#: Bars per block of :func:`sma_rows_nb`: its scratch rows and the block's inputs stay in L1/L2.
SMA_ROWS_BLOCK = 2048


@njit(cache=True, nogil=True)
def _sma_rows_stride_nb(windows, block):
    """Return the stride ``c`` for :func:`sma_rows_nb`: the most common gap > 1 between consecutive
    windows (a grid's step; ties to the larger), or 1 (no stride) when walking by it would not save adds."""
    m = windows.shape[0]
    best = 1
    best_cnt = 0
    for k in range(1, m):
        g = windows[k] - windows[k - 1]
        if g <= 1 or g == best:
            continue
        cnt = 0
        for kk in range(1, m):
            cnt += windows[kk] - windows[kk - 1] == g
        if cnt > best_cnt or (cnt == best_cnt and g > best):
            best, best_cnt = g, cnt
    if best == 1:
        return 1
    # adds per bar of a block: the walk's steps, plus the c-bar sums over the block and the bars it looks back
    steps = 0
    cur = 0
    for k in range(m):
        steps += (windows[k] - cur) // best + (windows[k] - cur) % best
        cur = windows[k]
    halo = windows[m - 1] - best
    return best if steps + best * (block + halo) / block < windows[m - 1] else 1


@njit(cache=True, nogil=True)
def sma_rows_nb(x, windows, out, start, stop):
    """Write ``sma_nb(x, windows[k])`` at bars ``start..stop-1`` into ``out[k]`` for every ``k``.

    ``windows``: increasing int64 window lengths >= 1; ``out``: float64 of shape ``(len(windows), len(x))``
    (other bars are left as they are, so threads can fill disjoint bar ranges of one ``out``).

    Many windows at once, built across windows instead of along the bars: the sum of the ``w``-bar
    window ending at bar ``i`` is the ``(w-1)``-bar one plus ``x[i-w+1]``, so walking ``w = 1, 2, ...``
    each step adds one value to every bar of a block (Sum2's compensated add, :func:`acc_add_nb`) with no
    dependency from bar to bar: it vectorizes, where :func:`sma_nb`'s running sum is one chain per row
    re-accumulated once per window. Where the windows are a grid of step ``c`` the walk goes ``c`` at a
    time, adding the (double-double) sum of the ``c`` bars before the window (summed once per block, the
    same way). Each requested window is then divided exactly as :func:`sma_nb` does (:func:`dd_div_nb`
    of the normalized sum). A NaN in a window propagates through the adds, and bars ``i < w - 1``
    (warm-up) are NaN, as in :func:`sma_nb`.

    The output is bit-identical to :func:`sma_nb` whenever both window sums are exact (see "exact window
    sums" above), as they are for price data (and, tested, for random floats of both signs spanning
    1e-8..1e8): both are then the correctly rounded mean of the exact window sum. For arbitrary floats
    both are accurate to ~2**-100 relative, so they are identical except within ~2**-100 of a rounding
    boundary. (An infinite input makes both NaN in its window; :func:`sma_nb` stays NaN a little longer.)
    """
    n = x.shape[0]
    m = windows.shape[0]
    if out.ndim != 2 or out.shape[0] != m or out.shape[1] != n:
        raise ValueError("sma_rows_nb: out must have shape (len(windows), len(x))")
    for k in range(m):
        if windows[k] < 1 or (k > 0 and windows[k] <= windows[k - 1]):
            raise ValueError("sma_rows_nb: windows must be increasing whole numbers >= 1")
    if start < 0 or stop > n or start > stop:
        raise ValueError("sma_rows_nb: need 0 <= start <= stop <= len(x)")
    if m == 0:
        return
    nb = SMA_ROWS_BLOCK
    c = _sma_rows_stride_nb(windows, nb)
    halo = windows[m - 1] - c if c > 1 else 0  # how far before a block the c-bar sums are read
    hi = np.empty(nb)
    lo = np.empty(nb)
    c_hi = np.empty(nb + halo)  # the c-bar sums ending at bars b0 - halo .. b1 - 1
    c_lo = np.empty(nb + halo)
    for b0 in range(start, stop, nb):
        b1 = min(stop, b0 + nb)
        base = b0 - halo
        if c > 1:
            c_hi[:] = 0.0
            c_lo[:] = 0.0
            j0 = max(c - 1, base)  # before c - 1 a c-bar sum is incomplete (and never read)
            for v in range(c):
                xs = x[j0 - v:b1 - v]
                chs = c_hi[j0 - base:b1 - base]
                cls = c_lo[j0 - base:b1 - base]
                for j in range(b1 - j0):
                    chs[j], cls[j] = acc_add_nb(chs[j], cls[j], xs[j])
        hi[:] = 0.0
        lo[:] = 0.0
        cur = 0  # the length of the window sums in hi/lo
        k = 0
        while k < m:
            w = windows[k]
            step = c if w - cur >= c else 1
            s = max(b0, cur + step - 1)  # bars before s are warm-up for this window and every longer one
            hs = hi[s - b0:b1 - b0]
            ls = lo[s - b0:b1 - b0]
            if step == 1:
                xs = x[s - cur:b1 - cur]  # x[i - cur] for the block's bars i >= s (views: contiguous loads)
                for j in range(b1 - s):
                    hs[j], ls[j] = acc_add_nb(hs[j], ls[j], xs[j])
            else:
                chs = c_hi[s - cur - base:b1 - cur - base]  # the c-bar sum ending at bar i - cur
                cls = c_lo[s - cur - base:b1 - cur - base]
                for j in range(b1 - s):
                    h, e = two_sum_nb(hs[j], chs[j])
                    hs[j] = h
                    ls[j] = ls[j] + cls[j] + e
            cur += step
            if cur == w:
                row = out[k]
                row[b0:s] = np.nan
                rs = row[s:b1]
                fw = float(w)
                for j in range(b1 - s):
                    h, e = dd_norm_nb(hs[j], ls[j])
                    rs[j] = dd_div_nb(h, e, fw)  # NaN stays NaN
                k += 1


@njit(cache=True, nogil=True)
def window_moments_nb(x, window, ddof):
    """Return ``(s_hi, s_lo, var)``: each window's exact sum (double-double) and its variance.

    ``var = (w * sum(x**2) - sum(x)**2) / (w * (w - ddof))`` evaluated in double-double from the
    exact window sums (cancellation costs nothing at ~106 bits), rounded once; exactly 0 for a window
    of identical values (the guard pandas uses) and never negative. NaN where ``s_hi`` is NaN.
    """
    n = x.shape[0]
    s_hi, s_lo, q_hi, q_lo = window_sums_nb(x, window, True)
    var = np.full(n, np.nan)
    w = float(window)
    denom = w * (w - ddof)
    same = 0  # length of the current run of values equal to their predecessor
    for i in range(n):
        if i > 0 and x[i - 1] == x[i]:
            same += 1
        else:
            same = 0
        if np.isnan(s_hi[i]):
            continue
        if same >= window - 1:
            var[i] = 0.0
            continue
        p, e = two_prod_nb(q_hi[i], w)
        e += q_lo[i] * w
        a, ae = two_sum_nb(p, e)  # w * sum(x**2)
        b, be = dd_sq_nb(s_hi[i], s_lo[i])  # sum(x)**2
        d, de = two_sum_nb(a, -b)
        v = (d + (de + (ae - be))) / denom
        var[i] = v if v > 0.0 else 0.0
    return s_hi, s_lo, var


@njit(cache=True, nogil=True)
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
    prev = _window_mean_nb(x, start, window)
    out[start + window - 1] = prev
    for i in range(start + window, n):
        if not np.isnan(x[i]):
            prev = alpha * x[i] + (1.0 - alpha) * prev
        out[i] = prev
    return out


@njit(cache=True, nogil=True)
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
    i = 0
    while i < n:
        if np.isnan(x[i]):
            run = 0
        else:
            run += 1
            if run == window:
                break
        i += 1
    if i >= n:
        return out
    prev = _window_mean_nb(x, i - window + 1, window)
    out[i] = prev
    for j in range(i + 1, n):
        if not np.isnan(x[j]):
            prev = (prev * (window - 1) + x[j]) / window
        out[j] = prev
    return out


@njit(cache=True, nogil=True)
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
    The square root of :func:`window_moments_nb`'s variance (exact window sums, no drift): within a
    few ulps of the exact value; exactly 0 for a window of identical values.
    """
    n = x.shape[0]
    out = np.full(n, np.nan)
    if window < 1 or window - ddof <= 0:
        return out
    _, _, var = window_moments_nb(x, window, ddof)
    for i in range(n):
        if not np.isnan(var[i]):
            out[i] = np.sqrt(var[i])
    return out


@njit(cache=True, nogil=True)
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


@njit(cache=True, nogil=True)
def rolling_min_nb(x, window):
    """Return the minimum of the last ``window`` bars including the current one."""
    return -rolling_max_nb(-x, window)


@njit(cache=True, nogil=True)
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


@njit(cache=True, nogil=True)
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


@njit(cache=True, nogil=True)
def bollinger_nb(x, window, k):
    """Return Bollinger bands ``(mid, upper, lower)``: SMA ± ``k`` population standard deviations."""
    n = x.shape[0]
    mid = np.full(n, np.nan)
    sd = np.full(n, np.nan)
    if window >= 1:
        s_hi, s_lo, var = window_moments_nb(x, window, 0)
        w = float(window)
        for i in range(n):
            if not np.isnan(s_hi[i]):
                mid[i] = dd_div_nb(s_hi[i], s_lo[i], w)
                sd[i] = np.sqrt(var[i])
    return mid, mid + k * sd, mid - k * sd


@njit(cache=True, nogil=True)
def macd_nb(x, fast, slow, signal):
    """Return ``(line, signal, hist)``: EMA(fast) − EMA(slow), its EMA(signal), and their difference.

    EMAs are :func:`ema_nb` (alpha = 2 / (w + 1), SMA-seeded); the signal EMA starts where the
    line does, so the first signal value is at bar ``slow + signal - 2``.
    """
    line = ema_nb(x, fast) - ema_nb(x, slow)
    sig = ema_nb(line, signal)
    return line, sig, line - sig


@njit(cache=True, nogil=True)
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


@njit(cache=True, nogil=True)
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


@njit(cache=True, nogil=True)
def atr_nb(high, low, close, window):
    """Return Wilder's average true range: :func:`rma_nb` of :func:`true_range_nb`.

    The true range starts at bar 1, so the first ATR (the mean of bars ``1..window``) is at bar
    ``window`` (TA-Lib's convention).
    """
    return rma_nb(true_range_nb(high, low, close), window)


@njit(cache=True, nogil=True)
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


@njit(cache=True, nogil=True)
def zscore_nb(x, window):
    """Return ``(x - SMA) / std`` over ``window`` bars (population std); NaN where the std is 0.

    The deviation ``x - SMA`` is ``(window * x - sum) / window`` from the exact window sum, so a
    value close to its mean keeps full relative precision (no cancellation against a rounded mean).
    """
    n = x.shape[0]
    out = np.full(n, np.nan)
    if window < 1:
        return out
    s_hi, s_lo, var = window_moments_nb(x, window, 0)
    w = float(window)
    for i in range(n):
        if var[i] > 0.0:
            p, e = two_prod_nb(x[i], w)
            d, de = two_sum_nb(p, -s_hi[i])
            out[i] = ((d + (de + (e - s_lo[i]))) / w) / np.sqrt(var[i])
    return out


@njit(cache=True, nogil=True)
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


@njit(cache=True, nogil=True)
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


@njit(cache=True, nogil=True)
def realized_vol_nb(close, window):
    """Return the per-bar realized volatility: population rolling std of log returns over ``window``.

    Not annualized (multiply by sqrt(bars per year) for that); first value at bar ``window``.
    """
    return rolling_std_nb(log_returns_nb(close), window, 0)
