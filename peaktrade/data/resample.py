"""Resample bars to a larger timeframe.

Periods are left-closed and labelled by their open time. They are anchored at the Unix epoch
(1970-01-01 00:00 UTC) for minute, hour and day timeframes, so ``1d`` bars open at UTC midnight
and ``4h`` bars at 00:00, 04:00, ... UTC; week timeframes are anchored at Monday 1970-01-05 00:00
UTC, so ``1w`` bars open on Mondays at 00:00 UTC (ISO weeks).

Aggregation: open = first, high = max, low = min, close = last, volume = sum, trades = sum,
filled = all (a resampled bar is ``filled`` only when every source bar in it was).

Periods without any source bar (inside a hole) are not emitted. The last period is dropped when
the source does not cover it to its end (last source open + source timeframe < period end): it
is still forming. A first period that starts before the data does is kept, like any period with
missing source bars.

:func:`higher_timeframe` puts higher-timeframe bars on the index of the lower-timeframe bars they
were built from, each visible only once it has closed: the safe way to merge a higher timeframe
into a strategy's inputs (a plain ``resample(...).reindex(..., method="ffill")`` shows each higher
bar from its open, i.e. its close before it happened).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from peaktrade.data.schema import (
    bars_from_arrays,
    canonical_timeframe,
    empty_bars,
    parse_timeframe,
    validate_bars,
)
from peaktrade.errors import DataError

_MONDAY_NS = 4 * 86_400 * 1_000_000_000  # 1970-01-05 00:00 UTC, the first Monday after the epoch
_WEEK_NS = 7 * 86_400 * 1_000_000_000


def period_origin(timeframe: str | pd.Timedelta) -> int:
    """Return the anchor (ns since epoch) of the periods of ``timeframe``: Monday for weeks, else the epoch."""
    step = parse_timeframe(timeframe).value
    return _MONDAY_NS if step % _WEEK_NS == 0 else 0


def infer_timeframe(bars: pd.DataFrame) -> pd.Timedelta:
    """Return the greatest common divisor of the spacing of ``bars`` (the source timeframe)."""
    ns = bars.index.asi8
    if len(ns) < 2:
        raise DataError("cannot infer the timeframe of fewer than 2 bars: pass source_timeframe")
    return pd.Timedelta(int(np.gcd.reduce(np.diff(ns))), unit="ns")


def resample_bars(
    bars: pd.DataFrame, timeframe: str | pd.Timedelta, *, source_timeframe: str | pd.Timedelta | None = None
) -> pd.DataFrame:
    """Aggregate ``bars`` into bars of a larger ``timeframe``.

    Parameters
    ----------
    bars
        Validated bars at ``source_timeframe``.
    timeframe
        Target timeframe, a whole multiple of the source timeframe (e.g. ``"4h"`` from ``"1h"``).
    source_timeframe
        Timeframe of ``bars``; inferred from the bar spacing when omitted.

    Returns
    -------
    pandas.DataFrame
        Bars at ``timeframe`` (see the module docstring for labels, anchoring and the dropped
        incomplete last bar). Equal timeframes return a copy of ``bars``.

    Raises
    ------
    DataError
        When the target is not a multiple of the source, or the source bars do not lie on the
        source grid anchored like the target periods.
    """
    bars = validate_bars(bars)
    target = parse_timeframe(timeframe).value
    if source_timeframe is None:
        if len(bars) == 0:
            return bars.copy()
        source = infer_timeframe(bars).value
    else:
        source = parse_timeframe(source_timeframe).value
    if target % source != 0:
        raise DataError(
            f"cannot resample {_tf(source)} bars to {canonical_timeframe(timeframe)}: the target timeframe "
            "must be a whole multiple of the source timeframe"
        )
    return _resample(bars, source, target)


def _tf(ns: int) -> str:
    try:
        return canonical_timeframe(pd.Timedelta(ns, unit="ns"))
    except DataError:
        return str(pd.Timedelta(ns, unit="ns"))


def _resample(bars: pd.DataFrame, source: int, target: int) -> pd.DataFrame:
    n = len(bars)
    if source == target:
        return bars.copy()
    if n == 0:
        return empty_bars(trades="trades" in bars.columns, filled="filled" in bars.columns)
    origin = _MONDAY_NS if target % _WEEK_NS == 0 else 0
    ns = bars.index.asi8
    off = np.flatnonzero((ns - origin) % source != 0)
    if off.size:
        i = int(off[0])
        raise DataError(
            f"bars: row {i} ({bars.index[i]}) does not open on the {_tf(source)} grid anchored at "
            f"{pd.Timestamp(origin, tz='UTC')}; cannot resample to {_tf(target)}"
        )
    key = (ns - origin) // target
    starts = np.flatnonzero(np.concatenate(([True], key[1:] != key[:-1])))
    stop = n
    # the last period is incomplete (still forming) when the source does not reach its end
    if ns[-1] + source < origin + (key[-1] + 1) * target:
        stop = int(starts[-1])
        starts = starts[:-1]
    if starts.size == 0:
        return empty_bars(trades="trades" in bars.columns, filled="filled" in bars.columns)
    ends = np.concatenate((starts[1:], [stop])) - 1

    def col(name: str) -> np.ndarray:
        return bars[name].to_numpy()[:stop]

    cols = {
        "open": col("open")[starts],
        "high": np.maximum.reduceat(col("high"), starts),
        "low": np.minimum.reduceat(col("low"), starts),
        "close": col("close")[ends],
        "volume": np.add.reduceat(col("volume"), starts),
    }
    if "trades" in bars.columns:
        cols["trades"] = np.add.reduceat(col("trades"), starts)
    if "filled" in bars.columns:
        cols["filled"] = np.logical_and.reduceat(col("filled"), starts)
    return bars_from_arrays(origin + key[starts] * target, cols)


def higher_timeframe(
    bars: Any, timeframe: str | pd.Timedelta, *, source_timeframe: str | pd.Timedelta | None = None
) -> pd.DataFrame:
    """Return the last CLOSED higher-timeframe bar as of each bar of ``bars``, on ``bars``' index.

    The higher bar opening at ``T`` (``resample_bars``' periods, anchored as there) closes at
    ``T + timeframe``; it is visible from the first bar of ``bars`` that opens at or after that
    time, never earlier: on 1h bars the 00:00–04:00 4h bar appears on the 04:00 bar (it would
    change while 00:00–03:00 are still open). Before the first higher bar closes, rows are NaN.
    A higher bar still forming when the data end is not emitted, so the result on ``bars[:k]`` is
    the first ``k`` rows of the result on ``bars``: it passes the lookahead check.

    Parameters
    ----------
    bars
        Validated bars DataFrame, or :class:`~peaktrade.strategies.Prices` that carry ``time``
        (what ``prepare`` receives from the backtests and the lookahead check).
    timeframe
        The higher timeframe, a whole multiple of ``source_timeframe`` (e.g. ``"4h"`` on ``"1h"``).
    source_timeframe
        Timeframe of ``bars``. Pass it inside strategies: inferred from the bar spacing otherwise,
        which a short or gappy history can get wrong (and fewer than 2 bars cannot infer).

    Returns
    -------
    pandas.DataFrame
        float64 ``open``, ``high``, ``low``, ``close``, ``volume`` of the visible higher bar and
        ``htf_open`` (its open time), indexed like ``bars``.
    """
    if hasattr(bars, "frame") and hasattr(bars, "close") and not isinstance(bars, pd.DataFrame):
        bars = bars.frame()
    out_cols = ["open", "high", "low", "close", "volume"]
    if source_timeframe is None and len(bars) < 2:
        out = pd.DataFrame(np.nan, index=bars.index, columns=out_cols)
        out["htf_open"] = pd.DatetimeIndex([pd.NaT] * len(bars)).tz_localize("UTC")
        return out
    htf = resample_bars(bars[[c for c in bars.columns if c in out_cols]], timeframe,
                        source_timeframe=source_timeframe)
    step = parse_timeframe(timeframe).value
    closes = htf.index.as_unit("ns").asi8 + step
    # the last higher bar closed at or before each lower bar's open
    pos = np.searchsorted(closes, bars.index.as_unit("ns").asi8, side="right") - 1
    seen = pos >= 0
    cols: dict[str, Any] = {}
    for c in out_cols:
        vals = np.full(len(bars), np.nan)
        vals[seen] = htf[c].to_numpy(dtype=np.float64)[pos[seen]]
        cols[c] = vals
    opens = np.full(len(bars), np.iinfo(np.int64).min)  # NaT
    opens[seen] = htf.index.as_unit("ns").asi8[pos[seen]]
    cols["htf_open"] = pd.DatetimeIndex(opens.view("M8[ns]")).tz_localize("UTC")
    return pd.DataFrame(cols, index=bars.index)
