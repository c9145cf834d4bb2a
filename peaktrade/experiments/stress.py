"""Stress scenarios: re-run a strategy on deliberately worsened markets and costs."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from peaktrade.errors import PeakTradeError, bad_value

STRESS_STATS = ("total_return", "cagr", "sharpe", "max_drawdown", "n_trades", "win_rate", "total_fees")


def _scale_volatility(bars: pd.DataFrame, mult: float) -> pd.DataFrame:
    """Return bars whose log-price deviations from the first open are multiplied by ``mult``."""
    out = bars.copy()
    base = np.log(bars["open"].iloc[0])
    for col in ("open", "high", "low", "close"):
        out[col] = np.exp(base + (np.log(bars[col]) - base) * mult)
    return out


def _crash(bars: pd.DataFrame, shock: float, at: int) -> pd.DataFrame:
    """Return bars where every price from bar ``at`` on is scaled by ``1 + shock`` (a gap down)."""
    out = bars.copy()
    cols = ["open", "high", "low", "close"]
    out.iloc[at:, [out.columns.get_loc(c) for c in cols]] *= 1.0 + shock
    return out


def stress_scenarios(strategy: Any, bars: pd.DataFrame, *, shock: float = -0.3, vol_mult: float = 2.0,
                     cost_mult: float = 3.0, fees: float = 0.0026, slippage: float = 0.0005,
                     **kwargs: Any) -> pd.DataFrame:
    """Return key stats of a strategy under stress scenarios, one row per scenario.

    Scenarios: ``baseline``; ``crash`` (all prices gap down by ``shock`` at the middle bar and stay
    there); ``volatility_x{vol_mult}`` (log-price path amplified); ``costs_x{cost_mult}`` (fees and
    slippage multiplied); ``execution_close_vs_next_open`` (the other fill timing).

    Parameters
    ----------
    strategy, bars
        As for :func:`peaktrade.backtest.run`.
    **kwargs
        Strategy parameters and other backtest options for every run.
    """
    from peaktrade.backtest import run

    if not -1.0 < shock < 0.0:
        raise PeakTradeError(bad_value("shock", shock, "a number in (-1, 0)"))
    if not vol_mult > 0 or not cost_mult > 0:
        raise PeakTradeError(bad_value("vol_mult/cost_mult", (vol_mult, cost_mult), "positive numbers"))
    execution = kwargs.pop("execution", "next_open")
    other = "close" if execution == "next_open" else "next_open"
    base = dict(fees=fees, slippage=slippage, execution=execution, **kwargs)
    runs = {
        "baseline": (bars, base),
        "crash": (_crash(bars, shock, len(bars) // 2), base),
        f"volatility_x{vol_mult:g}": (_scale_volatility(bars, vol_mult), base),
        f"costs_x{cost_mult:g}": (bars, {**base, "fees": min(fees * cost_mult, 0.5),
                                         "slippage": min(slippage * cost_mult, 0.5)}),
        f"execution_{other}": (bars, {**base, "execution": other}),
    }
    rows = {name: run(strategy, b, **kw).stats()[list(STRESS_STATS)] for name, (b, kw) in runs.items()}
    return pd.DataFrame(rows).T.rename_axis("scenario")
