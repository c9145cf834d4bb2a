"""Selection never picks a ruined combination: not when all combinations but one are ruined, and not
when the ruined ones have the best value of every metric selection ranks by."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from peaktrade.backtest import STAT_KEYS, sweep
from peaktrade.backtest.sweep import rank_table

from .test_ruin_and_gaps import _crash_bars

GRID = dict(fees=0.001, direction="both", fast=[3], slow=[80], sl_stop=[0.3, 0.999, 0.9995, 0.9999])
# a short all-in is ruined at ~2× its entry: the 0.3 stop-loss fills before the squeeze ruins the
# account, the stops at ~+100 % lie beyond the ruin level and never fill


@pytest.fixture(scope="module")
def crash():
    return _crash_bars()


@pytest.fixture(scope="module")
def all_but_one(crash):
    sw = sweep("ma_crossover", crash, progress=False, **GRID)
    assert sw.table["ruined"].tolist() == [0.0, 1.0, 1.0, 1.0]
    return sw


def _flattering(sw):
    """The same sweep with every ruined row given the best value of every stat (a path up to a
    ruin can look great: its metrics do not see the loss of everything)."""
    t = sw.table.copy()
    ruined = t["ruined"] == 1.0
    for k in STAT_KEYS:
        if k not in ("ruined", "ruin_time"):
            t.loc[ruined, k] = -1e9 if k in ("max_drawdown", "max_drawdown_duration") else 1e9
    return dataclasses.replace(sw, table=t)


@pytest.mark.parametrize("metric", [k for k in STAT_KEYS if k not in ("ruined", "ruin_time")])
@pytest.mark.parametrize("minimize", [False, True])
def test_best_picks_the_survivor_when_all_but_one_ruined_and_ruined_best_by_metric(all_but_one, metric, minimize):
    sw = _flattering(all_but_one)
    if minimize:  # the ruined rows are best when minimizing too
        t = sw.table.copy()
        t.loc[t["ruined"] == 1.0, metric] = -1e9
        sw = dataclasses.replace(sw, table=t)
    best = sw.best(metric, minimize=minimize)
    assert best.name == 0 and best["ruined"] == 0.0
    assert sw.best_params(metric, minimize=minimize) == {"fast": 3, "slow": 80, "sl_stop": 0.3}
    assert rank_table(sw.table, metric, minimize=minimize).index.tolist() == [0]


def test_no_ranked_stat_is_nan_for_the_survivor(all_but_one):
    row = all_but_one.table.loc[0]
    assert not row[[k for k in STAT_KEYS if k not in ("ruined", "ruin_time")]].isna().any()


def test_walk_forward_selects_the_survivor_when_all_but_one_ruined_in_train(crash):
    from peaktrade.experiments.walk_forward import walk_forward

    # minimizing worst_trade, a naive argmin picks a ruined combination (its worst trade is −100 %)
    wf = walk_forward("ma_crossover", crash, train=300, test=100, metric="worst_trade", minimize=True,
                      progress=False, **GRID)
    folds = wf.folds
    all_but_one = [i for i, sw in enumerate(wf.sweeps) if sw.table["ruined"].tolist() == [0.0, 1.0, 1.0, 1.0]]
    assert len(all_but_one) >= 2
    for i in all_but_one:
        assert folds.loc[i, "sl_stop"] == 0.3
        assert folds.loc[i, "train_worst_trade"] == wf.sweeps[i].table.loc[0, "worst_trade"]


def test_sweep_overfitting_picks_the_survivor_when_all_but_one_ruined(crash, all_but_one):
    from peaktrade.experiments.overfitting import sweep_overfitting

    for metric in ("sharpe", "total_return", "calmar", "sortino"):
        out = sweep_overfitting(_flattering(all_but_one), crash, metric=metric)
        assert out["sl_stop"] == 0.3 and out["n_trials"] == 4
        assert np.isnan(out["pbo"])  # one candidate left: no PBO
        assert out["sharpe"] == pytest.approx(all_but_one.table.loc[0, "sharpe"], rel=1e-9)


def test_report_top_table_lists_only_the_survivor_when_all_but_one_ruined(tmp_path, all_but_one):
    from peaktrade.reporting import build_report

    html = build_report(title="sw", path=tmp_path / "sw.html", sweep=_flattering(all_but_one)).read_text("utf-8")
    top = html[html.index('id="sweep-top-table"'):]
    top = top[:top.index("</table>")]
    assert top.count("<tr>") == 2 and "1,000,000,000" not in top and "1e+09" not in top


@pytest.mark.realdata
def test_best_skips_ruined_combination_when_real_btc_ruined_path_has_top_sharpe(btc_bars):
    # a short eating the account swings its equity by tens of percent a bar: the mean bar return up
    # to the ruin stays positive, so a ruined combination can carry the highest Sharpe ratio
    sw = sweep("bollinger_reversion", btc_bars, progress=False, fees=0.001, direction="both", window=[10, 120],
               k=[1.0, 1.5])
    t = sw.table
    top = t["sharpe"].idxmax()
    assert t.loc[top, "ruined"] == 1.0 and t.loc[top, "sharpe"] > 4.0 and t.loc[top, "total_return"] == -1.0
    best = sw.best("sharpe")
    assert best["ruined"] == 0.0 and (best["window"], best["k"]) == (10, 1.5)
    assert best["sharpe"] == t.loc[t["ruined"] == 0.0, "sharpe"].max() < 0.0
