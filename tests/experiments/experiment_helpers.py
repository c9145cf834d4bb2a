"""Bar builders shared by the experiments tests (imported as a top-level module)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from helpers import random_bars


def squeeze_bars(n: int = 1200, *, seed: int = 0, every: int = 200, jump: float = 3.0) -> pd.DataFrame:
    """Return a random walk whose prices jump ×``jump`` at the open of every ``every``-th bar (a
    short squeeze): an all-in short held through a jump of ×2 or more is ruined."""
    b = random_bars(n, seed=seed)
    scale = jump ** (np.arange(n) // every)
    b[["open", "high", "low", "close"]] = b[["open", "high", "low", "close"]].to_numpy() * scale[:, None]
    return b
