"""Parquet bar store: one data set per (exchange, symbol, timeframe), each with a JSON manifest.

Layout::

    <root>/<exchange>/<SYMBOL with "/" replaced by "-">/<timeframe>.parquet
    <root>/<exchange>/<SYMBOL with "/" replaced by "-">/<timeframe>.manifest.json

e.g. ``data/kraken/BTC-USD/1h.parquet``. Exchange names are lower-cased, symbols upper-cased and
timeframes canonical (``60m`` → ``1h``).

Writes merge with the stored bars (union by bar time; on an overlap the incoming bar replaces the
stored one only when it differs, and a ``filled`` incoming bar never replaces a stored one), are
validated completely before anything touches the disk, and replace each file atomically
(:func:`peaktrade._files.atomic_write`). A write that changes no bar
writes nothing, so re-importing the same file leaves both files byte-identical. Parquet files are
written deterministically by pyarrow (no pandas metadata, no timestamps).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from dataclasses import replace as _dc_replace
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from peaktrade._files import atomic_write, atomic_write_text
from peaktrade.data.gaps import audit_gaps
from peaktrade.data.schema import (
    BARS_COLUMNS,
    OPTIONAL_COLUMNS,
    bars_from_arrays,
    canonical_symbol,
    canonical_timeframe,
    fingerprint,
    timeframe_to_minutes,
    to_utc_timestamp,
    validate_bars,
)
from peaktrade.errors import DataError, bad_value

MANIFEST_FORMAT = 1
#: Name of the fingerprint scheme (documented in :func:`peaktrade.data.schema.fingerprint`).
FINGERPRINT_SCHEME = "sha256:int64-ns-times+float64-ohlcv[+trades],little-endian,column-major"
_EXCHANGE_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
_ALL_COLUMNS = (*BARS_COLUMNS, *OPTIONAL_COLUMNS)


@dataclass(frozen=True)
class WriteStats:
    """What one :meth:`BarStore.write` did.

    Attributes
    ----------
    added
        Incoming bars at times not stored before.
    updated
        Stored bars replaced by a different incoming bar.
    unchanged
        Incoming bars equal to the stored ones (nothing written for them).
    removed
        Stored bars dropped (only with ``replace=True``).
    notes
        Remarks for the user (e.g. a column dropped by the merge).
    """

    added: int
    updated: int
    unchanged: int
    removed: int = 0
    notes: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        """Return whether the stored data set changed."""
        return bool(self.added or self.updated or self.removed)


@dataclass(frozen=True)
class Manifest:
    """Description of one stored data set (persisted as ``<timeframe>.manifest.json``).

    Attributes
    ----------
    exchange, symbol, timeframe
        Identity of the data set.
    sources
        Where its bars came from (e.g. ``"kraken-ohlcvt:XBTUSD_60.csv.gz"``, ``"ccxt:kraken"``).
    rows, first, last
        Number of bars and the open times of the first and last bar.
    columns
        Stored value columns, in order.
    gaps
        ``{"n_gaps": ..., "missing_bars": ..., "longest": ...}`` (see :func:`~peaktrade.data.audit_gaps`).
    fingerprint
        sha256 hex digest of the bars' canonical encoding (:func:`peaktrade.data.schema.fingerprint`).
    synthetic
        True for generated (not market) data.
    updated_at
        When the bars last changed.
    changes
        Statistics of the write that returned this manifest (None when read from disk; not persisted).
    """

    exchange: str
    symbol: str
    timeframe: str
    sources: tuple[str, ...]
    rows: int
    first: pd.Timestamp
    last: pd.Timestamp
    columns: tuple[str, ...]
    gaps: dict[str, int]
    fingerprint: str
    synthetic: bool
    updated_at: pd.Timestamp
    changes: WriteStats | None = field(default=None, compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """Return the manifest as JSON-ready data (timestamps as ISO 8601 UTC strings)."""
        return {
            "format": MANIFEST_FORMAT,
            "exchange": self.exchange,
            "symbol": self.symbol,
            "timeframe": self.timeframe,
            "sources": list(self.sources),
            "rows": self.rows,
            "first": _iso(self.first),
            "last": _iso(self.last),
            "columns": list(self.columns),
            "gaps": dict(self.gaps),
            "fingerprint": self.fingerprint,
            "fingerprint_scheme": FINGERPRINT_SCHEME,
            "synthetic": self.synthetic,
            "updated_at": _iso(self.updated_at),
        }

    def to_json(self) -> str:
        """Return the manifest as deterministic, indented JSON text."""
        return json.dumps(self.to_dict(), indent=2) + "\n"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Manifest:
        """Build a manifest from :meth:`to_dict` data."""
        return cls(
            exchange=data["exchange"],
            symbol=data["symbol"],
            timeframe=data["timeframe"],
            sources=tuple(data["sources"]),
            rows=int(data["rows"]),
            first=pd.Timestamp(data["first"]),
            last=pd.Timestamp(data["last"]),
            columns=tuple(data["columns"]),
            gaps={k: int(v) for k, v in data["gaps"].items()},
            fingerprint=data["fingerprint"],
            synthetic=bool(data["synthetic"]),
            updated_at=pd.Timestamp(data["updated_at"]),
        )


def _iso(ts: pd.Timestamp) -> str:
    return ts.tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ")


class BarStore:
    """Parquet store of bars under ``root`` (see the module docstring for layout and guarantees).

    Parameters
    ----------
    root
        Directory of the store; created on the first write.
    """

    def __init__(self, root: str | PathLike[str]) -> None:
        self.root = Path(root).expanduser()

    def __repr__(self) -> str:
        return f"BarStore({str(self.root)!r})"

    # ---------------------------------------------------------------- naming
    def _key(self, exchange: str, symbol: str, timeframe: str) -> tuple[str, str, str]:
        ex = exchange.strip().lower() if isinstance(exchange, str) else exchange
        if not isinstance(ex, str) or not _EXCHANGE_RE.match(ex):
            raise DataError(bad_value("exchange", exchange, "a name of letters, digits, '_', '-' or '.'"))
        return ex, canonical_symbol(symbol), canonical_timeframe(timeframe)

    def paths(self, exchange: str, symbol: str, timeframe: str) -> tuple[Path, Path]:
        """Return the (parquet, manifest) paths of a data set."""
        ex, sym, tf = self._key(exchange, symbol, timeframe)
        d = self.root / ex / sym.replace("/", "-")
        return d / f"{tf}.parquet", d / f"{tf}.manifest.json"

    def exists(self, exchange: str, symbol: str, timeframe: str) -> bool:
        """Return whether the data set is stored."""
        data, man = self.paths(exchange, symbol, timeframe)
        return data.is_file() and man.is_file()

    # ---------------------------------------------------------------- reading
    def manifest(self, exchange: str, symbol: str, timeframe: str) -> Manifest:
        """Return the manifest of a stored data set.

        Raises
        ------
        DataError
            When the data set is not stored (listing what is) or its manifest is unreadable.
        """
        if not self.exists(exchange, symbol, timeframe):
            raise DataError(self._missing_message(exchange, symbol, timeframe))
        return self._load_manifest(self.paths(exchange, symbol, timeframe)[1])

    def _load_manifest(self, path: Path) -> Manifest:
        try:
            return Manifest.from_dict(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise DataError(f"{path}: unreadable manifest ({type(e).__name__}: {e})") from None

    def datasets(self) -> list[Manifest]:
        """Return the manifests of all stored data sets, sorted by exchange, symbol and timeframe."""
        if not self.root.is_dir():
            return []
        found = [self._load_manifest(p) for p in self.root.glob("*/*/*.manifest.json")]
        return sorted(found, key=lambda m: (m.exchange, m.symbol, timeframe_to_minutes(m.timeframe)))

    def _missing_message(self, exchange: str, symbol: str, timeframe: str) -> str:
        ex, sym, tf = self._key(exchange, symbol, timeframe)
        stored = ", ".join(f"{m.exchange} {m.symbol} {m.timeframe}" for m in self.datasets()) or "nothing"
        return f"no data set {ex} {sym} {tf} in {self.root} (stored: {stored})"

    def read(
        self,
        exchange: str,
        symbol: str,
        timeframe: str,
        *,
        start: Any = None,
        end: Any = None,
    ) -> pd.DataFrame:
        """Return the stored bars with ``start <= time < end``.

        Parameters
        ----------
        exchange, symbol, timeframe
            The data set.
        start, end
            Optional bounds (str, datetime or Timestamp; naive values are UTC); ``end`` is exclusive.

        Raises
        ------
        DataError
            When the data set is not stored or its file is unreadable.
        """
        data, _ = self.paths(exchange, symbol, timeframe)
        if not self.exists(exchange, symbol, timeframe):
            raise DataError(self._missing_message(exchange, symbol, timeframe))
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(data)
        except Exception as e:  # pyarrow raises several types for damaged files
            raise DataError(f"{data}: unreadable Parquet file ({type(e).__name__}: {e})") from None
        ns = table.column("time").to_numpy().view(np.int64)
        lo, hi = 0, len(ns)
        if start is not None:
            lo = int(np.searchsorted(ns, to_utc_timestamp(start, name="start").as_unit("ns").value, "left"))
        if end is not None:
            hi = int(np.searchsorted(ns, to_utc_timestamp(end, name="end").as_unit("ns").value, "left"))
        hi = max(lo, hi)
        cols = {
            name: table.column(name).slice(lo, hi - lo).to_numpy(zero_copy_only=False)
            for name in table.column_names
            if name != "time"
        }
        return validate_bars(bars_from_arrays(ns[lo:hi], cols), name=str(data))

    # ---------------------------------------------------------------- writing
    def write(
        self,
        exchange: str,
        symbol: str,
        timeframe: str,
        bars: pd.DataFrame,
        *,
        source: str,
        synthetic: bool = False,
        replace: bool = False,
    ) -> Manifest:
        """Merge ``bars`` into the data set and return its manifest.

        Parameters
        ----------
        exchange, symbol, timeframe
            The data set (created when missing).
        bars
            Valid bars at ``timeframe`` (columns from the bars contract only).
        source
            Where the bars came from; recorded in the manifest when they change the data set.
        synthetic
            Mark the data set as generated data. Synthetic and market bars never mix.
        replace
            Replace the data set instead of merging into it.

        Returns
        -------
        Manifest
            With ``changes`` telling how many bars were added, updated and unchanged. When no bar
            changes nothing is written and the stored manifest is returned as it was.

        Raises
        ------
        DataError
            For invalid bars, names or a synthetic/market mix; the store is left untouched.
        """
        ex, sym, tf = self._key(exchange, symbol, timeframe)
        label = f"{ex} {sym} {tf}"
        if not isinstance(source, str) or not source.strip():
            raise DataError(bad_value("source", source, "a non-empty description of where the bars came from"))
        bars = validate_bars(bars, name=f"bars for {label}")
        extra = [c for c in bars.columns if c not in _ALL_COLUMNS]
        if extra:
            raise DataError(f"bars for {label}: unexpected column(s) {extra}; the store keeps {list(_ALL_COLUMNS)}")
        old_manifest = self.manifest(ex, sym, tf) if self.exists(ex, sym, tf) else None
        if old_manifest is not None and old_manifest.synthetic != bool(synthetic) and not replace:
            kinds = ("synthetic", "market") if synthetic else ("market", "synthetic")
            raise DataError(f"refusing to merge {kinds[0]} bars into the {kinds[1]} data set {label}")
        old = self.read(ex, sym, tf) if old_manifest is not None else None
        if len(bars) == 0 and (old is None or replace):
            raise DataError(f"no bars to write for {label}")
        merged, stats = _merge(old, bars, replace=replace)
        if old_manifest is not None and not stats.changed and tuple(merged.columns) == old_manifest.columns:
            return _with(old_manifest, changes=stats)
        gaps = audit_gaps(merged, tf)  # also checks that the bars lie on the timeframe grid
        sources = (source,) if replace or old_manifest is None else tuple(sorted({*old_manifest.sources, source}))
        manifest = Manifest(
            exchange=ex,
            symbol=sym,
            timeframe=tf,
            sources=sources,
            rows=len(merged),
            first=merged.index[0],
            last=merged.index[-1],
            columns=tuple(merged.columns),
            gaps=gaps.to_dict(),
            fingerprint=fingerprint(merged),
            synthetic=bool(synthetic),
            updated_at=pd.Timestamp.now(tz="UTC").floor("s"),
            changes=stats,
        )
        data_path, man_path = self.paths(ex, sym, tf)
        table = _to_table(merged)
        atomic_write(data_path, lambda p: _write_parquet(table, p))
        atomic_write_text(man_path, manifest.to_json())
        return manifest


def _with(m: Manifest, **changes: Any) -> Manifest:
    return _dc_replace(m, **changes)


def _merge(old: pd.DataFrame | None, new: pd.DataFrame, *, replace: bool) -> tuple[pd.DataFrame, WriteStats]:
    """Return (merged bars, stats); ``old`` when nothing changes."""
    new = new[[c for c in _ALL_COLUMNS if c in new.columns]]
    if old is None or len(old) == 0:
        return new, WriteStats(added=len(new), updated=0, unchanged=0)
    o_ns, n_ns = old.index.asi8, new.index.asi8
    pos = np.minimum(np.searchsorted(o_ns, n_ns), len(o_ns) - 1)
    overlap = o_ns[pos] == n_ns
    op = pos[overlap]
    differs = np.zeros(int(overlap.sum()), np.bool_)
    for c in (*BARS_COLUMNS, "trades"):
        if c in old.columns and c in new.columns:
            differs |= old[c].to_numpy()[op] != new[c].to_numpy()[overlap]
    new_filled = new["filled"].to_numpy() if "filled" in new.columns else np.zeros(len(new), np.bool_)
    old_filled = old["filled"].to_numpy() if "filled" in old.columns else np.zeros(len(old), np.bool_)
    # a real incoming bar replaces a stored filled one even with equal values
    differs |= old_filled[op] & ~new_filled[overlap]
    if replace:
        take = np.ones(len(new), np.bool_)
        keep_old = np.zeros(len(old), np.bool_)
        stats = WriteStats(
            added=int((~overlap).sum()),
            updated=int(differs.sum()),
            unchanged=int((~differs).sum()),
            removed=len(old) - int(overlap.sum()),
        )
        if not stats.changed and set(old.columns) == set(new.columns):
            return old, stats
    else:
        upd = differs & ~new_filled[overlap]  # a filled incoming bar never replaces a stored bar
        take = ~overlap
        take[overlap] = upd
        keep_old = np.ones(len(old), np.bool_)
        keep_old[op[upd]] = False
        stats = WriteStats(
            added=int((~overlap).sum()), updated=int(upd.sum()), unchanged=len(new) - int((~overlap).sum() + upd.sum())
        )
        if not stats.changed:
            return old, stats
    n_old, n_new = int(keep_old.sum()), int(take.sum())
    notes: list[str] = []
    cols: dict[str, np.ndarray] = {}
    for c in _ALL_COLUMNS:
        in_old, in_new = c in old.columns, c in new.columns
        if not (in_old or in_new):
            continue
        if c == "trades" and not ((in_old or n_old == 0) and (in_new or n_new == 0)):
            notes.append("the 'trades' column is not in every bar: dropped from the data set")
            continue
        parts = []
        for frame, mask, present, k in ((old, keep_old, in_old, n_old), (new, take, in_new, n_new)):
            if k == 0:
                continue
            parts.append(frame[c].to_numpy()[mask] if present else np.zeros(k, np.bool_))  # filled = False
        cols[c] = np.concatenate(parts) if parts else np.empty(0)
    ns = np.concatenate((o_ns[keep_old], n_ns[take]))
    order = np.argsort(ns, kind="stable")
    merged = bars_from_arrays(ns[order], {c: v[order] for c, v in cols.items()})
    stats = _dc_replace(stats, notes=tuple(notes)) if notes else stats
    return validate_bars(merged, name="merged bars"), stats


def _to_table(bars: pd.DataFrame):
    import pyarrow as pa

    fields = [pa.field("time", pa.timestamp("ns", tz="UTC"), nullable=False)]
    arrays = [pa.array(bars.index.asi8, type=pa.int64()).cast(pa.timestamp("ns", tz="UTC"))]
    for c in bars.columns:
        typ = pa.bool_() if c == "filled" else pa.float64()
        fields.append(pa.field(c, typ, nullable=False))
        arrays.append(pa.array(bars[c].to_numpy(), type=typ))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def _write_parquet(table, path: Path) -> None:
    import pyarrow.parquet as pq

    pq.write_table(table, path, compression="zstd", use_dictionary=False, write_statistics=True)
