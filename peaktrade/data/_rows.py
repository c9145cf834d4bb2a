"""The row checks every file import runs (Kraken OHLCVT and generic CSV/Parquet), vectorized.

One place for the rules and the wording: duplicates, order, the timeframe grid, finite values and
OHLC consistency. The caller says how a row is named (``line 7`` of a CSV, ``row 7`` of a Parquet
file), how its time is shown (the raw value from the file and its UTC reading) and how a column is
named (``high`` or ``high (column 'Hi')``); the first offending row wins.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from peaktrade.errors import DataError

Problem = tuple[int, str]


def row_problems(
    t: np.ndarray,
    values: Mapping[str, np.ndarray],
    *,
    step: int | None,
    where: Callable[[int], str],
    show_time: Callable[[int], str],
    first_utc: str,
    column: Callable[[str], str] = str,
    minutes: int | None = None,
) -> list[Problem]:
    """Return (position, description) of the first row breaking each rule.

    Parameters
    ----------
    t
        Bar times as int64 on one scale (seconds, nanoseconds...), in file order.
    values
        ``open``, ``high``, ``low``, ``close``, ``volume`` and optionally ``trades`` as float64.
    step
        The timeframe on the scale of ``t`` (None: no grid check); ``minutes`` names it.
    where, show_time, first_utc, column
        How a row, its time, the first bar's UTC time and a column are named in messages.
    """
    problems: list[Problem] = []

    def note(mask: np.ndarray, describe: Callable[[int], str]) -> None:
        if mask.size and mask.any():
            pos = int(np.argmax(mask))
            problems.append((pos, describe(pos)))

    if len(t) > 1:
        d = np.concatenate(([1], np.diff(t)))
        note(d == 0, lambda i: f"duplicate timestamp {show_time(i)}, same as {where(i - 1)}")
        note(d < 0, lambda i: f"rows out of order: time {show_time(i)} is before {where(i - 1)}'s {show_time(i - 1)}")
        if step is not None:
            note((t - t[0]) % step != 0, lambda i: (
                f"time {show_time(i)} is not on the {minutes}-minute grid of the first bar "
                f"({first_utc}); is the timeframe right?"))
    for n, v in values.items():
        note(~np.isfinite(v), lambda i, n=n, v=v: f"{column(n)} is {v[i]} (values must be finite)")
    o, h, lo, c, vol = (values[k] for k in ("open", "high", "low", "close", "volume"))
    with np.errstate(invalid="ignore"):
        note(h < lo, lambda i: f"{column('high')} {h[i]} < {column('low')} {lo[i]}")
        note(lo > np.minimum(o, c), lambda i: (
            f"{column('low')} {lo[i]} is above min({column('open')} {o[i]}, {column('close')} {c[i]})"))
        note(h < np.maximum(o, c), lambda i: (
            f"{column('high')} {h[i]} is below max({column('open')} {o[i]}, {column('close')} {c[i]})"))
        note(vol < 0, lambda i: f"{column('volume')} {vol[i]} is negative")
        if "trades" in values:
            tr = values["trades"]
            note(tr < 0, lambda i: f"{column('trades')} {tr[i]} is negative")
    return problems


def raise_first(problems: list[Problem], label: str, where: Callable[[int], str]) -> None:
    """Raise a one-line :class:`DataError` for the earliest problem (``<label>: <where>: <what>``)."""
    if problems:
        pos, what = min(problems, key=lambda pw: pw[0])
        raise DataError(f"{label}: {where(pos)}: {what}")
