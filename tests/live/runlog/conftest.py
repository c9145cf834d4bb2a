"""A run log with ten events in five flushed batches (one bar and one equity event each)."""

from __future__ import annotations

import pandas as pd
import pytest

from peaktrade.live.runlog import RunLog


@pytest.fixture
def log(tmp_path):
    rl = RunLog.create(tmp_path / "runs", "r1", {"environment": "paper", "strategy": "s", "symbol": "BTC/USD"})
    t0 = pd.Timestamp("2024-01-01", tz="UTC")
    for i in range(5):
        rl.event("bar", t0 + pd.Timedelta(hours=i), {"close": 100.0 + i})
        rl.event("equity", t0 + pd.Timedelta(hours=i + 1), {"equity": 1000.0 + i, "nan": float("nan")})
        rl.flush()
    return rl
