"""Indicator kernels: pure numba functions over 1-D float64 arrays. Warm-up bars are NaN."""

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
