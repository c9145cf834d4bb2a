"""Strict reader of Kraken's downloadable OHLCVT files (``.csv``, ``.csv.gz`` or the ``.zip`` archive).

Format: no header, one line per bar in which at least one trade happened::

    unix_time_seconds,open,high,low,close,volume,trades

(six columns without ``trades`` are accepted too). Every problem is reported as a
:class:`~peaktrade.errors.DataError` naming the file and the 1-based line number.

The fast path reads the whole file with pyarrow's CSV reader and checks it with vectorized numpy
operations that locate the first offending line. Only when pyarrow rejects the text (a
non-numeric field, a wrong column count) does a line-by-line parser run, to name the line.
"""

from __future__ import annotations

import io
import re
import zipfile
import zlib
from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd

from peaktrade.data._rows import raise_first, row_problems
from peaktrade.data.schema import bars_from_arrays, timeframe_to_minutes, validate_bars
from peaktrade.errors import DataError

_NAMES = ("time", "open", "high", "low", "close", "volume", "trades")
#: Kraken spells some assets differently from the usual tickers.
_KRAKEN_ASSETS = {"BTC": "XBT", "DOGE": "XDG"}
_MEMBER_RE = re.compile(r"^([A-Z0-9]+)_(\d+)\.csv$", re.IGNORECASE)
_INT_RE = re.compile(r"^\s*[+-]?\d+\s*$")
_FLOAT_RE = re.compile(r"^\s*[+-]?((\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?|nan|inf|infinity)\s*$", re.IGNORECASE)
_MAX_SECONDS = 4_102_444_800  # 2100-01-01: larger values are not Unix seconds (milliseconds?)


def kraken_altname(symbol: str) -> str:
    """Return Kraken's file name for a pair: ``"BTC/USD"`` → ``"XBTUSD"``, ``"DOGE/EUR"`` → ``"XDGEUR"``."""
    s = symbol.strip().upper()
    if "/" in s:
        base, _, quote = s.partition("/")
        return _KRAKEN_ASSETS.get(base, base) + _KRAKEN_ASSETS.get(quote, quote)
    for ticker, alt in _KRAKEN_ASSETS.items():
        if s.startswith(ticker):
            return alt + s[len(ticker):]
    return s


def read_kraken_ohlcvt(
    path: str | PathLike[str], *, symbol: str | None = None, timeframe: str | None = None
) -> pd.DataFrame:
    """Read a Kraken OHLCVT file into validated bars.

    Parameters
    ----------
    path
        A ``.csv``, a gzip-compressed ``.csv.gz`` or Kraken's ``.zip`` archive (members named like
        ``XBTUSD_60.csv``).
    symbol
        Pair such as ``"BTC/USD"``; chooses the zip member (via Kraken's asset names, BTC → XBT)
        and is checked against a file name of the form ``XBTUSD_60.csv``.
    timeframe
        Bar interval such as ``"1h"``; chooses the zip member (``_60``), is checked against the
        file name and requires every timestamp to lie on the timeframe grid of the first bar.

    Returns
    -------
    pandas.DataFrame
        Bars (see :mod:`peaktrade.data.schema`) with a float64 ``trades`` column when the file has
        seven columns.

    Raises
    ------
    DataError
        Naming the file and the 1-based line for malformed content (truncated gzip, non-numeric
        field, wrong column count, timestamps out of order or duplicated, inconsistent OHLC,
        negative volume, empty file), or naming the members when the zip has no matching one.
    """
    p = Path(path).expanduser()
    if not p.is_file():
        raise DataError(f"{p}: file not found")
    minutes = timeframe_to_minutes(timeframe) if timeframe is not None else None
    with open(p, "rb") as f:
        magic = f.read(4)
    label = str(p)
    if magic == b"PK\x03\x04" or p.suffix.lower() == ".zip":
        # the archive may hold gigabytes: read only the chosen member
        member, raw = _read_zip_member(p, symbol=symbol, minutes=minutes)
        label = f"{p}:{member}"
        _check_name(member, label, symbol=symbol, minutes=minutes)
    else:
        _check_name(p.name, label, symbol=symbol, minutes=minutes)
        raw = p.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = _gunzip(raw, label)
    return _parse(raw, label, minutes=minutes)


def _check_name(name: str, label: str, *, symbol: str | None, minutes: int | None) -> None:
    """Reject a symbol or timeframe that contradicts a Kraken-style file name (``XBTUSD_60.csv``)."""
    stem = name.rsplit("/", 1)[-1]
    stem = stem[:-3] if stem.lower().endswith(".gz") else stem
    m = _MEMBER_RE.match(stem)
    if m is None:
        return
    if symbol is not None and kraken_altname(m.group(1)) != kraken_altname(symbol):
        raise DataError(
            f"{label}: the file name says pair {m.group(1)} but symbol={symbol!r} "
            f"(Kraken name {kraken_altname(symbol)}); pass the matching --symbol"
        )
    if minutes is not None and int(m.group(2)) != minutes:
        raise DataError(
            f"{label}: the file name says {m.group(2)}-minute bars but the timeframe is {minutes} minutes; "
            "pass the matching --timeframe"
        )


def _gunzip(raw: bytes, label: str) -> bytes:
    """Decompress (possibly multi-member) gzip data; name the line where a damaged stream stops."""
    chunk = 1 << 18  # feed in chunks, so that damage is located to within a chunk
    out: list[bytes] = []
    pos = 0
    while pos < len(raw):
        d = zlib.decompressobj(wbits=31)
        try:
            while pos < len(raw) and not d.eof:
                piece = raw[pos:pos + chunk]
                pos += len(piece)
                out.append(d.decompress(piece))
            out.append(d.flush())
        except zlib.error as e:
            n = b"".join(out).count(b"\n")
            raise DataError(f"{label}: line {n + 1}: corrupt gzip data ({e})") from None
        if not d.eof:
            n = b"".join(out).count(b"\n")
            raise DataError(
                f"{label}: line {n + 1}: truncated gzip file (the compressed stream ends after "
                f"{n} complete lines); download the file again"
            )
        pos -= len(d.unused_data)
        while pos < len(raw) and raw[pos] == 0:  # padding between members
            pos += 1
        if raw[pos:pos + 2] != b"\x1f\x8b":
            break
    return b"".join(out)


def _read_zip_member(p: Path, *, symbol: str | None, minutes: int | None) -> tuple[str, bytes]:
    """Return (member name, bytes) of the OHLCVT member chosen by symbol and timeframe."""
    try:
        zf = zipfile.ZipFile(p)
    except zipfile.BadZipFile as e:
        raise DataError(f"{p}: not a readable zip archive ({e})") from None
    with zf:
        csvs = [n for n in zf.namelist() if n.lower().endswith(".csv") and not n.endswith("/")]
        if not csvs:
            raise DataError(f"{p}: the zip archive holds no .csv member")
        base = {n.rsplit("/", 1)[-1].upper(): n for n in csvs}
        chosen: str | None = None
        if symbol is None and minutes is None:
            if len(csvs) == 1:
                chosen = csvs[0]
            else:
                raise DataError(
                    f"{p}: the archive holds {len(csvs)} files; name --symbol and --timeframe to choose one "
                    f"(e.g. {_examples(csvs)})"
                )
        else:
            alt = kraken_altname(symbol) if symbol is not None else None
            if alt is not None and minutes is not None:
                chosen = base.get(f"{alt}_{minutes}.CSV")
                wanted = f"{alt}_{minutes}.csv"
            else:
                cands = [
                    n for key, n in base.items()
                    if (m := _MEMBER_RE.match(key))
                    and (alt is None or m.group(1) == alt)
                    and (minutes is None or int(m.group(2)) == minutes)
                ]
                chosen = cands[0] if len(cands) == 1 else None
                wanted = f"{alt or '*'}_{minutes if minutes is not None else '*'}.csv"
                if len(cands) > 1:
                    raise DataError(
                        f"{p}: {len(cands)} members match {wanted}; name both --symbol and --timeframe "
                        f"(e.g. {_examples(cands)})"
                    )
            if chosen is None:
                same_pair = [n for k, n in base.items() if alt is not None and k.startswith(f"{alt}_")]
                hint = (f"members for {alt}: {_examples(same_pair)}" if same_pair
                        else f"{len(csvs)} members, e.g. {_examples(csvs)}")
                raise DataError(f"{p}: no member {wanted} in the archive ({hint})")
        try:
            return chosen, zf.read(chosen)
        except (zipfile.BadZipFile, zlib.error, EOFError) as e:
            raise DataError(f"{p}:{chosen}: corrupt or truncated zip member ({e})") from None


def _examples(names: list[str], k: int = 6) -> str:
    def key(n: str):
        m = _MEMBER_RE.match(n.rsplit("/", 1)[-1])
        return (m.group(1), int(m.group(2))) if m else (n, 0)

    shown = sorted(names, key=key)[:k]
    return ", ".join(shown) + (f", ... ({len(names)} in total)" if len(names) > k else "")


def _parse(raw: bytes, label: str, *, minutes: int | None) -> pd.DataFrame:
    """Parse OHLCVT text into bars, reporting the first bad line."""
    if not raw.strip():
        raise DataError(f"{label}: line 1: empty file (no bars)")
    first_line = raw.split(b"\n", 1)[0].rstrip(b"\r")
    ncols = first_line.count(b",") + 1
    if ncols not in (6, 7):
        raise DataError(
            f"{label}: line 1: expected 7 comma-separated fields (time,open,high,low,close,volume,trades) "
            f"or 6 without trades, got {ncols}"
        )
    try:
        ts, values = _parse_fast(raw, ncols)
    except Exception:  # pyarrow rejected the text: find and name the offending line
        ts, values = _parse_slow(raw, label, ncols)
    names = _NAMES[1:ncols]
    _check(ts, values, names, label, minutes=minutes)
    bars = bars_from_arrays(ts * 1_000_000_000, {n: values[i] for i, n in enumerate(names)})
    return validate_bars(bars, name=label)


def _parse_fast(raw: bytes, ncols: int) -> tuple[np.ndarray, list[np.ndarray]]:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    names = list(_NAMES[:ncols])
    types = {n: (pa.int64() if n == "time" else pa.float64()) for n in names}
    table = pacsv.read_csv(
        io.BytesIO(raw),
        read_options=pacsv.ReadOptions(column_names=names),
        parse_options=pacsv.ParseOptions(ignore_empty_lines=False),
        convert_options=pacsv.ConvertOptions(column_types=types, null_values=[], strings_can_be_null=False),
    )
    if any(table.column(n).null_count for n in names):
        raise ValueError("null values")
    ts = table.column("time").to_numpy()
    return ts, [table.column(n).to_numpy() for n in names[1:]]


def _parse_slow(raw: bytes, label: str, ncols: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """Parse line by line; raise at the first malformed line (used only when the fast path fails)."""
    text = raw.decode("utf-8", errors="replace")
    lines = text.split("\n")
    if lines and lines[-1].strip() == "":
        lines.pop()  # the newline that ends the last line
    ts = np.empty(len(lines), np.int64)
    vals = np.empty((ncols - 1, len(lines)), np.float64)
    for i, line in enumerate(lines):
        fields = line.rstrip("\r").split(",")
        where = f"{label}: line {i + 1}"
        if len(fields) != ncols:
            got = "an empty line" if not line.strip() else f"{len(fields)} fields"
            raise DataError(f"{where}: expected {ncols} comma-separated fields, got {got}: {line[:80]!r}")
        if not _INT_RE.match(fields[0]):
            raise DataError(f"{where}: field 1 (time) is not a whole number of Unix seconds: {fields[0][:40]!r}")
        ts[i] = int(fields[0])
        for j, field in enumerate(fields[1:]):
            if not _FLOAT_RE.match(field):
                raise DataError(f"{where}: field {j + 2} ({_NAMES[j + 1]}) is not a number: {field[:40]!r}")
            vals[j, i] = float(field)
    return ts, list(vals)


def _check(
    ts: np.ndarray, values: list[np.ndarray], names: tuple[str, ...], label: str, *, minutes: int | None
) -> None:
    """Vectorized checks; raise naming the first offending line."""

    def when(s: int) -> str:
        return str(pd.Timestamp(s, unit="s", tz="UTC")) if 0 <= s < _MAX_SECONDS else str(s)

    def where(i: int) -> str:
        return f"line {i + 1}"

    bad_unit = (ts < 0) | (ts >= _MAX_SECONDS)
    problems = row_problems(
        ts, dict(zip(names, values)), step=None if minutes is None else minutes * 60, minutes=minutes,
        where=where, show_time=lambda i: f"{ts[i]} ({when(ts[i])})", first_utc=when(ts[0]) if len(ts) else "",
    )
    if bad_unit.any():
        i = int(np.argmax(bad_unit))
        problems.insert(0, (i, f"time {ts[i]} is not a Unix time in seconds (milliseconds?); "
                            "for other layouts use --format csv"))
    raise_first(problems, label, where)
