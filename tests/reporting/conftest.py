"""Real inputs of the report tests: a backtest, a sweep, a walk-forward and a Monte Carlo result."""

from __future__ import annotations

import pandas as pd
import pytest


@pytest.fixture(scope="session")
def rbars() -> pd.DataFrame:
    """2,000 synthetic hourly bars (about three months: several monthly cells)."""
    from peaktrade.data import synthetic_bars

    return synthetic_bars(2000, seed=5)


@pytest.fixture(scope="session")
def rresult(rbars: pd.DataFrame):
    from peaktrade.backtest import run

    return run("ma_crossover", rbars, fees=0.001, fast=5, slow=20)


@pytest.fixture(scope="session")
def rsweep(rbars: pd.DataFrame):
    from peaktrade.backtest import sweep

    return sweep("ma_crossover", rbars, fees=0.001, fast=[5, 10, 15], slow=[30, 50, 80])


@pytest.fixture(scope="session")
def rwalk(rbars: pd.DataFrame):
    from peaktrade.experiments import walk_forward

    return walk_forward("ma_crossover", rbars, train=800, test=400, fast=[5, 10], slow=[30, 50], fees=0.001)


@pytest.fixture(scope="session")
def rmonte(rresult):
    from peaktrade.experiments import monte_carlo

    return monte_carlo(rresult, n_sims=200, seed=1, max_steps=200)
