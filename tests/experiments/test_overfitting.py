"""PSR, DSR and PBO against the papers' example, brute-force simulation and an independent CSCV."""

from __future__ import annotations

import math
from itertools import product

import numpy as np
import pytest
from experiment_helpers import squeeze_bars
from helpers import random_bars

from peaktrade.backtest import run, sweep
from peaktrade.errors import BacktestError
from peaktrade.experiments import (
    PBOResult,
    deflated_sharpe_ratio,
    expected_max_sharpe,
    pbo,
    pbo_from_part_sums,
    pbo_label,
    pbo_null_mean,
    probabilistic_sharpe_ratio,
    sweep_overfitting,
)
from peaktrade.experiments.overfitting import return_moments

# --------------------------------------------------------------------------------------------
# DSR / PSR


def test_deflated_sharpe_ratio_when_paper_example_then_matches_bailey_lopez_de_prado_2014():
    # N = 100 trials, variance of their annualized SR 0.5, best annualized SR 2.5, 5 years of daily
    # returns (T = 1250), skew -3, kurtosis 10: SR0 = 0.1132 per day and DSR = 0.9004 in the paper.
    v = 0.5 / 250
    assert expected_max_sharpe(100, v) == pytest.approx(0.1132, abs=5e-5)
    dsr = deflated_sharpe_ratio(2.5 / math.sqrt(250), n_trials=100, trials_sharpe_variance=v, n_obs=1250,
                                skew=-3.0, kurtosis=10.0)
    assert dsr == pytest.approx(0.9004, abs=5e-4)


@pytest.mark.parametrize("n_trials", [10, 100, 1000])
def test_expected_max_sharpe_when_null_strategies_simulated_then_matches_their_mean_max(n_trials):
    rng = np.random.default_rng(n_trials)
    t, sims = 250, max(40, 20_000 // n_trials)
    maxima, variances = [], []
    for _ in range(sims):
        r = rng.standard_normal((t, n_trials))
        sr = r.mean(axis=0) / r.std(axis=0, ddof=1)
        maxima.append(sr.max())
        variances.append(sr.var(ddof=1))
    # the formula is an approximation: within ~3 % of the simulated mean maximum for 10..1000 trials
    assert expected_max_sharpe(n_trials, float(np.mean(variances))) == pytest.approx(np.mean(maxima), rel=0.04)


def test_expected_max_sharpe_when_one_trial_then_zero_and_grows_with_trials():
    assert expected_max_sharpe(1, 0.01) == 0.0
    vals = [expected_max_sharpe(n, 0.01) for n in (2, 10, 100, 1000)]
    assert all(a < b for a, b in zip(vals, vals[1:]))


def test_probabilistic_sharpe_ratio_when_skewed_returns_simulated_then_calibrated_at_5_percent():
    # gamma shocks with negative skew (-1.41) and raw kurtosis 6; true Sharpe ratio 0.05 per bar
    rng = np.random.default_rng(0)
    k, t, sims, mu = 2.0, 500, 4000, 0.05
    r = mu - (rng.gamma(k, 1.0, (sims, t)) - k) / np.sqrt(k)
    skew, kurt = -2.0 / np.sqrt(k), 3.0 + 6.0 / k
    sr = r.mean(axis=1) / r.std(axis=1, ddof=1)
    # the sampling std of the estimate is what the PSR's denominator says it is
    formula = math.sqrt((1 - skew * mu + (kurt - 1) / 4 * mu * mu) / (t - 1))
    assert sr.std() == pytest.approx(formula, rel=0.04)
    psr = probabilistic_sharpe_ratio(sr, benchmark=mu, n_obs=t, skew=skew, kurtosis=kurt)
    assert 0.04 < np.mean(psr > 0.95) < 0.06
    assert 0.04 < np.mean(psr < 0.05) < 0.06


def test_deflated_sharpe_ratio_when_best_of_null_trials_then_rarely_significant_unlike_psr():
    rng = np.random.default_rng(1)
    n, t, sims = 50, 500, 400
    dsr, psr = [], []
    for _ in range(sims):
        r = rng.standard_normal((t, n))
        sr = r.mean(axis=0) / r.std(axis=0, ddof=1)
        m = return_moments(r[:, int(np.argmax(sr))])
        dsr.append(deflated_sharpe_ratio(m["sharpe"], n_trials=n, trials_sharpe_variance=sr.var(ddof=1), n_obs=t,
                                         skew=m["skew"], kurtosis=m["kurtosis"]))
        psr.append(probabilistic_sharpe_ratio(m["sharpe"], n_obs=t, skew=m["skew"], kurtosis=m["kurtosis"]))
    dsr, psr = np.array(dsr), np.array(psr)
    assert np.mean(psr > 0.95) > 0.8  # selection bias: the PSR of the best null trial looks significant
    assert np.mean(dsr > 0.95) <= 0.05  # the DSR corrects for it
    assert 0.35 < np.mean(dsr) < 0.65


def test_probabilistic_sharpe_ratio_when_at_benchmark_then_one_half_and_grows_with_sample():
    normal = {"skew": 0.0, "kurtosis": 3.0}
    assert probabilistic_sharpe_ratio(0.1, benchmark=0.1, n_obs=100, **normal) == pytest.approx(0.5)
    a = probabilistic_sharpe_ratio(0.05, n_obs=100, **normal)
    b = probabilistic_sharpe_ratio(0.05, n_obs=1000, **normal)
    assert 0.5 < a < b < 1.0
    # negative skew and fat tails widen the estimate's distribution: less confidence
    assert probabilistic_sharpe_ratio(0.05, n_obs=1000, skew=-2.0, kurtosis=12.0) < b
    arr = probabilistic_sharpe_ratio(np.array([0.0, 0.05]), n_obs=1000, **normal)
    assert arr.shape == (2,) and arr[1] == pytest.approx(b)


@pytest.mark.parametrize(
    ("fn", "kw", "words"),
    [
        (probabilistic_sharpe_ratio, {"sharpe": 0.1, "n_obs": 100, "skew": 0.0, "kurtosis": 0.0},
         ["kurtosis=0.0", "raw"]),
        (probabilistic_sharpe_ratio, {"sharpe": 0.1, "n_obs": 1, "skew": 0.0, "kurtosis": 3.0}, ["n_obs=1"]),
        (probabilistic_sharpe_ratio, {"sharpe": 2.5, "n_obs": 100, "skew": 3.0, "kurtosis": 3.0},
         ["sharpe=2.5", "per-bar"]),
        (expected_max_sharpe, {"n_trials": 0, "trials_sharpe_variance": 0.1}, ["n_trials=0"]),
        (expected_max_sharpe, {"n_trials": 5, "trials_sharpe_variance": -0.1}, ["trials_sharpe_variance=-0.1"]),
        (deflated_sharpe_ratio, {"sharpe": 0.1, "n_trials": 5, "trials_sharpe_variance": 0.01, "n_obs": 100,
                                 "skew": float("nan"), "kurtosis": 3.0}, ["skew=nan"]),
    ],
)
def test_sharpe_statistics_when_inputs_are_invalid_then_error_names_them(fn, kw, words):
    args = dict(kw)
    with pytest.raises(BacktestError) as exc:
        if fn is expected_max_sharpe:
            fn(args.pop("n_trials"), args.pop("trials_sharpe_variance"))
        else:
            fn(args.pop("sharpe"), **args)
    for w in words:
        assert w in str(exc.value)


# --------------------------------------------------------------------------------------------
# PBO


def test_pbo_when_pure_noise_strategies_then_about_one_half():
    # IS and OOS halves are independent for i.i.d. noise: the OOS rank of the IS best is uniform and
    # E[PBO] = 0.5; one matrix's PBO is noisy (sd ~0.2), so average 600 of them (se ~0.009)
    vals = [pbo(np.random.default_rng(s).normal(0, 0.01, (400, 20)), n_splits=8).pbo for s in range(600)]
    assert np.mean(vals) == pytest.approx(0.5, abs=0.04)


@pytest.mark.parametrize("n_strategies", [5, 4, 3])
def test_pbo_null_mean_when_pure_noise_simulated_then_matches_half_plus_one_over_2n_for_odd_n(n_strategies):
    # the median OOS rank counts as overfit (logit <= 0): for odd N the null mean is ceil(N/2)/N,
    # not 0.5 (0.6 at N = 5); average 1,500 noise matrices (se ~0.006)
    vals = np.array([pbo(np.random.default_rng(s).normal(0, 0.01, (160, n_strategies)), n_splits=4,
                         metric="mean").pbo for s in range(1500)])
    se = vals.std(ddof=1) / np.sqrt(len(vals))
    assert abs(vals.mean() - pbo_null_mean(n_strategies)) < 4 * se
    expected = 0.5 + 1 / (2 * n_strategies) if n_strategies % 2 else 0.5
    assert pbo_null_mean(n_strategies) == expected
    if n_strategies % 2:
        assert abs(vals.mean() - 0.5) > 4 * se  # the naive 0.5 is rejected


def test_pbo_result_when_printed_then_states_convention_and_null_mean():
    res = pbo(np.random.default_rng(0).normal(0, 1, (200, 5)), n_splits=4)
    for text in (str(res), repr(res)):
        assert "CSCV" in text and "S=4" in text and "N=5" in text and "ties at the average rank" in text
        assert "null mean 0.5+1/(2N) = 0.600" in text
    assert str(res).startswith(f"PBO {res.pbo:.3f} (")
    s = res.summary()
    assert s["pbo_null_mean"] == 0.6 and "null mean" in s["pbo_convention"]
    assert "0.5 for even N=4" in pbo_label(0.25, 16, 4)
    with pytest.raises(BacktestError, match="n_strategies=0"):
        pbo_null_mean(0)


def test_pbo_when_one_strategy_has_a_persistent_edge_then_near_zero():
    rng = np.random.default_rng(1)
    m = rng.normal(0, 0.01, (2000, 30))
    m[:, 7] += 0.002  # Sharpe 0.2 per bar against noise
    res = pbo(m)
    assert isinstance(res, PBOResult)
    assert res.pbo < 0.02
    assert np.mean(res.best_index == 7) > 0.95
    assert res.n_combinations == 12_870 and res.n_splits == 16 and res.n_strategies == 30
    assert res.logits.shape == (12_870,)
    assert res.prob_oos_loss < 0.05


def _part_sums(m: np.ndarray, n_parts: int) -> tuple[np.ndarray, np.ndarray]:
    bounds = np.linspace(0, m.shape[0], n_parts + 1).astype(int)
    ps = np.stack([np.stack([m[a:b].sum(0), (m[a:b] ** 2).sum(0)], axis=-1)
                   for a, b in zip(bounds[:-1], bounds[1:])], axis=1)
    return ps, np.diff(bounds)


def test_pbo_when_same_data_then_matrix_part_sums_and_direct_cscv_agree():
    rng = np.random.default_rng(3)
    m = rng.normal(0.0002, 0.01, (1203, 12))  # parts of unequal length
    m[:, 3] += 0.0005

    def sharpe(rows: np.ndarray) -> np.ndarray:  # independent: concatenated rows, no sums
        return rows.mean(axis=0) / rows.std(axis=0, ddof=1)

    a = pbo(m, n_splits=10)
    ps, pb = _part_sums(m, 10)
    b = pbo_from_part_sums(ps, pb)
    c = pbo(m, n_splits=10, metric=sharpe)
    assert a.pbo == b.pbo == c.pbo
    np.testing.assert_array_equal(a.best_index, c.best_index)
    np.testing.assert_allclose(a.logits, b.logits, rtol=0, atol=1e-12)
    np.testing.assert_allclose(a.logits, c.logits, rtol=0, atol=1e-12)
    np.testing.assert_allclose(a.oos_performance, c.oos_performance, rtol=1e-9)


def test_pbo_when_total_return_metric_then_ranks_by_compounded_return():
    rng = np.random.default_rng(4)
    m = rng.normal(0, 0.01, (600, 6))

    def total(rows: np.ndarray) -> np.ndarray:
        return np.prod(1.0 + rows, axis=0) - 1.0

    a = pbo(m, n_splits=6, metric="total_return")
    b = pbo(m, n_splits=6, metric=total)
    np.testing.assert_allclose(a.logits, b.logits, atol=1e-12)
    np.testing.assert_allclose(a.is_performance, b.is_performance, rtol=1e-9)


def test_pbo_from_part_sums_when_sweep_then_equals_cscv_of_the_rerun_returns():
    bars = random_bars(2400, seed=9)
    grid = {"fast": [5, 10, 20], "slow": [40, 80, 120]}
    sw = sweep("ma_crossover", bars, progress=False, fees=0.001, **grid)
    returns = np.column_stack([run("ma_crossover", bars, fees=0.001, fast=f, slow=s).returns.to_numpy()
                               for f, s in product(grid["fast"], grid["slow"])])
    a = pbo_from_part_sums(sw)
    b = pbo(returns, n_splits=16)
    assert a.pbo == b.pbo
    np.testing.assert_allclose(a.logits, b.logits, atol=1e-9)
    assert pbo_from_part_sums(sw.part_sums, sw.part_bars).pbo == a.pbo


def test_pbo_summary_when_computed_then_has_headline_keys():
    s = pbo(np.random.default_rng(0).normal(0, 1, (200, 5)), n_splits=4).summary()
    assert {"pbo", "logit_mean", "prob_oos_loss", "degradation_slope", "n_combinations"} <= set(s.index)
    assert s["n_combinations"] == 6


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda: pbo(np.zeros((100, 4)), n_splits=7), ["n_splits=7", "even"]),
        (lambda: pbo(np.zeros((10, 4)), n_splits=16), ["n_splits=16"]),
        (lambda: pbo(np.zeros((100, 1))), ["N >= 2"]),
        (lambda: pbo(np.full((100, 3), np.nan)), ["NaN"]),
        (lambda: pbo(np.zeros((100, 3)), metric="sortino"), ["metric='sortino'"]),
        (lambda: pbo_from_part_sums(np.zeros((4, 16)), np.full(16, 10)), ["part_sums has shape"]),
        (lambda: pbo_from_part_sums(np.zeros((4, 15, 2)), np.full(15, 10)), ["n_parts=15"]),
        (lambda: pbo_from_part_sums(np.zeros((4, 16, 2)), np.full(8, 10)), ["part_bars="]),
    ],
)
def test_pbo_when_inputs_are_invalid_then_error_names_them(call, words):
    with pytest.raises(BacktestError) as exc:
        call()
    for w in words:
        assert w in str(exc.value)


# --------------------------------------------------------------------------------------------
# sweeps


def test_sweep_overfitting_when_sweep_then_reports_dsr_psr_pbo_and_best_params():
    bars = random_bars(3000, seed=11)
    sw = sweep("ma_crossover", bars, progress=False, fees=0.001, fast=[5, 10, 20, 30], slow=[50, 100, 150])
    out = sweep_overfitting(sw, bars, fees=0.001)
    assert {"dsr", "psr", "pbo", "n_trials", "sharpe", "sharpe_per_bar", "expected_max_sharpe",
            "trials_sharpe_variance", "skew", "kurtosis", "n_obs", "fast", "slow"} <= set(out.index)
    best = sw.best("sharpe")
    assert (out["fast"], out["slow"]) == (best["fast"], best["slow"])
    assert isinstance(out["fast"], int)
    assert out["sharpe"] == pytest.approx(best["sharpe"], rel=1e-9)  # the re-run is the sweep's row
    assert out["n_trials"] == len(sw.table) == 12 and out["n_obs"] == 3000
    ann = 8760.0
    v = np.var(sw.table["sharpe"].to_numpy() / np.sqrt(ann), ddof=1)
    assert out["trials_sharpe_variance"] == pytest.approx(v, rel=1e-12)
    assert out["pbo"] == pbo_from_part_sums(sw).pbo
    assert out["pbo_null_mean"] == 0.5 and "N=12" in out["pbo_convention"] and "S=16" in out["pbo_convention"]
    r = run("ma_crossover", bars, fees=0.001, fast=out["fast"], slow=out["slow"]).returns
    assert out["kurtosis"] == pytest.approx(((r - r.mean()) ** 4).mean() / r.var(ddof=0) ** 2, rel=1e-9)
    assert out["dsr"] == pytest.approx(deflated_sharpe_ratio(
        out["sharpe_per_bar"], n_trials=12, trials_sharpe_variance=v, n_obs=3000, skew=out["skew"],
        kurtosis=out["kurtosis"]))
    assert 0.0 <= out["dsr"] <= out["psr"] <= 1.0


def test_sweep_overfitting_when_bars_differ_from_the_sweep_then_error():
    bars = random_bars(1000, seed=1)
    sw = sweep("ma_crossover", bars, progress=False, fast=[5, 10], slow=[40])
    with pytest.raises(BacktestError, match="999 rows but the sweep ran on 1000"):
        sweep_overfitting(sw, bars.iloc[1:])


def test_sweep_overfitting_never_picks_ruined_combination_when_its_metric_is_best():
    bars = squeeze_bars(800, seed=1, every=400)
    sw = sweep("ma_crossover", bars, progress=False, fees=0.001, direction="both", fast=[3, 5, 8, 13],
               slow=[20, 40, 80])
    t = sw.table
    assert 0 < int(t["ruined"].sum()) < len(t)
    assert t.loc[t["worst_trade"].idxmin(), "ruined"] == 1.0  # a naive argmin would pick a ruined one
    out = sweep_overfitting(sw, bars, metric="worst_trade", minimize=True)
    row = t[(t["fast"] == out["fast"]) & (t["slow"] == out["slow"])].iloc[0]
    assert row["ruined"] == 0.0
    assert row["worst_trade"] == t.loc[t["ruined"] == 0.0, "worst_trade"].min()
    keep = (t["ruined"] == 0.0).to_numpy()
    assert out["pbo"] == pbo_from_part_sums(sw.part_sums[keep], sw.part_bars).pbo
    assert out["n_trials"] == len(t)  # ruined combinations were still tried
