"""Numba kernels of the data layer (pure functions over numpy arrays; no pandas, no I/O)."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def garch_returns_nb(z, jumps, drift, vol_mult, omega, alpha, beta, h_max):
    """Simulate log returns with GARCH(1,1) variance, regime drift/vol multipliers and jumps.

    ``r[t] = drift[t] + vol_mult[t] * u[t]`` with the shock ``u[t] = sqrt(h[t]) * z[t] +
    jumps[t] / vol_mult[t]`` and ``h[t+1] = min(omega + alpha * u[t]**2 + beta * h[t], h_max)``.
    Jumps enter the variance recursion, so volatility clusters after crashes; the regime
    multiplier scales the shock without entering the recursion (which stays stationary).
    ``z`` are unit-variance innovations; ``h[0]`` is the unconditional ``omega / (1 - alpha - beta)``.

    Returns
    -------
    (r, sigma)
        Log returns and the conditional standard deviation ``vol_mult * sqrt(h)`` of each bar.
    """
    n = z.shape[0]
    r = np.empty(n)
    sigma = np.empty(n)
    h = omega / (1.0 - alpha - beta)
    for t in range(n):
        sd = np.sqrt(h)
        u = sd * z[t] + jumps[t] / vol_mult[t]
        r[t] = drift[t] + vol_mult[t] * u
        sigma[t] = vol_mult[t] * sd
        h = omega + alpha * u * u + beta * h
        if h > h_max:
            h = h_max
    return r, sigma
