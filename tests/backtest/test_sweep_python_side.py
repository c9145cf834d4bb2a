"""The Python side of a sweep (issue 14, item 1): work done once per sweep, not once per use."""

from __future__ import annotations

from helpers import random_bars

import peaktrade.config
from peaktrade.backtest import sweep


def test_sweep_when_config_not_given_then_the_project_config_is_loaded_once(monkeypatch):
    calls = []
    real = peaktrade.config.load_config

    def counting(*a, **k):
        calls.append(a)
        return real(*a, **k)

    monkeypatch.setattr(peaktrade.config, "load_config", counting)
    res = sweep("ma_crossover", random_bars(300, seed=3), fast=[5, 10], slow=[20, 30], progress=False)
    assert len(res.table) == 4
    assert len(calls) == 1  # the options and the memory limit read the same loaded config
