"""Bar builders and signal helpers shared by the strategy tests (imported as a top-level module)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from peaktrade.strategies import generate_signals


def bars_from_close(close, *, spread: float = 0.5) -> pd.DataFrame:
    """Return bars with the given closes, open = previous close, high/low = close ± spread."""
    c = np.asarray(close, dtype=float)
    idx = pd.date_range("2024-01-01", periods=len(c), freq="h", tz="UTC")
    return pd.DataFrame(
        {"open": np.r_[c[0], c[:-1]], "high": c + spread, "low": c - spread, "close": c, "volume": np.ones(len(c))},
        index=idx,
    )


def signal_bars(name, bars, **params) -> tuple[list[int], list[int]]:
    """Return the bar numbers of the entries and of the exits."""
    e, x = generate_signals(name, bars, **params)
    return [int(i) for i in np.flatnonzero(e.to_numpy())], [int(i) for i in np.flatnonzero(x.to_numpy())]


def implied_position(entries, exits) -> np.ndarray:
    """Return 1.0 on bars a long is held after its entry (inclusive) until its exit (exit wins)."""
    pos = np.zeros(len(entries))
    cur = 0.0
    for i, (e, x) in enumerate(zip(np.asarray(entries), np.asarray(exits))):
        if x:
            cur = 0.0
        elif e:
            cur = 1.0
        pos[i] = cur
    return pos
