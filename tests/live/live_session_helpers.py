"""Helpers of the session and run-log tests: a fake exchange (offline polling) and a stub safety
layer for the unit tests that inspect how sessions call it."""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


class FakeExchange:
    """A ccxt-like public client over fixed bars with a fake clock.

    ``fetch_ohlcv`` returns the candles whose open time is ≤ the clock, newest last, at most
    ``limit`` of them, *including the unfinished current candle* with a poisoned close (×10), as a
    venue does mid-candle; ``sleep(s)`` advances the clock. ``fail`` is a list of exceptions raised
    by the next fetches, one per call.
    """

    def __init__(self, bars: pd.DataFrame, *, now: pd.Timestamp, timeframe_ms: int = 3_600_000,
                 max_limit: int = 720) -> None:
        self.bars = bars
        self.ts = (bars.index.as_unit("ns").asi8 // 1_000_000).astype("int64")
        self.arr = bars[["open", "high", "low", "close", "volume"]].to_numpy(dtype=float)
        self.now = int(pd.Timestamp(now).value // 1_000_000)
        self.tf_ms = timeframe_ms
        self.max_limit = max_limit
        # what an ExchangeClient declares (adapters.base.Capabilities): the poller reads its candle limit here
        self.capabilities = types.SimpleNamespace(venue="fake", ohlcv_history_limit=max_limit)
        self.calls: list[dict[str, Any]] = []
        self.fail: list[BaseException] = []
        self.sleeps: list[float] = []

    def milliseconds(self) -> int:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += int(round(seconds * 1000))

    def fetch_ohlcv(self, symbol: str, timeframe: str, since: int | None = None, limit: int | None = None):
        self.calls.append({"symbol": symbol, "timeframe": timeframe, "since": since, "limit": limit, "now": self.now})
        if self.fail:
            raise self.fail.pop(0)
        import numpy as np

        hi = int(np.searchsorted(self.ts, self.now, side="right"))  # open time <= now
        lo = 0 if since is None else int(np.searchsorted(self.ts, since, side="left"))
        n = min(limit or self.max_limit, self.max_limit)
        lo = max(lo, hi - n)
        rows = [[int(ts), *map(float, r)] for ts, r in zip(self.ts[lo:hi], self.arr[lo:hi])]
        if rows and rows[-1][0] + self.tf_ms > self.now:  # the unfinished current candle: poisoned
            ts, o, h, low, c, v = rows[-1]
            rows[-1] = [ts, o, h * 10, low, c * 10, v / 2]
        return rows

    def poisoned_closes(self) -> set[float]:
        return set((self.bars["close"] * 10).round(6))


def stub_safety(monkeypatch: pytest.MonkeyPatch, checks: list[Any] | None = None) -> list[dict[str, Any]]:
    """Install a stub ``peaktrade.safety`` whose ``build_checks`` returns ``checks``; return its call log."""
    calls: list[dict[str, Any]] = []

    def build_checks(environment, *, config, executor_kind, now=None):
        calls.append({"environment": environment, "executor_kind": executor_kind, "config": config})
        return list(checks or [])

    mod = types.ModuleType("peaktrade.safety")
    mod.build_checks = build_checks  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "peaktrade.safety", mod)
    return calls


@pytest.fixture
def no_disk_sync(monkeypatch: pytest.MonkeyPatch) -> None:
    """Skip the per-bar fdatasync of run logs: for tests about trades, not durability (on a busy
    shared disk each sync can take milliseconds). The crash tests keep the real sync."""
    from peaktrade.live.runlog import writer

    monkeypatch.setattr(writer, "_sync", lambda fd: None)
