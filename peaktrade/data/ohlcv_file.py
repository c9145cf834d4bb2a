"""Generic OHLCV files: CSV (plain, ``.gz`` or a one-file ``.zip``) or Parquet from any exchange.

A :class:`FileFormat` says how to read a file: which column holds what (:class:`ColumnMap`), how
times are written (Unix seconds/milliseconds/microseconds/nanoseconds, ISO 8601, or a strptime
format) and the time zone of times written without an offset. Whatever it leaves open is
detected from the file (delimiter, header, column names, the Unix unit) and said in the
description :func:`read_ohlcv_file` returns. The rows then pass the same checks as Kraken's
files (:mod:`peaktrade.data._rows`); every problem is one :class:`~peaktrade.errors.DataError`
naming the file, the line (CSV) or row (Parquet), the column, the value and what was expected.
"""

from __future__ import annotations

import csv
import io
import re
import tomllib
import zipfile
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from datetime import UTC, timedelta, timezone, tzinfo
from os import PathLike
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd

from peaktrade.data._rows import raise_first, row_problems
from peaktrade.data.schema import bars_from_arrays, timeframe_to_minutes, validate_bars
from peaktrade.errors import DataError, bad_value

FIELDS = ("time", "open", "high", "low", "close", "volume", "trades")
#: Header names recognised (case, spaces, '_' and '-' ignored) for a field the mapping leaves open.
ALIASES: dict[str, tuple[str, ...]] = {
    "time": ("time", "timestamp", "date", "datetime", "opentime", "timeopen", "ts", "unix", "__indexlevel0__"),
    "open": ("open", "o", "openprice"),
    "high": ("high", "h", "highprice"),
    "low": ("low", "l", "lowprice"),
    "close": ("close", "c", "closeprice"),
    "volume": ("volume", "vol", "v", "basevolume"),
    "trades": ("trades", "count", "tradecount", "numberoftrades", "numtrades"),
}
UNITS = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}
_UNIT_NAMES = {"s": "seconds", "ms": "milliseconds", "us": "microseconds", "ns": "nanoseconds"}
_TIME_FORMATS = "auto, s, ms, us, ns, iso or a strptime format such as '%Y-%m-%d %H:%M'"
_LO_NS, _HI_NS = 0, 4_102_444_800 * 10**9  # 1970-01-01 .. 2100-01-01: plausible bar times
_NUM_RE = re.compile(r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$")
# an offset after a clock time (a date-only "2024-01-01" ends in "-01" but has none)
_OFFSET_RE = re.compile(r"\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:Z|[+-]\d{2}(?::?\d{2})?)$", re.IGNORECASE)
_DELIMITERS = (",", ";", "\t", "|")
Kind = Literal["auto", "kraken", "csv", "parquet"]


def _norm(name: str) -> str:
    return re.sub(r"\(.*?\)|[\s_\-]", "", name).lower()  # "Timestamp (ms)" → "timestamp"


@dataclass(frozen=True, kw_only=True)
class ColumnMap:
    """Which column of the file holds each field: a header name, or a 1-based position.

    A field left ``None`` is found by its name or a common alias in the header (``Date``,
    ``Timestamp``, ``Vol``...; see :data:`ALIASES`), or by position (time, open, high, low, close,
    volume) in a file without a header. ``trades`` is optional.
    """

    time: str | int | None = None
    open: str | int | None = None
    high: str | int | None = None
    low: str | int | None = None
    close: str | int | None = None
    volume: str | int | None = None
    trades: str | int | None = None

    def __post_init__(self) -> None:
        for f in FIELDS:
            v = getattr(self, f)
            if v is None:
                continue
            if isinstance(v, bool) or not isinstance(v, (str, int)) or (isinstance(v, int) and v < 1) or v == "":
                raise DataError(bad_value(f"columns.{f}", v, "a column name or a 1-based column position"))

    @classmethod
    def parse(cls, text: str) -> ColumnMap:
        """Parse ``"time=Date,open=Open,volume=6"`` (names, or digits for 1-based positions)."""
        out: dict[str, str | int] = {}
        for part in text.split(","):
            key, eq, value = (s.strip() for s in part.partition("="))
            if not eq or key not in FIELDS or not value:
                raise DataError(bad_value(
                    "--columns", text, f"FIELD=COLUMN pairs separated by ',' with FIELD one of {', '.join(FIELDS)}, "
                    "e.g. time=Date,open=Open,high=High,low=Low,close=Close,volume=Volume"))
            if key in out:
                raise DataError(bad_value("--columns", text, f"each field once ({key} is given twice)"))
            out[key] = int(value) if value.isdigit() else value
        return cls(**out)

    def given(self) -> dict[str, str | int]:
        """Return the fields that are mapped explicitly."""
        return {f: getattr(self, f) for f in FIELDS if getattr(self, f) is not None}


def parse_timezone(name: str) -> tzinfo:
    """Return the zone of an IANA name (``Europe/Berlin``), ``UTC`` or a fixed offset (``+02:00``)."""
    m = re.fullmatch(r"([+-])(\d{2}):?(\d{2})", name.strip())
    if m:
        sign = 1 if m.group(1) == "+" else -1
        return timezone(sign * timedelta(hours=int(m.group(2)), minutes=int(m.group(3))))
    if name.strip().upper() in ("UTC", "Z"):
        return UTC
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise DataError(bad_value("timezone", name, "an IANA time zone such as 'Europe/Berlin', 'UTC' or "
                                  "an offset such as '+02:00'")) from None


@dataclass(frozen=True, kw_only=True)
class FileFormat:
    """How to read an OHLCV file (everything left open is detected; see the module docstring).

    Attributes
    ----------
    kind
        ``"csv"``, ``"parquet"``, ``"kraken"`` (Kraken's OHLCVT layout) or ``"auto"``: ``.parquet``
        / ``.pq`` files are Parquet; a file whose first line is Kraken's headerless
        ``seconds,o,h,l,c,v[,trades]`` is Kraken's when nothing else below is set; otherwise CSV.
    columns
        The :class:`ColumnMap`.
    time_format
        ``"auto"`` (numbers: the Unix unit from the first value's magnitude; text: ISO 8601),
        ``"s"``, ``"ms"``, ``"us"``, ``"ns"``, ``"iso"`` or a strptime format (contains ``%``).
    timezone
        Zone of times written without an offset (None: UTC). Unix times and times with an offset
        carry their zone, so setting it for them is an error.
    delimiter
        CSV field separator (None: the one of ``, ; tab |`` splitting the first line most).
    header
        Whether the first CSV line (after ``skip_rows``) names the columns (None: it does when
        none of its fields is a number).
    skip_rows
        CSV lines to skip before the header or data (e.g. a banner line).
    no_volume
        The file has no volume: store volume 0 (without it a missing volume column is an error).
    """

    kind: Kind = "auto"
    columns: ColumnMap = ColumnMap()
    time_format: str = "auto"
    timezone: str | None = None
    delimiter: str | None = None
    header: bool | None = None
    skip_rows: int = 0
    no_volume: bool = False

    def __post_init__(self) -> None:
        if self.kind not in ("auto", "kraken", "csv", "parquet"):
            raise DataError(bad_value("format", self.kind, "auto, kraken, csv or parquet"))
        if not isinstance(self.columns, ColumnMap):
            raise DataError(bad_value("columns", self.columns, "a ColumnMap"))
        tf = self.time_format
        if not isinstance(tf, str) or (tf not in ("auto", "iso", *UNITS) and "%" not in tf):
            raise DataError(bad_value("time_format", tf, _TIME_FORMATS))
        if self.timezone is not None:
            parse_timezone(self.timezone)
        if self.delimiter is not None:
            d = {"tab": "\t", "\\t": "\t"}.get(self.delimiter, self.delimiter)
            if len(d) != 1 or d in "\r\n\"":
                raise DataError(bad_value("delimiter", self.delimiter, "one character such as ',', ';', '|' or 'tab'"))
            object.__setattr__(self, "delimiter", d)
        if isinstance(self.skip_rows, bool) or not isinstance(self.skip_rows, int) or self.skip_rows < 0:
            raise DataError(bad_value("skip_rows", self.skip_rows, "a whole number >= 0"))
        if self.no_volume and self.columns.volume is not None:
            raise DataError(f"no_volume=True contradicts the mapped volume column {self.columns.volume!r}")

    @property
    def generic(self) -> bool:
        """Return whether any option beyond the kind is set (they do not apply to Kraken's layout)."""
        return self != FileFormat(kind=self.kind)

    @classmethod
    def from_toml(cls, path: str | PathLike[str], **overrides: Any) -> FileFormat:
        """Read a format file (keys of this class; ``[columns]`` a table of FIELD = COLUMN), then apply ``overrides``."""
        p = Path(path).expanduser()
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as e:
            raise DataError(f"{p}: unreadable format file ({e})") from None
        if "format" in data and "kind" not in data:  # spelled like the command-line option
            data["kind"] = data.pop("format")
        known = {f.name for f in fields(cls)} - {"kind"} | {"format"}
        unknown = sorted(set(data) - known - {"kind"})
        if unknown:
            raise DataError(f"{p}: unknown key(s) {unknown}; expected {sorted(known)}")
        cols = data.pop("columns", {})
        if not isinstance(cols, dict) or set(cols) - set(FIELDS):
            raise DataError(f"{p}: [columns] must map fields {', '.join(FIELDS)} to column names or positions")
        try:
            return replace(cls(**data, columns=ColumnMap(**cols)), **overrides)
        except (TypeError, DataError) as e:
            raise DataError(f"{p}: {e}") from None


# --------------------------------------------------------------------------------------------- reading
def locate_file(path: str | PathLike[str], file_format: FileFormat | None) -> tuple[Path, FileFormat, str]:
    """Return the file's path, its format (default: everything detected) and its kind; raise when it is missing."""
    fmt = file_format or FileFormat()
    p = Path(path).expanduser()
    if not p.is_file():
        raise DataError(f"{p}: file not found")
    return p, fmt, resolve_kind(p, fmt)


def resolve_kind(path: Path, fmt: FileFormat) -> str:
    """Return ``"kraken"``, ``"csv"`` or ``"parquet"`` for ``path`` (see :attr:`FileFormat.kind`)."""
    if fmt.kind != "auto":
        return fmt.kind
    with open(path, "rb") as f:
        head = f.read(1 << 16)
    name = path.name.lower()
    if head[:4] == b"PAR1" or name.endswith((".parquet", ".pq")):
        return "parquet"
    if fmt.generic:
        return "csv"
    from peaktrade.data.kraken_csv import _MEMBER_RE

    if _MEMBER_RE.match(path.name[:-3] if name.endswith(".gz") else path.name):
        return "kraken"  # named like Kraken's files (XBTUSD_60.csv): its reader checks the name and the content
    if head[:4] == b"PK\x03\x04":  # Kraken's archive names its members like XBTUSD_60.csv
        try:
            with zipfile.ZipFile(path) as zf:
                members = [n.rsplit("/", 1)[-1] for n in zf.namelist() if not n.endswith("/")]
        except (zipfile.BadZipFile, OSError):
            return "kraken"  # its reader says what is wrong with the archive
        return "kraken" if any(_MEMBER_RE.match(n) for n in members) else "csv"
    if head[:2] == b"\x1f\x8b":  # the first line of a gzip file, without decompressing all of it
        try:
            head = zlib.decompressobj(wbits=31).decompress(head, 1 << 16)
        except zlib.error:
            return "kraken"  # its reader names the line where the damage starts
    first = _first_line(head)
    parts = first.split(",")
    if len(parts) in (6, 7) and parts[0].strip().isdigit() and int(parts[0]) < _HI_NS // 10**9:
        return "kraken"
    return "csv"


def _raw_text(p: Path, label: str) -> bytes:
    """Return the bytes of a CSV: plain, gzip-compressed or the single ``.csv`` of a zip."""
    from peaktrade.data.kraken_csv import _gunzip

    raw = p.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        return _gunzip(raw, label)
    if raw[:4] == b"PK\x03\x04":
        try:
            with zipfile.ZipFile(io.BytesIO(raw)) as zf:
                members = [n for n in zf.namelist() if not n.endswith("/")]
                if len(members) != 1:
                    raise DataError(f"{label}: the zip archive holds {len(members)} files; expected one CSV "
                                    f"(unpack it and import the file you want)")
                return zf.read(members[0])
        except (zipfile.BadZipFile, EOFError) as e:
            raise DataError(f"{label}: not a readable zip archive ({e})") from None
    return raw


def _first_line(raw: bytes, skip: int = 0) -> str:
    lines = raw.lstrip(b"\xef\xbb\xbf").split(b"\n", skip + 1)
    return lines[skip].rstrip(b"\r").decode("utf-8", errors="replace") if len(lines) > skip else ""


@dataclass
class _Table:
    """Columns read from a file, as pyarrow arrays, with how to name a row of it."""

    label: str
    names: list[str]
    arrays: dict[str, Any]
    where: Callable[[int], str]
    layout: str
    header: bool = True


def read_ohlcv_file(
    path: str | PathLike[str], *, timeframe: str | None = None, file_format: FileFormat | None = None
) -> tuple[pd.DataFrame, str]:
    """Read a CSV or Parquet OHLCV file into validated bars.

    Parameters
    ----------
    path
        ``.csv`` (also ``.csv.gz`` or a ``.zip`` holding one CSV), ``.parquet``.
    timeframe
        Bar interval; every bar must lie on its grid from the first bar.
    file_format
        :class:`FileFormat` (default: everything detected).

    Returns
    -------
    (bars, read_as)
        The bars (a ``trades`` column when mapped) and one line saying how the file was read.

    Raises
    ------
    DataError
        One line naming the file, line or row, column, value and what was expected.
    """
    p, fmt, kind = locate_file(path, file_format)
    if kind == "kraken":
        raise DataError(f"{p}: Kraken OHLCVT files are read by read_kraken_ohlcvt (format 'kraken')")
    minutes = timeframe_to_minutes(timeframe) if timeframe is not None else None
    table = _read_parquet(p, fmt) if kind == "parquet" else _read_csv(p, fmt)
    cols = _resolve_columns(table, fmt)
    n = len(next(iter(table.arrays.values()))) if table.arrays else 0
    if n == 0:
        raise DataError(f"{table.label}: no data rows (empty file)")
    values: dict[str, np.ndarray] = {}
    for f in FIELDS[1:]:
        if f in cols:
            values[f] = _numbers(table, cols[f], f)
    if "volume" not in values:
        values["volume"] = np.zeros(n)
    ns, raw, how = _times(table, cols["time"], fmt)

    def column(f: str) -> str:
        c = cols.get(f)
        return f if c is None or _norm(c) == f else f"{f} (column {c!r})"

    where = table.where
    order = None
    if n > 1 and bool((np.diff(ns) < 0).all()):  # newest first: read it oldest first
        order = np.arange(n)[::-1]
        ns = ns[order]
        values = {k: v[order] for k, v in values.items()}
        how += "; rows newest first, reversed"

        def where(i: int) -> str:
            return table.where(int(order[i]))

    def show(i: int) -> str:
        j = int(order[i]) if order is not None else i
        return f"{raw(j)!r} ({pd.Timestamp(int(ns[i]), tz='UTC')})"

    problems = row_problems(
        ns, values, step=None if minutes is None else minutes * 60 * 10**9, minutes=minutes, where=where,
        show_time=show, first_utc=str(pd.Timestamp(int(ns[0]), tz="UTC")), column=column,
    )
    raise_first(problems, table.label, where)
    bars = validate_bars(bars_from_arrays(ns, values), name=table.label)
    mapped = ", ".join(f"{f}={cols[f]!r}" for f in FIELDS[1:] if f in cols)
    vol = "" if "volume" in cols else ", no volume (stored as 0)"
    return bars, f"{table.layout}; time={cols['time']!r} as {how}; {mapped}{vol}"


def _read_csv(p: Path, fmt: FileFormat) -> _Table:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    label = str(p)
    raw = _raw_text(p, label).lstrip(b"\xef\xbb\xbf").rstrip(b"\r\n\t ")
    skip = fmt.skip_rows
    first = _first_line(raw, skip)
    if not first.strip():
        raise DataError(f"{label}: line {skip + 1}: empty file (no header and no bars)")
    delim = fmt.delimiter or max(_DELIMITERS, key=first.count)
    if first.count(delim) < 4:
        raise DataError(f"{label}: line {skip + 1}: could not tell the field delimiter (expected at least 5 fields "
                        f"separated by one of , ; tab |, got {first[:80]!r}); pass --delimiter")
    fields0 = next(csv.reader([first], delimiter=delim))
    header = fmt.header if fmt.header is not None else not any(_NUM_RE.match(x) for x in fields0)
    names = [x.strip() for x in fields0] if header else [str(i + 1) for i in range(len(fields0))]
    dup = sorted({x for x in names if names.count(x) > 1})
    if dup:
        raise DataError(f"{label}: line {skip + 1}: the header names {dup} more than once")
    first_data = skip + (2 if header else 1)
    if raw.count(b"\n") < first_data - 1:
        raise DataError(f"{label}: no data rows after line {first_data - 1} (empty file)")

    def where(i: int) -> str:
        return f"line {first_data + i}"

    try:
        t = pacsv.read_csv(
            io.BytesIO(raw),
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=skip + (1 if header else 0)),
            parse_options=pacsv.ParseOptions(delimiter=delim, ignore_empty_lines=False),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names}, null_values=[], strings_can_be_null=False,
                quoted_strings_can_be_null=False),
        )
    except Exception as e:  # pyarrow rejected a line (field count, encoding): find and name it
        text = []
        for i, line in enumerate(raw.split(b"\n")[first_data - 1:]):
            try:
                text.append(line.decode("utf-8"))
            except UnicodeDecodeError as u:
                raise DataError(f"{label}: {where(i)}: not UTF-8 text ({u.reason} at byte {u.start + 1}: "
                                f"{line[:60]!r}); save the file as UTF-8") from None
        for i, fs in enumerate(csv.reader((ln.rstrip("\r") for ln in text), delimiter=delim)):
            if len(fs) != len(names):
                raise DataError(f"{label}: {where(i)}: expected {len(names)} fields separated by {delim!r} "
                                f"like line {skip + 1}, got {len(fs)}: {delim.join(fs)[:80]!r}") from None
        raise DataError(f"{label}: not a readable CSV file ({' '.join(str(e).split())[:200]})") from None
    shown = {",": "','", ";": "';'", "\t": "tab", "|": "'|'"}.get(delim, repr(delim))
    layout = f"csv, delimiter {shown}, " + ("header" if header else "no header (columns by position)")
    return _Table(label, names, {n: t.column(n).combine_chunks() for n in names}, where, layout, header)


def _read_parquet(p: Path, fmt: FileFormat) -> _Table:
    import pyarrow.parquet as pq

    label = str(p)
    if fmt.delimiter is not None or fmt.header is not None or fmt.skip_rows:
        raise DataError(f"{label}: delimiter, header and skip_rows apply to CSV files, not Parquet")
    try:
        t = pq.read_table(p)
    except Exception as e:  # pyarrow raises several types for damaged files
        raise DataError(f"{label}: unreadable Parquet file ({type(e).__name__}: {e})") from None
    names = list(t.column_names)
    return _Table(label, names, {n: t.column(n).combine_chunks() for n in names},
                  lambda i: f"row {i + 1}", "parquet")


def _resolve_columns(table: _Table, fmt: FileFormat) -> dict[str, str]:
    """Return {field: column name} for the fields present, checking the mapping against the file."""
    names = table.names
    listed = ", ".join(repr(n) for n in names)
    out: dict[str, str] = {}
    for f in FIELDS:
        want = getattr(fmt.columns, f)
        if f == "volume" and fmt.no_volume:
            continue
        if isinstance(want, int):
            if want > len(names):
                raise DataError(f"{table.label}: column {want} ({f}) does not exist: the file has {len(names)} "
                                f"columns ({listed})")
            out[f] = names[want - 1]
        elif want is not None:
            if want not in names:
                near = [n for n in names if _norm(n) == _norm(want)]
                hint = f" (did you mean {near[0]!r}?)" if near else ""
                raise DataError(f"{table.label}: column {want!r} ({f}) is not in the file{hint}; its columns are "
                                f"{listed}")
            out[f] = want
        elif not table.header:
            pos = FIELDS.index(f)
            if f != "trades" and pos < len(names):
                out[f] = names[pos]
        else:
            found = [n for n in names if _norm(n) in ALIASES[f]]
            if len(found) > 1:
                raise DataError(f"{table.label}: columns {found} could each be {f}; choose one with "
                                f"--columns {f}=NAME")
            if found:
                out[f] = found[0]
    required = [f for f in FIELDS[:5] if f not in out]
    if "volume" not in out and not fmt.no_volume:
        required.append("volume")
    if required:
        what = ", ".join(required)
        tip = " or pass --no-volume to store volume 0" if required == ["volume"] else ""
        raise DataError(f"{table.label}: no column for {what} (the file's columns are {listed}); map it with "
                        f"--columns {required[0]}=NAME{tip}")
    return out


def _numbers(table: _Table, name: str, field: str) -> np.ndarray:
    """Return column ``name`` as float64, or raise naming the first value that is not a number."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = table.arrays[name]
    if arr.null_count:
        i = int(np.argmax(np.asarray(arr.is_null())))
        raise DataError(f"{table.label}: {table.where(i)}, column {name!r} ({field}): missing value; expected a number")
    typ = arr.type
    if pa.types.is_integer(typ) or pa.types.is_floating(typ) or pa.types.is_decimal(typ):
        return np.asarray(pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)
    if pa.types.is_string(typ) or pa.types.is_large_string(typ):
        try:
            return pc.cast(pc.utf8_trim_whitespace(arr), pa.float64()).to_numpy(zero_copy_only=False)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            text = np.asarray(arr.to_pylist(), dtype=object)
            ok = pd.to_numeric(pd.Series(text), errors="coerce").notna().to_numpy(copy=True)
            ok &= np.array([bool(_NUM_RE.match(x)) or x.strip().lower() in ("nan", "inf", "-inf") for x in text])
            i = int(np.argmax(~ok))
            raise DataError(f"{table.label}: {table.where(i)}, column {name!r} ({field}): {text[i][:40]!r} is "
                            "not a number") from None
    raise DataError(f"{table.label}: column {name!r} ({field}) holds {typ}; expected numbers")


def _times(table: _Table, name: str, fmt: FileFormat) -> tuple[np.ndarray, Callable[[int], Any], str]:
    """Return (UTC open times as int64 ns, raw value of row i, how they were read)."""
    import pyarrow as pa

    arr = table.arrays[name]
    label, where = table.label, table.where
    if arr.null_count:
        i = int(np.argmax(np.asarray(arr.is_null())))
        raise DataError(f"{label}: {where(i)}, column {name!r} (time): missing value; expected a time")
    values = arr.to_numpy(zero_copy_only=False)

    def raw(i: int) -> Any:
        v = values[i]
        return v.item() if isinstance(v, np.generic) else v

    def fail(i: int, expected: str) -> DataError:
        return DataError(f"{label}: {where(i)}, column {name!r} (time): {str(raw(i))[:40]!r} is not {expected}")

    tf, typ = fmt.time_format, arr.type
    if pa.types.is_timestamp(typ) or pa.types.is_date(typ):
        if tf not in ("auto", "iso"):
            raise DataError(f"{label}: column {name!r} (time) holds {typ} values; time_format {tf!r} applies to "
                            "numbers or text")
        idx = pd.DatetimeIndex(arr.to_pandas() if pa.types.is_timestamp(typ) else arr.cast(pa.timestamp("s"))
                               .to_pandas())
        if idx.tz is not None:
            _no_zone(fmt, label, name, "carry their time zone")
            return idx.tz_convert("UTC").as_unit("ns").asi8, raw, f"{typ}"
        return _localize(idx, fmt, table, name), raw, f"{typ}, {_zone_name(fmt)}"
    numeric = pa.types.is_integer(typ) or pa.types.is_floating(typ)
    text = values.astype(object) if not numeric else None
    if tf in UNITS or (tf == "auto" and (numeric or _NUM_RE.match(str(text[0])))):
        _no_zone(fmt, label, name, "are Unix times, which are UTC")
        if numeric:
            num = values
        else:
            num = _cast_numbers(arr)
        if num is None:
            try:
                num = np.array([float(x) if "." in x or "e" in x.lower() else int(x) for x in text])
            except ValueError:
                i = next(i for i, x in enumerate(text) if not _NUM_RE.match(x))
                raise fail(i, "a Unix time (a number)") from None
        unit = tf
        if tf == "auto":
            first = abs(float(num[0]))
            unit = "s" if first < 1e11 else "ms" if first < 1e14 else "us" if first < 1e17 else "ns"
        mult = UNITS[unit]
        if num.dtype.kind == "f" and np.isfinite(num).all() and (num == np.floor(num)).all() \
                and (np.abs(num) < 2.0**62).all():
            num = num.astype(np.int64)  # whole numbers written as 1.7e9 or 1704067200.0: exact integer path
        if num.dtype.kind == "f":
            ns = np.round(num.astype(np.float64) * mult)
            bad = ~np.isfinite(ns) | (ns < _LO_NS) | (ns >= _HI_NS)
            ns = np.where(bad, 0, ns).astype(np.int64)
        else:
            big = np.abs(num.astype(np.int64)) >= _HI_NS // mult
            ns = np.where(big, 0, num.astype(np.int64)) * mult
            bad = big | (ns < _LO_NS) | (ns >= _HI_NS)
        how = f"Unix {_UNIT_NAMES[unit]}" + (" (inferred from the first value)" if tf == "auto" else "")
        if bad.any():
            i = int(np.argmax(bad))
            raise fail(i, f"a time in Unix {_UNIT_NAMES[unit]} between 1970 and 2100"
                       + (" (the unit was inferred from the first value; set the time format)" if tf == "auto" else ""))
        return ns, raw, how
    if numeric:
        raise DataError(f"{label}: column {name!r} (time) holds numbers; time_format {tf!r} applies to text")
    import pyarrow.compute as pc

    trimmed = pc.utf8_trim_whitespace(arr)
    strings = pd.Series(trimmed.to_numpy(zero_copy_only=False), dtype=object)
    if "%" in tf:
        aware = "%z" in tf or "%Z" in tf
        parsed = pd.to_datetime(strings, format=tf, errors="coerce", utc=aware)
        expected, how = f"a time in the format {tf!r}", f"format {tf!r}"
    else:
        has_off = pc.match_substring_regex(trimmed, _OFFSET_RE.pattern, ignore_case=True).to_numpy(
            zero_copy_only=False)
        aware = bool(has_off[0])
        mixed = has_off != aware
        if mixed.any():
            i = int(np.argmax(mixed))
            raise fail(i, f"like {where(0)}'s time, which has {'a' if aware else 'no'} UTC offset (every time "
                       "needs one, or none)")
        parsed = pd.to_datetime(strings, format="ISO8601", errors="coerce", utc=aware)
        expected, how = "an ISO 8601 time such as '2024-01-31 14:00' or '2024-01-31T14:00:00+02:00'", "ISO 8601"
    bad = parsed.isna().to_numpy()
    if bad.any():
        raise fail(int(np.argmax(bad)), expected)
    idx = pd.DatetimeIndex(parsed)
    if aware:
        _no_zone(fmt, label, name, "have a UTC offset")
        return idx.tz_convert("UTC").as_unit("ns").asi8, raw, how + " with UTC offsets"
    return _localize(idx, fmt, table, name), raw, f"{how}, {_zone_name(fmt)}"


def _cast_numbers(arr: Any) -> np.ndarray | None:
    """Return text as int64 (or float64 when not all whole numbers), or None when some value is no number."""
    import pyarrow as pa
    import pyarrow.compute as pc

    trimmed = pc.utf8_trim_whitespace(arr)
    for typ in (pa.int64(), pa.float64()):
        try:
            return pc.cast(trimmed, typ).to_numpy(zero_copy_only=False)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
    return None


def _zone_name(fmt: FileFormat) -> str:
    return f"naive times in {fmt.timezone}" if fmt.timezone else "naive times read as UTC (the default)"


def _no_zone(fmt: FileFormat, label: str, name: str, why: str) -> None:
    if fmt.timezone is not None:
        raise DataError(f"{label}: column {name!r} (time): timezone={fmt.timezone!r} applies only to times without "
                        f"an offset, and these {why}; drop the timezone")


def _localize(idx: pd.DatetimeIndex, fmt: FileFormat, table: _Table, name: str) -> np.ndarray:
    """Read naive times in the format's zone (default UTC); name a time the zone skips or repeats ambiguously."""
    if fmt.timezone is None:
        return idx.tz_localize("UTC").as_unit("ns").asi8
    tz = parse_timezone(fmt.timezone)
    # ambiguous="infer" reads a repeated hour (the fall-back) from the rows' order, which must be oldest
    # first: a newest-first file (naive times never rising) is localized reversed, then put back in file order
    d = np.diff(idx.asi8)
    rev = bool(len(idx) > 1 and (d <= 0).all() and (d < 0).any())
    work = idx[::-1] if rev else idx
    try:
        out = work.tz_localize(tz, ambiguous="infer", nonexistent="raise")
    except Exception:
        probe = work.tz_localize(tz, ambiguous="NaT", nonexistent="NaT")
        bad = np.asarray(probe.isna())
        i = int(np.argmax(bad)) if bad.any() else 0
        i = len(idx) - 1 - i if rev else i
        raise DataError(
            f"{table.label}: {table.where(i)}, column {name!r} (time): {str(idx[i])!r} does not exist or is "
            f"ambiguous in {fmt.timezone} (a daylight-saving change); export the times in UTC or with an offset"
        ) from None
    ns = out.tz_convert("UTC").as_unit("ns").asi8
    return ns[::-1].copy() if rev else ns


def format_from_options(
    *,
    base: FileFormat | None = None,
    kind: str | None = None,
    columns: str | Mapping[str, str | int] | ColumnMap | None = None,
    **options: Any,
) -> FileFormat:
    """Return ``base`` (default :class:`FileFormat`) with the options that are not None applied."""
    fmt = base or FileFormat()
    changes: dict[str, Any] = {k: v for k, v in options.items() if v is not None}
    if kind is not None:
        changes["kind"] = kind
    if columns is not None:
        cm = columns if isinstance(columns, ColumnMap) else (
            ColumnMap.parse(columns) if isinstance(columns, str) else ColumnMap(**dict(columns)))
        changes["columns"] = replace(fmt.columns, **cm.given())
    return replace(fmt, **changes)
