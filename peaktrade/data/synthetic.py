"""Seeded synthetic bars with the stylized facts of crypto prices, for offline demos and tests.

The model, per bar (parameters are annual and scaled to the timeframe):

- a Markov regime (bull, bear, calm) switching on average every 30 days, setting the drift and a
  volatility multiplier;
- GARCH(1,1) conditional variance (alpha 0.07, beta 0.91: volatility clustering) driven by
  Student-t innovations with 4.5 degrees of freedom (fat tails), 55 % annual base volatility;
- Poisson jumps (about 20 a year, mean -0.5 %, sd 4 %) that also feed the variance;
- a 24/7 calendar; open = previous close; high/low extend the body by a half-normal excursion
  proportional to the bar's volatility; prices on a tick of about 1e-5 of the start price;
- log volume rising with log(1 + |return| / volatility), with a time-of-day and weekend pattern and noise;
  a trade count proportional to volume.

Only the variance recursion runs in a (numba) loop; everything else is vectorized numpy.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from peaktrade.data.schema import bars_from_arrays, timeframe_to_minutes, to_utc_timestamp, validate_bars
from peaktrade.errors import DataError, bad_value

_YEAR_MINUTES = 525_600
_VOL_ANNUAL = 0.55
_ALPHA, _BETA = 0.07, 0.91
_DOF = 4.5
#: (annual drift, volatility multiplier) of the bull, bear and calm regimes
_REGIMES = np.array([(0.9, 0.85), (-0.7, 1.35), (0.0, 0.7)])
_REGIME_DAYS = 30.0
_JUMPS_PER_YEAR, _JUMP_MEAN, _JUMP_SD = 20.0, -0.005, 0.04
_VOLUME_PER_HOUR = 120.0


def synthetic_bars(
    n: int = 20_000,
    *,
    timeframe: str = "1h",
    seed: int = 0,
    start: str | pd.Timestamp = "2020-01-01",
    price: float = 30_000.0,
) -> pd.DataFrame:
    """Generate ``n`` synthetic bars; the same arguments always give the identical frame.

    Parameters
    ----------
    n
        Number of bars (at least 1).
    timeframe
        Bar interval, e.g. ``"1h"``.
    seed
        Seed of the random generator.
    start
        Open time of the first bar (naive values are UTC).
    price
        Open price of the first bar (positive).

    Returns
    -------
    pandas.DataFrame
        Valid bars with ``trades`` (see :mod:`peaktrade.data.schema`).
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise DataError(bad_value("n", n, "a positive whole number of bars"))
    if not (isinstance(price, (int, float)) and math.isfinite(price) and price > 0):
        raise DataError(bad_value("price", price, "a positive finite price"))
    minutes = timeframe_to_minutes(timeframe)
    t0 = to_utc_timestamp(start, name="start")
    n = int(n)
    rng = np.random.default_rng(seed)
    year_frac = minutes / _YEAR_MINUTES
    var_bar = _VOL_ANNUAL**2 * year_frac

    # regimes: a Markov chain that switches with probability p per bar, always to another state
    p_switch = min(0.5, minutes / (_REGIME_DAYS * 1_440))
    k = len(_REGIMES)
    switches = np.cumsum(rng.random(n) < p_switch)
    states = (rng.integers(k) + np.cumsum(np.concatenate(([0], rng.integers(1, k, size=n))))) % k
    regime = states[switches]
    drift = _REGIMES[regime, 0] * year_frac
    vol_mult = _REGIMES[regime, 1]

    z = rng.standard_t(_DOF, size=n) * math.sqrt((_DOF - 2) / _DOF)
    count = rng.poisson(_JUMPS_PER_YEAR * year_frac, size=n)
    jumps = count * _JUMP_MEAN + np.sqrt(count) * _JUMP_SD * rng.standard_normal(n)

    from peaktrade.data.nb import garch_returns_nb

    r, sigma = garch_returns_nb(
        z, jumps, drift, vol_mult, var_bar * (1 - _ALPHA - _BETA), _ALPHA, _BETA, 50.0 * var_bar
    )

    decimals = 5 - math.floor(math.log10(price))
    tick = 10.0**-decimals
    close = np.round(price * np.exp(np.cumsum(r)), decimals)
    close = np.maximum(close, tick)
    open_ = np.concatenate(([round(price, decimals)], close[:-1]))
    body_hi, body_lo = np.maximum(open_, close), np.minimum(open_, close)
    up = np.abs(rng.standard_normal(n)) * 0.6 * sigma
    down = np.abs(rng.standard_normal(n)) * 0.6 * sigma
    high = np.maximum(np.round(body_hi * np.exp(up), decimals), body_hi)
    low = np.clip(np.round(body_lo * np.exp(-down), decimals), tick, body_lo)

    ns = t0.value + np.arange(n, dtype=np.int64) * (minutes * 60_000_000_000)
    hour = (ns // 3_600_000_000_000) % 24
    weekday = (ns // 86_400_000_000_000 + 3) % 7  # 0 = Monday (1970-01-01 was a Thursday)
    season = 0.25 * np.sin(2 * np.pi * (hour - 9) / 24) if minutes < 1_440 else 0.0
    shock = np.abs(r - drift) / math.sqrt(var_bar)
    log_volume = (
        math.log(_VOLUME_PER_HOUR * minutes / 60)
        + 0.9 * (np.log1p(shock) - math.log1p(0.8))
        + season
        - 0.25 * (weekday >= 5)
        + 0.4 * rng.standard_normal(n)
    )
    volume = np.round(np.exp(log_volume), 8)
    trades = np.maximum(1.0, np.round(volume * 6.0 * np.exp(0.2 * rng.standard_normal(n))))

    bars = bars_from_arrays(
        ns, {"open": open_, "high": high, "low": low, "close": close, "volume": volume, "trades": trades}
    )
    return validate_bars(bars, name="synthetic bars")
