"""The bars contract: column names, validation, timeframes and the data fingerprint.

A *bars* frame is a :class:`pandas.DataFrame` with

- a tz-aware UTC :class:`pandas.DatetimeIndex` named ``"time"`` holding the bar OPEN time,
  sorted ascending and unique (normalized to nanosecond resolution by :func:`validate_bars`);
- float64 columns ``open``, ``high``, ``low``, ``close``, ``volume`` (:data:`BARS_COLUMNS`);
- optionally a float64 ``trades`` column (trade count) and a bool ``filled`` column (True for bars
  inserted by the ``fill`` gap policy);
- finite values, ``low <= min(open, close)``, ``max(open, close) <= high``, ``volume >= 0`` and
  ``trades >= 0``.

Other columns are allowed by :func:`validate_bars` and left untouched; the store rejects them.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import numpy as np
import pandas as pd

from peaktrade.errors import DataError, bad_value

BARS_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close", "volume")
#: Optional columns of the contract, in their canonical order after :data:`BARS_COLUMNS`.
OPTIONAL_COLUMNS: tuple[str, ...] = ("trades", "filled")
INDEX_NAME = "time"

_TF_RE = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$")
_UNIT_MINUTES = {"m": 1, "h": 60, "d": 1_440, "w": 10_080}
_TF_EXPECTED = "a positive whole number and a unit m, h, d or w (e.g. 1m, 5m, 15m, 1h, 4h, 1d, 1w)"


def parse_timeframe(timeframe: str | pd.Timedelta) -> pd.Timedelta:
    """Parse a timeframe such as ``"15m"``, ``"1h"``, ``"1d"`` or ``"1w"`` into a Timedelta.

    Parameters
    ----------
    timeframe
        ``<N><unit>`` with unit ``m`` (minutes), ``h`` (hours), ``d`` (days) or ``w`` (weeks),
        or a positive :class:`pandas.Timedelta` of whole minutes.

    Returns
    -------
    pandas.Timedelta

    Raises
    ------
    DataError
        When the timeframe is not of that form (``"1M"``, ``"0h"``, ``"1.5h"``, ``"hourly"``...).
    """
    if isinstance(timeframe, pd.Timedelta):
        ns = timeframe.value
        if ns <= 0 or ns % 60_000_000_000:
            raise DataError(bad_value("timeframe", timeframe, "a positive whole number of minutes"))
        return pd.Timedelta(ns, unit="ns")
    m = _TF_RE.match(timeframe) if isinstance(timeframe, str) else None
    if m is None or int(m.group(1)) == 0:
        raise DataError(bad_value("timeframe", timeframe, _TF_EXPECTED))
    return pd.Timedelta(minutes=int(m.group(1)) * _UNIT_MINUTES[m.group(2)])


def timeframe_to_minutes(timeframe: str | pd.Timedelta) -> int:
    """Return the number of minutes in ``timeframe`` (``"4h"`` → 240)."""
    return int(parse_timeframe(timeframe).value // 60_000_000_000)


_SYMBOL_RE = re.compile(r"^[A-Z0-9][A-Z0-9._-]*(/[A-Z0-9][A-Z0-9._-]*)?$")
#: Quote currencies a pair written without "/" is split on ("BTCUSD" -> "BTC/USD", "ETH-EUR" -> "ETH/EUR").
QUOTE_CURRENCIES = ("USDT", "USDC", "USD", "EUR", "GBP", "JPY", "CAD", "CHF", "AUD", "DAI", "BTC", "XBT", "ETH")


def canonical_symbol(symbol: str) -> str:
    """Return the one spelling of a pair the store and the exchanges use: upper case ``BASE/QUOTE``.

    ``"btcusd"``, ``"BTC-USD"`` and ``"BTC_USD"`` are ``"BTC/USD"`` (a known quote currency ends them), so one
    market is never stored as two data sets; a symbol with no known quote is kept as given (``"BTC-PERP"``).
    """
    sym = symbol.strip().upper() if isinstance(symbol, str) else symbol
    if not isinstance(sym, str) or not _SYMBOL_RE.match(sym):
        raise DataError(bad_value("symbol", symbol, "a pair such as 'BTC/USD'"))
    if "/" in sym:
        return sym
    base, sep, quote = sym.rpartition("-") if "-" in sym else sym.rpartition("_")
    if sep and quote in QUOTE_CURRENCIES and base.isalnum():
        return f"{base}/{quote}"
    # No quote currency is a suffix of another, so a pair without a separator splits at most one way.
    quote = next((q for q in QUOTE_CURRENCIES if sym.endswith(q) and len(sym) - len(q) >= 2), "")
    return f"{sym[:-len(quote)]}/{quote}" if quote and sym[:-len(quote)].isalnum() else sym


def canonical_timeframe(timeframe: str | pd.Timedelta) -> str:
    """Return the canonical spelling of ``timeframe``: the largest unit that divides it (``"60m"`` → ``"1h"``)."""
    minutes = timeframe_to_minutes(timeframe)
    for unit in ("w", "d", "h"):
        if minutes % _UNIT_MINUTES[unit] == 0:
            return f"{minutes // _UNIT_MINUTES[unit]}{unit}"
    return f"{minutes}m"


def to_utc_timestamp(value: Any, *, name: str) -> pd.Timestamp:
    """Convert ``value`` (str, datetime, Timestamp) to a UTC Timestamp; naive values are read as UTC."""
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError) as e:
        raise DataError(bad_value(name, value, f"a date or timestamp such as '2024-01-01' ({e})")) from None
    if ts is pd.NaT:
        raise DataError(bad_value(name, value, "a date or timestamp such as '2024-01-01'"))
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _first_true(mask: np.ndarray) -> int | None:
    """Return the position of the first True in ``mask`` or None."""
    pos = int(np.argmax(mask)) if mask.size else 0
    return pos if mask.size and mask[pos] else None


def _row_error(name: str, index: pd.Index, pos: int, what: str) -> DataError:
    return DataError(f"{name}: row {pos} ({index[pos]}): {what}")


def validate_bars(df: pd.DataFrame, *, name: str = "bars") -> pd.DataFrame:
    """Check that ``df`` satisfies the bars contract and return it.

    Integer and float32 value columns are converted to float64 and the index to nanosecond
    resolution (a new frame is returned in that case; otherwise ``df`` itself).

    Parameters
    ----------
    df
        Candidate bars.
    name
        Name used in error messages (e.g. the file or data set the bars came from).

    Returns
    -------
    pandas.DataFrame
        The validated bars.

    Raises
    ------
    DataError
        Naming the first offending row (position and timestamp) and what is wrong with it, or the
        column or index property that is wrong.
    """
    if not isinstance(df, pd.DataFrame):
        raise DataError(f"{name}: expected a pandas DataFrame, got {type(df).__name__}")
    idx = df.index
    if not isinstance(idx, pd.DatetimeIndex):
        raise DataError(f"{name}: index must be a DatetimeIndex of bar open times, got {type(idx).__name__}")
    if idx.tz is None or str(idx.tz) != "UTC":
        raise DataError(f"{name}: index must be tz-aware UTC, got tz={idx.tz}")
    if idx.name != INDEX_NAME:
        raise DataError(f"{name}: index must be named {INDEX_NAME!r}, got {idx.name!r}")
    missing = [c for c in BARS_COLUMNS if c not in df.columns]
    if missing:
        raise DataError(f"{name}: missing column(s) {missing}; bars need {list(BARS_COLUMNS)}")
    if not df.columns.is_unique:
        raise DataError(f"{name}: duplicate column names {sorted(df.columns[df.columns.duplicated()].unique())}")

    out = df
    numeric = [c for c in (*BARS_COLUMNS, "trades") if c in df.columns]
    for col in numeric:
        dtype = df[col].dtype
        if dtype == np.float64:
            continue
        if dtype.kind in "iuf" and not isinstance(dtype, pd.CategoricalDtype):
            if out is df:
                out = df.copy()
            out[col] = out[col].astype(np.float64)
        else:
            raise DataError(f"{name}: column {col!r} must be float64, got {dtype}")
    if "filled" in df.columns and df["filled"].dtype != np.bool_:
        raise DataError(f"{name}: column 'filled' must be bool, got {df['filled'].dtype}")
    if idx.unit != "ns":
        if out is df:
            out = df.copy()
        out.index = idx.as_unit("ns")
        idx = out.index

    n = len(out)
    if n == 0:
        return out
    checks: list[tuple[int, str]] = []

    def note(mask: np.ndarray, describe) -> None:
        pos = _first_true(mask)
        if pos is not None:
            checks.append((pos, describe(pos)))

    ns = idx.asi8
    nat = idx.isna()
    note(np.asarray(nat), lambda p: "missing timestamp (NaT)")
    if n > 1:
        step = np.diff(ns)
        bad = np.concatenate(([False], step <= 0)) & ~np.concatenate(([False], nat[:-1] | nat[1:]))
        note(bad, lambda p: (
            f"duplicate timestamp (same as row {p - 1})" if ns[p] == ns[p - 1]
            else f"out of order: before row {p - 1} ({idx[p - 1]})"))

    vals = {c: out[c].to_numpy() for c in numeric}
    for col in numeric:
        v = vals[col]
        note(~np.isfinite(v), lambda p, c=col: f"{c} is {vals[c][p]} (values must be finite)")
    o, h, lo, c, v = (vals[k] for k in BARS_COLUMNS)
    with np.errstate(invalid="ignore"):
        note(h < lo, lambda p: f"high {h[p]} < low {lo[p]}")
        note(lo > np.minimum(o, c), lambda p: f"low {lo[p]} > min(open {o[p]}, close {c[p]})")
        note(h < np.maximum(o, c), lambda p: f"high {h[p]} < max(open {o[p]}, close {c[p]})")
        note(v < 0, lambda p: f"volume {v[p]} is negative")
        if "trades" in vals:
            t = vals["trades"]
            note(t < 0, lambda p: f"trades {t[p]} is negative")
    if checks:
        pos, what = min(checks, key=lambda pw: pw[0])
        raise _row_error(name, idx, pos, what)
    return out


def fingerprint(bars: pd.DataFrame) -> str:
    """Return the sha256 hex digest of the canonical encoding of ``bars``.

    The encoding is the concatenation of: the bar open times as little-endian int64 nanoseconds
    since the Unix epoch, then each column of :data:`BARS_COLUMNS` in that order, then ``trades``
    when present, each as little-endian IEEE-754 float64 (``-0.0`` normalized to ``0.0``). The
    ``filled`` flag and any other column are not part of it. Equal bars give equal fingerprints on
    every platform.
    """
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(bars.index.as_unit("ns").asi8, dtype="<i8").tobytes())
    cols = [*BARS_COLUMNS, *(["trades"] if "trades" in bars.columns else [])]
    for col in cols:
        arr = bars[col].to_numpy(dtype=np.float64) + 0.0  # + 0.0 turns -0.0 into 0.0
        h.update(np.ascontiguousarray(arr, dtype="<f8").tobytes())
    return h.hexdigest()


def empty_bars(*, trades: bool = False, filled: bool = False) -> pd.DataFrame:
    """Return an empty bars frame with the contract's index and columns."""
    cols: dict[str, Any] = {c: np.empty(0, np.float64) for c in BARS_COLUMNS}
    if trades:
        cols["trades"] = np.empty(0, np.float64)
    if filled:
        cols["filled"] = np.empty(0, np.bool_)
    index = pd.DatetimeIndex(np.empty(0, "datetime64[ns]"), name=INDEX_NAME).tz_localize("UTC")
    return pd.DataFrame(cols, index=index)


def bars_from_arrays(ns: np.ndarray, columns: dict[str, np.ndarray]) -> pd.DataFrame:
    """Build a bars frame from int64 nanosecond open times and column arrays (no validation)."""
    index = pd.DatetimeIndex(np.asarray(ns, dtype="int64").view("datetime64[ns]"), name=INDEX_NAME)
    return pd.DataFrame(columns, index=index.tz_localize("UTC"), copy=False)
