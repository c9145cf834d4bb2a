"""``optimize``: Optuna ask-and-tell over the fused sweep, resumable studies, the DSR over every trial."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from helpers import random_bars

import peaktrade
import peaktrade.backtest as backtest_pkg
from peaktrade.backtest import sweep
from peaktrade.backtest.stats import annualization
from peaktrade.errors import BacktestError
from peaktrade.experiments.optimize import DIRECTIONS, OptimizeResult, optimize
from peaktrade.experiments.overfitting import deflated_sharpe_ratio, expected_max_sharpe

OPTS = {"fees": 0.001, "slippage": 0.0, "execution": "close"}


@pytest.fixture(scope="module")
def bars() -> pd.DataFrame:
    return random_bars(800, seed=11, drift=0.0003)


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> str:
    """One storage for the module (creating an Optuna database takes seconds); each test names its studies."""
    return str(tmp_path_factory.mktemp("optuna") / "studies.sqlite")


def _stat_cols(res: OptimizeResult) -> list[str]:
    return [c for c in res.trials.table.columns if c not in ("trial", *res.trials.param_names)]


def test_optimize_when_batches_asked_then_each_is_one_fused_sweep_and_rows_equal_the_sweep_rows(
        bars, store, monkeypatch):
    calls: list[int] = []
    real = backtest_pkg.sweep

    def spy(*args, **kwargs):  # the real fused sweep, counted
        calls.append(len(kwargs.get("combinations") or ()))
        return real(*args, **kwargs)

    monkeypatch.setattr(backtest_pkg, "sweep", spy)
    res = optimize("ma_crossover", bars, trials=10, batch=4, seed=1, study="fused", storage=store, **OPTS)
    assert calls == [4, 4, 2]  # ceil(10 / 4) calls, each with the whole batch
    assert res.n_batches == 3 and res.n_trials == 10 and list(res.trials.table["trial"]) == list(range(10))
    monkeypatch.undo()
    table = res.trials.table
    combos = [{k: table.at[i, k] for k in res.trials.param_names} for i in table.index]
    again = sweep("ma_crossover", bars, combinations=combos, **OPTS).table
    cols = _stat_cols(res)
    np.testing.assert_allclose(table[cols].to_numpy(float), again[cols].to_numpy(float), rtol=1e-12, equal_nan=True)
    # and a row is what a single grid sweep of that parameter set gives
    one = sweep("ma_crossover", bars, **{k: [v] for k, v in combos[3].items()}, **OPTS).table
    assert table.at[3, "sharpe"] == pytest.approx(one.at[0, "sharpe"], rel=1e-12)


def test_optimize_when_study_rerun_then_it_resumes_and_the_dsr_counts_every_trial(bars, store):
    first = optimize("ma_crossover", bars, trials=6, batch=3, seed=2, study="s", storage=store, **OPTS)
    second = optimize("ma_crossover", bars, trials=5, batch=3, seed=2, study="s", storage=store, **OPTS)
    assert (first.n_trials, second.n_resumed, second.n_trials) == (6, 6, 11)
    assert list(second.trials.table["trial"]) == list(range(11))
    cols = ["trial", *first.trials.param_names, *_stat_cols(first)]
    pd.testing.assert_frame_equal(second.trials.table[cols].head(6), first.trials.table[cols])
    # the resumed sampler does not replay the first call's proposals (its seed is offset by the trial count)
    p1 = first.trials.table[first.trials.param_names].apply(tuple, axis=1).tolist()
    p2 = second.trials.table[second.trials.param_names].iloc[6:].apply(tuple, axis=1).tolist()
    assert p2 != p1[:5]
    of = second.overfitting
    assert of["n_trials"] == 11 == second.n_trials
    sr = second.trials.table["sharpe"].to_numpy(float) / math.sqrt(annualization(bars.index)[0])
    v = float(np.var(sr[np.isfinite(sr)], ddof=1))
    assert of["expected_max_sharpe"] == pytest.approx(expected_max_sharpe(11, v), rel=1e-12)
    expect = deflated_sharpe_ratio(of["sharpe_per_bar"], n_trials=11, trials_sharpe_variance=v, n_obs=of["n_obs"],
                                   skew=of["skew"], kurtosis=of["kurtosis"])
    assert second.dsr == pytest.approx(expect, rel=1e-12)
    only_new = deflated_sharpe_ratio(of["sharpe_per_bar"], n_trials=5, trials_sharpe_variance=v, n_obs=of["n_obs"],
                                     skew=of["skew"], kurtosis=of["kurtosis"])
    assert second.dsr < only_new  # more trials tried, more deflation


def test_optimize_when_resumed_with_other_costs_then_one_error_and_the_study_is_kept(bars, store):
    optimize("ma_crossover", bars, trials=3, batch=3, study="k", storage=store, **OPTS)
    with pytest.raises(BacktestError, match=r"study 'k' was run with another setup \(options: .*fees"):
        optimize("ma_crossover", bars, trials=3, study="k", storage=store, **{**OPTS, "fees": 0.002})
    kept = optimize("ma_crossover", bars, trials=1, study="k", storage=store, **OPTS)
    assert kept.n_resumed == 3 and kept.n_trials == 4


def test_optimize_when_two_objectives_then_nsga2_directions_come_from_the_metrics_and_the_front_is_nondominated(
        bars, store):
    res = optimize("ma_crossover", bars, trials=12, batch=6, sampler="nsga2", objective="sharpe,max_drawdown",
                   seed=3, study="nsga2", storage=store, **OPTS)
    assert res.directions == ("maximize", "minimize") == (DIRECTIONS["sharpe"], DIRECTIONS["max_drawdown"])
    t = res.trials.table
    ok = t[t["sharpe"].notna() & (t["ruined"] != 1.0)]
    assert len(res.pareto) >= 1
    for _, p in res.pareto.iterrows():
        dominated = (ok["sharpe"] >= p["sharpe"]) & (ok["max_drawdown"] <= p["max_drawdown"]) & (
            (ok["sharpe"] > p["sharpe"]) | (ok["max_drawdown"] < p["max_drawdown"]))
        assert not dominated.any()
    assert res.best["sharpe"] == ok["sharpe"].max()  # the first objective picks the best trial


def test_optimize_when_proposals_break_a_constraint_then_skipped_not_backtested_nor_counted(bars, store):
    res = optimize("ma_crossover", bars, trials=16, batch=8, sampler="random", seed=4, study="c", storage=store,
                   fast=range(5, 60, 5), slow=range(20, 80, 10), **OPTS)
    t = res.trials.table
    assert res.n_skipped > 0 and res.n_trials == 16 - res.n_skipped
    assert (t["fast"] < t["slow"]).all()
    assert res.trials.skipped_reasons == {"fast < slow": res.n_skipped}
    assert res.space == {"fast": "int 5..55 step 5", "slow": "int 20..70 step 10", "kind": "sma, ema"}


def test_optimize_when_same_seed_on_a_fresh_study_then_the_same_trials(bars, store):
    runs = [optimize("ma_crossover", bars, trials=6, batch=3, seed=9, study=f"seed{i}", storage=store, **OPTS)
            for i in range(2)]
    pd.testing.assert_frame_equal(runs[0].trials.table, runs[1].trials.table)


@pytest.mark.parametrize("kw,needle", [
    ({"sampler": "grid"}, "sampler='grid' is invalid: expected one of tpe, nsga2, random"),
    ({"objective": "luck"}, "expected one or more distinct metrics, comma separated, of sharpe, sortino"),
    ({"objective": "max_drawdown,sharpe"}, "expected one to maximize"),
    ({"trials": 0}, "trials=0 is invalid: expected an integer >= 1"),
    ({"batch": 0}, "batch=0 is invalid"),
    ({"fast": 10, "slow": 50, "kind": "sma"}, "nothing to search"),
])
def test_optimize_when_input_bad_then_error_names_what_is_expected(bars, store, kw, needle):
    with pytest.raises(BacktestError) as e:
        optimize("ma_crossover", bars, **{"trials": 2, **kw}, study="bad", storage=store, **OPTS)
    assert needle in str(e.value)


def test_optimize_when_imported_from_the_package_then_the_api_is_the_function():
    assert peaktrade.optimize is optimize
    assert OptimizeResult.__dataclass_params__.frozen
