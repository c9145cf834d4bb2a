"""Stress scenarios: re-run a strategy on deliberately worsened markets and costs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from peaktrade.errors import PeakTradeError, bad_value

if TYPE_CHECKING:
    from peaktrade.config import Config

STRESS_STATS = ("total_return", "cagr", "sharpe", "max_drawdown", "n_trades", "win_rate", "total_fees",
                "excess_return")


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
                     cost_mult: float = 3.0, config: Config | None = None, **kwargs: Any) -> pd.DataFrame:
    """Return key stats of a strategy under stress scenarios, one row per scenario.

    Scenarios: ``baseline``; ``crash`` (all prices gap down by ``shock`` at the middle bar and stay
    there); ``volatility_x{vol_mult}`` (log-price path amplified); ``costs_x{cost_mult}`` (fees and
    slippage multiplied); ``execution_close_vs_next_open`` (the other fill timing). The ``note`` column
    says why a scenario's row equals the baseline's (e.g. the strategy held no position at the shock),
    and the ``baseline`` row states the costs and execution every scenario starts from.

    Parameters
    ----------
    strategy, bars
        As for :func:`peaktrade.backtest.run`.
    config
        Where backtest options not given come from (default: the project's config, as for ``run``).
    **kwargs
        Strategy parameters and backtest options for every run (fees, slippage, execution, ...).
    """
    from peaktrade.backtest import run
    from peaktrade.backtest.engine import pop_options
    from peaktrade.config import load_config
    from peaktrade.strategies.registry import get_strategy

    if not -1.0 < shock < 0.0:
        raise PeakTradeError(bad_value("shock", shock, "a number in (-1, 0)"))
    if not vol_mult > 0 or not cost_mult > 0:
        raise PeakTradeError(bad_value("vol_mult/cost_mult", (vol_mult, cost_mult), "positive numbers"))
    config = config if config is not None else load_config()
    kwargs = dict(kwargs)
    # kwargs keeps the strategy's parameters (and stops); a declared direction is the default
    opts, source = pop_options(kwargs, config, strategy=get_strategy(strategy))
    base = {**opts.to_dict(stops=False), **kwargs}
    other = "close" if opts.execution == "next_open" else "next_open"
    at = len(bars) // 2
    runs = {
        "baseline": (bars, base),
        "crash": (_crash(bars, shock, at), base),
        f"volatility_x{vol_mult:g}": (_scale_volatility(bars, vol_mult), base),
        f"costs_x{cost_mult:g}": (bars, {**base, "fees": min(opts.costs.fees * cost_mult, 0.5),
                                         "slippage": min(opts.costs.slippage * cost_mult, 0.5)}),
        f"execution_{other}": (bars, {**base, "execution": other}),
    }
    results = {name: run(strategy, b, config=config, **kw) for name, (b, kw) in runs.items()}
    rows = {name: r.stats()[list(STRESS_STATS)] for name, r in results.items()}
    out = pd.DataFrame(rows).T.rename_axis("scenario")
    baseline = results["baseline"]
    notes = {name: _why_unchanged(name, rows[name], rows["baseline"], baseline, at)
             for name in rows if name != "baseline"}
    notes["baseline"] = baseline.costs
    out["note"] = pd.Series(notes)
    return out


def _why_unchanged(name: str, row: pd.Series, base: pd.Series, baseline: Any, at: int) -> str:
    """Return why a scenario's stats equal the baseline's ("" when they differ; the strategy's own stats
    are compared, not ``excess_return``, which moves with the stressed market's buy and hold)."""
    own = [k for k in row.index if k != "excess_return"]
    a, b = row[own].to_numpy(dtype=float), base[own].to_numpy(dtype=float)
    if not np.allclose(a, b, rtol=1e-12, atol=0.0, equal_nan=True):
        return ""
    if len(baseline.trades) == 0:
        return "equal to baseline: the strategy never traded, so there is nothing for the scenario to change"
    if name == "crash":
        # the gap opens bar ``at``: what counts is the position carried from the close before it
        held = float(baseline.positions.iloc[at - 1]) if at > 0 else 0.0
        if held == 0.0:
            return (f"equal to baseline: flat at the shock ({baseline.positions.index[at]:%Y-%m-%d %H:%M}): no "
                    "position held, and the strategy's signals do not depend on the price level")
        return "equal to baseline: the strategy's returns do not depend on the price level at the shock"
    if name.startswith("costs_"):
        return "equal to baseline: the baseline has no fees or slippage to multiply"
    return "equal to baseline: the same trades at the same prices"
