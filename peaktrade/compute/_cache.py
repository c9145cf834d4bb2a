"""The chunk cache: each finished chunk of a distributed sweep on disk, keyed by what its rows depend on (the
data fingerprint, the code version, the strategy, the backtest options and the chunk's combinations), so a
sweep that was killed resumes where it stopped and a repeated sweep is read back."""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from peaktrade._files import atomic_write

#: Bump when what a chunk file holds (or how its key is formed) changes: old files are then never read.
CACHE_VERSION = 1
#: The packages whose code computes a sweep row; their sources are part of the code version.
_CODE_PACKAGES = ("backtest", "indicators", "strategies", "data")


@functools.lru_cache(maxsize=1)
def _package_code() -> str:
    """Return the hash of the sources of the packages that compute sweep rows and of the libraries' versions."""
    import numba
    import pandas

    h = hashlib.sha256(f"{np.__version__} {numba.__version__} {pandas.__version__}".encode())
    root = Path(__file__).resolve().parents[1]
    for pkg in _CODE_PACKAGES:
        for f in sorted((root / pkg).rglob("*.py")):
            h.update(str(f.relative_to(root)).encode())
            h.update(f.read_bytes())
    return h.hexdigest()


def code_version(strat: Any) -> str | None:
    """Return the code version a chunk of ``strat`` depends on: peaktrade's computing packages and the strategy's
    code (:func:`peaktrade.strategies.code.strategy_code_hash`: its modules and, transitively, the project modules
    they use). None when the strategy's code cannot be read (defined in a notebook's ``__main__``): such a sweep
    is never cached (fails closed: a stale row is worse than a recomputed one)."""
    from peaktrade.strategies.code import strategy_code_hash

    code = strategy_code_hash(strat)
    if code != strategy_code_hash(strat):  # it is made unique (random) when there is no code to hash
        return None
    return hashlib.sha256(f"{_package_code()} {code}".encode()).hexdigest()


class ChunkCache:
    """Chunk results in ``root`` (one ``<key>.npz`` each, written atomically: a killed writer leaves no file)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    @staticmethod
    def key(**parts: Any) -> str:
        """Return the key of a chunk from what its rows depend on (JSON of ``parts``, sorted)."""
        doc = json.dumps({"version": CACHE_VERSION, **parts}, sort_keys=True, default=repr, separators=(",", ":"))
        return hashlib.sha256(doc.encode()).hexdigest()

    def path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.npz"

    def get(self, key: str) -> tuple[list[str], np.ndarray, np.ndarray] | None:
        """Return (stat columns, stats, part sums) of a cached chunk, or None (absent or unreadable: recomputed)."""
        p = self.path(key)
        if not p.is_file():
            return None
        try:
            with np.load(p, allow_pickle=False) as z:
                return [str(c) for c in z["columns"]], z["stats"], z["part_sums"]
        except (OSError, ValueError, KeyError):
            return None

    def put(self, key: str, columns: list[str], stats: np.ndarray, part_sums: np.ndarray) -> None:
        def write(tmp: Path) -> None:
            with open(tmp, "wb") as f:  # a file object: np.savez would append ".npz" to a path
                np.savez(f, columns=np.asarray(columns, dtype=str), stats=stats, part_sums=part_sums)

        atomic_write(self.path(key), write)

    def __len__(self) -> int:
        return sum(1 for _ in self.root.rglob("*.npz")) if self.root.is_dir() else 0
