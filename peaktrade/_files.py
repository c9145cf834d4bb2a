"""Atomic file writes and JSON with an explicit policy for non-finite floats (one place).

Every file peaktrade writes that a reader may open concurrently (run logs' meta, kill-switch
state, reports, the Parquet store, saved results, cache entries) is written through
:func:`atomic_write`: a temporary file in the same directory, fsync, :func:`os.replace`, then an
fsync of the directory, so a reader sees the old or the new version, never a torn one, and a
crash leaves no partial file under the final name.

JSON has no NaN or infinity. :func:`jsonable` turns a value into plain JSON data and says what a
non-finite float becomes:

- ``non_finite="null"`` (default): ``null``; for event streams and state files, where a missing
  number is what a reader should see;
- ``non_finite="string"``: ``"nan"``, ``"inf"`` or ``"-inf"``; for saved statistics, which must
  read back as the same float (:func:`float` parses those strings).
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable, Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

NonFinite = Literal["null", "string"]

__all__ = ["NonFinite", "atomic_write", "atomic_write_json", "atomic_write_text", "dumps", "iso_time",
           "jsonable"]


def iso_time(ts: Any) -> str | None:
    """Return ``ts`` as an ISO 8601 UTC string (naive times are read as UTC), None for None/NaT."""
    if ts is None:
        return None
    t = pd.Timestamp(ts)
    if t is pd.NaT:
        return None
    t = t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")
    return t.isoformat()


def _non_finite(f: float, policy: NonFinite) -> str | None:
    if policy == "null":
        return None
    if policy == "string":
        return "nan" if math.isnan(f) else ("inf" if f > 0 else "-inf")
    raise ValueError(f"non_finite must be 'null' or 'string', got {policy!r}")


def jsonable(value: Any, *, non_finite: NonFinite = "null") -> Any:
    """Return ``value`` as plain JSON data.

    Timestamps become ISO 8601 UTC strings, timedeltas and paths strings, numpy scalars and arrays
    Python numbers and lists, enums their value, mappings dicts with string keys; non-finite floats
    follow ``non_finite`` (see the module docstring); anything else becomes its ``str``.
    """
    def conv(v: Any) -> Any:
        if v is None or isinstance(v, (str, bool)):
            return v
        if isinstance(v, np.bool_):
            return bool(v)
        if isinstance(v, (int, np.integer)):
            return int(v)
        if isinstance(v, (float, np.floating)):
            f = float(v)
            return f if math.isfinite(f) else _non_finite(f, non_finite)
        if isinstance(v, pd.Timestamp):
            return iso_time(v)
        if isinstance(v, (datetime, date)):
            return iso_time(pd.Timestamp(v))
        if isinstance(v, pd.Timedelta):
            return str(v)
        if isinstance(v, Path):
            return str(v)
        if isinstance(v, Mapping):
            return {str(k): conv(x) for k, x in v.items()}
        if isinstance(v, (list, tuple, set, frozenset, np.ndarray)):
            return [conv(x) for x in v]
        if isinstance(getattr(v, "value", None), (str, int)):  # enums
            return v.value
        return str(v)

    if non_finite not in ("null", "string"):
        raise ValueError(f"non_finite must be 'null' or 'string', got {non_finite!r}")
    return conv(value)


def dumps(value: Any, *, non_finite: NonFinite = "null", indent: int | None = None,
          sort_keys: bool = False) -> str:
    """Return ``value`` as strict JSON text (never ``NaN``/``Infinity``); see :func:`jsonable`."""
    separators = None if indent is not None else (",", ":")
    return json.dumps(jsonable(value, non_finite=non_finite), indent=indent, sort_keys=sort_keys,
                      separators=separators, allow_nan=False)


def _fsync_dir(d: Path) -> None:
    try:
        fd = os.open(d, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def _umask() -> int:
    """Return the process umask without changing it (Linux reads it; elsewhere set-and-restore)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write(path: str | os.PathLike[str], write: Callable[[Path], None], *, mode: int | None = None) -> Path:
    """Write ``path`` atomically: ``write(tmp)`` fills a temporary file in the same directory,
    which is fsynced, given ``mode`` and renamed over ``path``; the directory is then fsynced.

    ``mode`` None gives the file the permissions :func:`open` would (``0o666`` less the umask); state
    that must stay private passes ``0o600``.

    The parent directory is created. On any error the temporary file is removed and ``path`` is
    left as it was. Return ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask() if mode is None else mode)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return path


def atomic_write_text(path: str | os.PathLike[str], text: str, *, mode: int | None = None) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; see :func:`atomic_write`."""
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"), mode=mode)


def atomic_write_json(path: str | os.PathLike[str], data: Any, *, non_finite: NonFinite = "null",
                      indent: int | None = 2, sort_keys: bool = False, mode: int | None = None) -> Path:
    """Write ``data`` as strict JSON to ``path`` atomically; see :func:`jsonable` and :func:`atomic_write`."""
    text = dumps(data, non_finite=non_finite, indent=indent, sort_keys=sort_keys) + "\n"
    return atomic_write_text(path, text, mode=mode)
