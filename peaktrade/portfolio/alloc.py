"""Allocation rules: target weights per asset at the bars where they are recomputed.

Every rule is a function of the close-to-close returns *before* the bar it decides for: the weights
for bar ``t`` read returns up to bar ``t − 1``'s close, never bar ``t`` (tests perturb everything from
bar ``t`` on and check the weights do not move). Weights are fractions of the portfolio's value; an
asset that is not listed yet (no bar so far) gets none. Rules with a lookback hold cash until an
asset has ``min_periods`` returns in the window.

=================  ==================================================================================
``equal``          1 / k for each of the k listed assets
``fixed``          the given ``weights`` (symbol → fraction), an unlisted asset's share stays cash
``inverse_vol``    ∝ 1 / std of the asset's returns over ``lookback`` bars
``vol_target``     ``base`` weights (equal or inverse_vol) scaled so the portfolio's volatility over
                   ``lookback`` bars hits ``target_vol`` (annual), the gross exposure capped by
                   ``max_leverage``
``erc``            equal risk contribution (skfolio ``RiskBudgeting``, variance) over ``lookback``
``hrp``            hierarchical risk parity (skfolio ``HierarchicalRiskParity``, variance)
=================  ==================================================================================

ERC and HRP are fitted at the bars where weights are recomputed only (the rebalance bars), never per bar.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from peaktrade.errors import BacktestError, bad_value

ALLOCATORS = ("equal", "fixed", "inverse_vol", "vol_target", "erc", "hrp")
_LOOKBACK = frozenset({"inverse_vol", "vol_target", "erc", "hrp"})


@dataclass(frozen=True, kw_only=True)
class Allocation:
    """A validated allocation rule and its parameters (see the module docstring)."""

    rule: str = "equal"
    weights: dict[str, float] = field(default_factory=dict)  # fixed
    lookback: int | None = None  # bars; None: 30 days of bars
    min_periods: int | None = None  # returns needed in the window; None: lookback // 2 (at least 2)
    target_vol: float = 0.5  # vol_target: annual volatility
    max_leverage: float = 1.0  # vol_target: cap of the gross exposure
    base: str = "equal"  # vol_target: the weights it scales

    def __post_init__(self) -> None:
        if self.rule not in ALLOCATORS:
            raise BacktestError(bad_value("alloc", self.rule, "one of " + ", ".join(ALLOCATORS)))
        if self.lookback is not None and (isinstance(self.lookback, bool) or not isinstance(self.lookback, (int, np.integer))
                                          or self.lookback < 2):
            raise BacktestError(bad_value("lookback", self.lookback, "a whole number of bars >= 2"))
        if self.min_periods is not None and (not isinstance(self.min_periods, (int, np.integer))
                                             or self.min_periods < 2):
            raise BacktestError(bad_value("min_periods", self.min_periods, "a whole number >= 2"))
        for name in ("target_vol", "max_leverage"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float, np.number)) and not isinstance(v, bool) and math.isfinite(v) and v > 0):
                raise BacktestError(bad_value(name, v, "a positive number"))
        if self.max_leverage < 1.0:
            raise BacktestError(bad_value("max_leverage", self.max_leverage, "a number >= 1"))
        if self.base not in ("equal", "inverse_vol"):
            raise BacktestError(bad_value("base", self.base, "'equal' or 'inverse_vol'"))
        if self.rule == "fixed":
            if not self.weights:
                raise BacktestError("alloc='fixed' needs weights={symbol: fraction, ...}: none were given")
            for k, v in self.weights.items():
                if not (isinstance(v, (int, float, np.number)) and not isinstance(v, bool) and math.isfinite(v)
                        and v >= 0):
                    raise BacktestError(bad_value(f"weights[{k!r}]", v, "a fraction >= 0"))
            if sum(self.weights.values()) > 1.0 + 1e-12:
                raise BacktestError(bad_value("weights", self.weights, "fractions summing to at most 1 "
                                              "(a cash account: the rest stays cash)"))

    @property
    def uses_returns(self) -> bool:
        """Whether the rule reads past returns (and so has a warm-up)."""
        return self.rule in _LOOKBACK

    @property
    def leverage(self) -> float:
        """The largest gross exposure the rule may ask for."""
        return self.max_leverage if self.rule == "vol_target" else 1.0

    def to_dict(self) -> dict[str, Any]:
        """Return the parameters that matter for this rule (what results and MLflow record)."""
        d: dict[str, Any] = {"alloc": self.rule}
        if self.rule == "fixed":
            d["weights"] = dict(self.weights)
        if self.uses_returns:
            d["lookback"] = self.lookback
        if self.rule == "vol_target":
            d.update(target_vol=self.target_vol, max_leverage=self.max_leverage, base=self.base)
        return d


def compute_weights(alloc: Allocation, returns: np.ndarray, listed: np.ndarray, at: np.ndarray,
                    symbols: list[str], ann_factor: float) -> np.ndarray:
    """Return the target weights (len(at), m) for the bars ``at``.

    ``returns[t, j]`` is asset j's close-to-close return ending at bar t's close (NaN where either
    close is missing); ``listed[t, j]`` whether asset j has had a bar at or before bar t. The weights
    for bar t read ``returns[:t]`` only.
    """
    n, m = returns.shape
    out = np.zeros((len(at), m))
    lookback = int(alloc.lookback) if alloc.lookback is not None else 2
    min_periods = alloc.min_periods or max(2, lookback // 2)
    if alloc.rule == "fixed":
        unknown = sorted(set(alloc.weights) - set(symbols))
        if unknown:
            raise BacktestError(f"weights name {', '.join(map(repr, unknown))}: expected symbols among "
                                f"{', '.join(symbols)}")
        fixed = np.array([float(alloc.weights.get(s, 0.0)) for s in symbols])
    for i, t in enumerate(at):
        ok = listed[t]
        if alloc.rule == "equal":
            k = ok.sum()
            out[i] = np.where(ok, 1.0 / k, 0.0) if k else 0.0
            continue
        if alloc.rule == "fixed":
            out[i] = np.where(ok, fixed, 0.0)
            continue
        window = returns[max(0, t - lookback):t]  # returns up to bar t-1's close
        valid = ok & (np.sum(np.isfinite(window), axis=0) >= min_periods)
        if not valid.any():
            continue  # warm-up: cash
        cols = np.flatnonzero(valid)
        w = _rule_weights(alloc, window[:, cols], ann_factor)
        out[i, cols] = w
    return out


def _inverse_vol(x: np.ndarray) -> np.ndarray:
    sd = np.nanstd(x, axis=0, ddof=1)
    inv = np.where(sd > 0, 1.0 / np.where(sd > 0, sd, 1.0), 0.0)
    return inv / inv.sum() if inv.sum() > 0 else np.full(x.shape[1], 1.0 / x.shape[1])


def _rule_weights(alloc: Allocation, x: np.ndarray, ann_factor: float) -> np.ndarray:
    k = x.shape[1]
    if alloc.rule == "inverse_vol":
        return _inverse_vol(x)
    if alloc.rule == "vol_target":
        base = _inverse_vol(x) if alloc.base == "inverse_vol" else np.full(k, 1.0 / k)
        port = np.nansum(np.where(np.isfinite(x), x, 0.0) * base, axis=1)
        vol = float(np.std(port, ddof=1) * math.sqrt(ann_factor)) if len(port) > 1 else 0.0
        scale = alloc.max_leverage if not vol > 0 else min(alloc.max_leverage, alloc.target_vol / vol)
        return base * scale
    # ERC / HRP: skfolio on the rows where every chosen asset has a return
    rows = np.isfinite(x).all(axis=1)
    xx = x[rows]
    if k == 1:
        return np.ones(1)
    if len(xx) < 3:
        return np.full(k, 1.0 / k)
    from skfolio import RiskMeasure
    from skfolio.optimization import HierarchicalRiskParity, RiskBudgeting

    model = (RiskBudgeting(risk_measure=RiskMeasure.VARIANCE) if alloc.rule == "erc"
             else HierarchicalRiskParity(risk_measure=RiskMeasure.VARIANCE))
    w = np.asarray(model.fit(xx).weights_, dtype=np.float64)
    w = np.clip(w, 0.0, None)
    return w / w.sum() if w.sum() > 0 else np.full(k, 1.0 / k)


__all__ = ["ALLOCATORS", "Allocation", "compute_weights"]
