"""``sweep_portfolio``: fused, parallel sweeps over allocation, rebalancing and gating parameters; every row equals
``run_portfolio`` for the same values; DSR and PBO from the experiments' functions."""

from __future__ import annotations

import math

import numpy as np
import pytest

from peaktrade.errors import BacktestError
from peaktrade.portfolio import run_portfolio
from peaktrade.portfolio.sweep import ROW_KEYS, sweep_portfolio

# slippage on: the rows must reproduce every cost of run_portfolio
OPTS = {"fees": 0.001, "slippage": 0.0005, "execution": "close", "init_cash": 10_000.0, "config": None}


@pytest.fixture(scope="module")
def bars():
    """Three seeded assets of 600 hourly bars; C starts 50 bars late and misses 10 (the missing-bar policy)."""
    from helpers import random_bars

    out = {s: random_bars(600, seed=i + 1, vol=0.01) for i, s in enumerate("ABC")}
    c = out["C"].iloc[50:]
    out["C"] = c.drop(c.index[200:210])
    return out


@pytest.fixture(scope="module")
def gated(bars):
    """48 combinations: two rules, three rebalance rules (calendar, drift, signal), lookback, vol target, a gate."""
    return sweep_portfolio(bars, alloc=["inverse_vol", "vol_target"], rebalance=["1D", "drift", "signal"],
                           lookback=[24, 72], target_vol=[0.3, 0.8], max_leverage=1.5, strategy="ma_crossover",
                           fast=[5, 10], slow=30, **OPTS)


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, rel=1e-12, abs=1e-12)


def test_sweep_portfolio_when_allocation_rebalance_and_gate_grids_then_each_row_equals_run_portfolio(bars, gated):
    t = gated.table
    assert len(t) == 2 * 3 * 2 * 2 * 2 and gated.param_names == ["alloc", "rebalance", "lookback", "target_vol", "fast"]
    assert list(t.columns[5:]) == list(ROW_KEYS)
    # every kind of combination: both rules × every rebalance rule, both gates, both lookbacks
    for label in (0, 5, 10, 15, 19, 22, 27, 33, 38, 41, 47):
        kw = gated.run_kwargs(label)
        st = run_portfolio(bars, **kw, config=None).stats()
        bad = [k for k in ROW_KEYS if not _same(float(t.at[label, k]), float(st[k]))]
        assert not bad, (label, kw, bad)
    assert t["n_orders"].min() > 0 and (t["ruined"] == 0).all()
    # the vol target moves the rows: the swept values reach the kernel
    vt = t[t["alloc"] == "vol_target"]
    assert vt.groupby("target_vol")["volatility"].mean().is_monotonic_increasing


def test_sweep_portfolio_when_parameters_repeat_then_gates_and_weights_are_computed_once(bars, monkeypatch):
    import peaktrade.portfolio.sweep as sw

    calls = {"gates": 0, "weights": 0}
    real_gates, real_weights = sw._gates, sw.compute_weights

    def gates(*a, **k):
        calls["gates"] += 1
        return real_gates(*a, **k)

    def weights(*a, **k):
        calls["weights"] += 1
        return real_weights(*a, **k)

    monkeypatch.setattr(sw, "_gates", gates)
    monkeypatch.setattr(sw, "compute_weights", weights)
    res = sweep_portfolio(bars, alloc=["equal", "inverse_vol"], rebalance=["1D", "1W"], lookback=[24, 48, 72],
                          strategy="ma_crossover", fast=[5, 10], slow=30, **OPTS)
    assert len(res.table) == 2 * 2 * 3 * 2
    # one gate per strategy parameter set; one weight schedule per distinct (allocation, rebalance rule): equal
    # ignores the lookback, so 2 rules x (1 + 3 lookbacks)
    assert calls == {"gates": 2, "weights": 2 * (1 + 3)}
    eq = res.table[res.table["alloc"] == "equal"]
    assert eq.groupby(["rebalance", "fast"])["final_equity"].nunique().eq(1).all()


def test_sweep_portfolio_when_strategy_constraint_broken_then_combination_skipped_and_counted(bars):
    res = sweep_portfolio(bars, rebalance="1D", strategy="ma_crossover", fast=[5, 10, 40], slow=[20, 30], **OPTS)
    assert len(res.table) == 4 and res.n_skipped == 2 and res.skipped_reasons == {"fast < slow": 2}
    assert res.table[["fast", "slow"]].values.tolist() == [[5, 20], [5, 30], [10, 20], [10, 30]]


def test_overfitting_when_portfolio_sweep_then_part_sums_dsr_and_pbo_follow_the_experiments_definitions(bars, gated):
    from peaktrade.experiments.overfitting import deflated_sharpe_ratio, pbo_from_part_sums, return_moments
    from peaktrade.experiments.portfolio import portfolio_overfitting

    # the part sums are the sums of each row's bar returns over 16 equal parts
    r = run_portfolio(bars, **gated.run_kwargs(7), config=None).returns.to_numpy()
    bounds = np.linspace(0, len(r), 17).astype(int)
    sums = np.array([[r[a:b].sum(), (r[a:b] ** 2).sum()] for a, b in zip(bounds[:-1], bounds[1:], strict=True)])
    np.testing.assert_allclose(gated.part_sums[7], sums, rtol=1e-9, atol=1e-15)
    ov = portfolio_overfitting(gated, bars, config=None)
    assert ov["pbo"] == pbo_from_part_sums(gated.part_sums, gated.part_bars).pbo
    best = gated.best("sharpe")
    mom = return_moments(run_portfolio(bars, **gated.run_kwargs(best.name), config=None).returns.to_numpy())
    var = np.var(gated.table["sharpe"].to_numpy() / math.sqrt(gated.ann_factor), ddof=1)
    dsr = deflated_sharpe_ratio(mom["sharpe"], n_trials=48, trials_sharpe_variance=var, n_obs=mom["n_obs"],
                                skew=mom["skew"], kurtosis=mom["kurtosis"])
    assert ov["dsr"] == pytest.approx(dsr, rel=1e-12) and ov["n_trials"] == 48
    assert ov["sharpe"] == pytest.approx(best["sharpe"], rel=1e-9)
    assert ov["fast"] == best["fast"] and ov["alloc"] == best["alloc"]


@pytest.mark.parametrize(("kw", "needle"), [
    ({"fees": [0.001, 0.002]}, "fees is a backtest option"),
    ({"rebalance": ["1D", "2W"]}, "rebalance='2W'"),
    ({"lookback": [1, 24], "alloc": "inverse_vol"}, "lookback=1"),
    ({"drift": [0.0]}, "drift=0.0"),
    ({"mode": "sleeves"}, "mode='sleeves'"),
    ({"fast": [5, 10]}, "unknown option(s) fast"),
    ({"rebalance": ["signal"]}, "needs a gating strategy"),
    ({"target_vol": []}, "target_vol has no values"),
])
def test_sweep_portfolio_when_bad_input_then_error_names_it(bars, kw, needle):
    with pytest.raises(BacktestError) as ei:
        sweep_portfolio(bars, **{**OPTS, **kw})
    assert needle in str(ei.value)
