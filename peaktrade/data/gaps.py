"""Gap audit and the gap policy.

A *hole* is a run of consecutive missing bars between two present bars: bars at ``t0`` and
``t1 > t0 + timeframe`` leave ``(t1 - t0) / timeframe - 1`` bars missing. Kraken omits bars in
which nothing traded, so holes are normal in its data (mostly before 2015 for XBTUSD).

Policies (config ``[data] gaps``):

- ``"keep"`` (default): leave holes absent; they are audited and reported, never invented.
- ``"fill"``: insert a flat bar for every missing bar, at the previous close (open = high = low =
  close = previous close), volume 0, trades 0, marked ``filled=True`` (present bars get
  ``filled=False``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from peaktrade.data.schema import INDEX_NAME, canonical_timeframe, parse_timeframe, validate_bars
from peaktrade.errors import DataError, bad_value

POLICIES = ("keep", "fill")


@dataclass(frozen=True)
class GapReport:
    """Holes in a bars series.

    Attributes
    ----------
    timeframe
        Canonical timeframe the audit used.
    rows
        Bars present.
    n_gaps
        Number of holes (runs of consecutive missing bars).
    missing_bars
        Total number of missing bars.
    longest
        Missing bars in the longest hole (0 without holes).
    longest_start, longest_end
        Open times of the first and last missing bar of the longest hole (None without holes;
        the earliest hole wins a tie).
    table
        One row per hole: ``start`` and ``end`` (first and last missing bar) and ``missing``.
    """

    timeframe: str
    rows: int
    n_gaps: int
    missing_bars: int
    longest: int
    longest_start: pd.Timestamp | None
    longest_end: pd.Timestamp | None
    table: pd.DataFrame = field(repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """Return the summary counts as plain data (the manifest's ``gaps`` entry)."""
        return {"n_gaps": self.n_gaps, "missing_bars": self.missing_bars, "longest": self.longest}


def _grid_steps(bars: pd.DataFrame, timeframe: str | pd.Timedelta) -> tuple[np.ndarray, int]:
    """Return (steps between consecutive bars in timeframe units, timeframe in ns); check the grid."""
    step = parse_timeframe(timeframe).value
    ns = bars.index.asi8
    if len(ns) < 2:
        return np.empty(0, np.int64), step
    d = np.diff(ns)
    off = np.flatnonzero(d % step != 0)
    if off.size:
        i = int(off[0]) + 1
        raise DataError(
            f"bars: row {i} ({bars.index[i]}) is {pd.Timedelta(int(d[i - 1]))} after the previous bar, "
            f"not a whole multiple of the timeframe {canonical_timeframe(timeframe)}; is the timeframe right?"
        )
    return d // step, step


def audit_gaps(bars: pd.DataFrame, timeframe: str | pd.Timedelta) -> GapReport:
    """Find the holes in ``bars`` at ``timeframe``.

    Parameters
    ----------
    bars
        Validated bars (see :func:`~peaktrade.data.validate_bars`).
    timeframe
        Bar interval, e.g. ``"1h"``.

    Returns
    -------
    GapReport

    Raises
    ------
    DataError
        When two bars are not a whole number of timeframes apart.
    """
    steps, step = _grid_steps(bars, timeframe)
    holes = np.flatnonzero(steps > 1)
    missing = (steps[holes] - 1).astype(np.int64)
    ns = bars.index.asi8
    starts = ns[holes] + step
    ends = ns[holes + 1] - step
    table = pd.DataFrame(
        {
            "start": pd.DatetimeIndex(starts.view("datetime64[ns]")).tz_localize("UTC"),
            "end": pd.DatetimeIndex(ends.view("datetime64[ns]")).tz_localize("UTC"),
            "missing": missing,
        }
    )
    if holes.size:
        k = int(np.argmax(missing))
        longest, lstart, lend = int(missing[k]), table["start"].iloc[k], table["end"].iloc[k]
    else:
        longest, lstart, lend = 0, None, None
    return GapReport(
        timeframe=canonical_timeframe(timeframe),
        rows=len(bars),
        n_gaps=int(holes.size),
        missing_bars=int(missing.sum()),
        longest=longest,
        longest_start=lstart,
        longest_end=lend,
        table=table,
    )


def apply_gap_policy(bars: pd.DataFrame, timeframe: str | pd.Timedelta, policy: str | None = None) -> pd.DataFrame:
    """Apply a gap policy to ``bars``.

    Parameters
    ----------
    bars
        Validated bars.
    timeframe
        Bar interval, e.g. ``"1h"``.
    policy
        ``"keep"`` returns ``bars`` unchanged (the same object); ``"fill"`` inserts flat bars at
        the previous close with zero volume (and zero trades), marked ``filled=True``. Default:
        the configured ``[data] gaps``.

    Returns
    -------
    pandas.DataFrame

    Raises
    ------
    DataError
        For an unknown policy or bars off the timeframe grid.
    """
    if policy is None:
        from peaktrade.config import load_config

        policy = load_config().data.gaps
    if policy not in POLICIES:
        raise DataError(bad_value("policy", policy, "'keep' or 'fill'"))
    if policy == "keep":
        return bars
    bars = validate_bars(bars)
    steps, step = _grid_steps(bars, timeframe)
    if not (steps > 1).any():
        if "filled" in bars.columns:
            return bars
        out = bars.copy()
        out["filled"] = np.zeros(len(out), np.bool_)
        return out
    ns = bars.index.asi8
    slot = np.concatenate(([0], np.cumsum(steps)))  # grid position of each present bar
    n = int(slot[-1]) + 1
    present = np.zeros(n, np.bool_)
    present[slot] = True
    # index of the last present bar at or before each grid slot
    src = np.cumsum(present) - 1
    grid = ns[0] + np.arange(n, dtype=np.int64) * step
    index = pd.DatetimeIndex(grid.view("datetime64[ns]"), name=INDEX_NAME).tz_localize("UTC")
    cols: dict[str, Any] = {}
    close = bars["close"].to_numpy()[src]
    for col in bars.columns:
        v = bars[col].to_numpy()
        if col in ("open", "high", "low", "close"):
            out = close.copy()
        elif col in ("volume", "trades"):
            out = np.zeros(n, np.float64)
        elif col == "filled":
            out = np.ones(n, np.bool_)
        else:  # a column outside the contract: missing where a bar was inserted
            cols[col] = bars[col].reindex(index)
            continue
        out[slot] = v
        cols[col] = out
    if "filled" not in cols:
        cols["filled"] = ~present
    return pd.DataFrame(cols, index=index)
