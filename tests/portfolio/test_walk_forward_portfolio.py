"""``walk_forward_portfolio``: train sweeps, warm test runs that start in cash and are sold at the window end,
the stitched out-of-sample curve, and the train sweeps' DSR and PBO per fold."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from peaktrade.experiments.portfolio import walk_forward_portfolio
from peaktrade.portfolio import run_portfolio
from peaktrade.portfolio.sweep import sweep_portfolio

OPTS = {"fees": 0.001, "slippage": 0.0005, "execution": "close", "init_cash": 10_000.0, "config": None}


def _bars(n: int = 1000, shock_from: int | None = None) -> dict[str, pd.DataFrame]:
    from helpers import random_bars

    out = {s: random_bars(n, seed=i + 11, vol=0.01) for i, s in enumerate("ABC")}
    if shock_from is not None:  # change every price from this bar on (the future of the early folds)
        for b in out.values():
            b.iloc[shock_from:, :4] *= 1.7
    return out


@pytest.fixture(scope="module")
def wf_equal():
    """Equal weights over rebalance rules: no warm-up, so each test window equals a run on that window alone."""
    return walk_forward_portfolio(_bars(), train=300, test=200, alloc="equal", rebalance=["1D", "1W"], n_parts=8,
                                  **OPTS)


def test_walk_forward_portfolio_when_folds_then_each_picks_its_train_sweeps_best_and_chains_cash(wf_equal):
    bars = _bars()
    f = wf_equal.folds
    assert len(f) == 3 and list(f["test_bars"]) == [200] * 3
    cash = 10_000.0
    for i, row in f.iterrows():
        tb = {s: b.loc[row["train_start"]:row["train_end"]] for s, b in bars.items()}
        sw = sweep_portfolio(tb, alloc="equal", rebalance=["1D", "1W"], n_parts=8, **OPTS)
        best = sw.best("sharpe")
        assert row["rebalance"] == best["rebalance"] and row["train_sharpe"] == best["sharpe"]
        assert 0.0 <= row["train_pbo"] <= 1.0 and 0.0 <= row["train_dsr"] <= 1.0
        # the test window alone, from the cash the previous fold ended with: equal weights need no warm-up
        test = {s: b.loc[row["test_start"]:row["test_end"]] for s, b in bars.items()}
        ref = run_portfolio(test, alloc="equal", rebalance=best["rebalance"], **{**OPTS, "init_cash": cash})
        got = wf_equal.oos_equity.loc[row["test_start"]:row["test_end"]]
        np.testing.assert_allclose(got.to_numpy()[:-1], ref.equity.to_numpy()[:-1], rtol=1e-12)
        # the last bar sells everything at the close, paying slippage and fees
        last = ref.positions.iloc[-1]
        close = ref.close.iloc[-1]
        proceeds = (last * close * (1 - OPTS["slippage"]) * (1 - OPTS["fees"])).sum()
        assert got.iloc[-1] == pytest.approx(ref.cash.iloc[-1] + proceeds, rel=1e-12)
        assert row["test_final_equity"] == pytest.approx(got.iloc[-1], rel=1e-12)
        # the trades account for the whole profit of the window
        tr = wf_equal.oos_trades[wf_equal.oos_trades["fold"] == i]
        assert tr["pnl"].sum() == pytest.approx(got.iloc[-1] - cash, rel=1e-9)
        assert (tr["exit_reason"] == "window_end").sum() == 3 and not tr["is_open"].any()
        cash = float(got.iloc[-1])
    assert wf_equal.stats()["final_equity"] == pytest.approx(cash, rel=1e-12)
    assert (wf_equal.oos_positions.loc[f["test_end"]] == 0).all()


def test_walk_forward_portfolio_when_later_prices_change_then_earlier_folds_are_unchanged():
    kw = dict(train=300, test=200, alloc="inverse_vol", lookback=[24, 96], rebalance="1D", strategy="ma_crossover",
              fast=[5, 10], slow=30, n_parts=4, **OPTS)
    a = walk_forward_portfolio(_bars(), **kw)
    b = walk_forward_portfolio(_bars(shock_from=700), **kw)  # fold 0 tests bars 300..499, fold 1 500..699
    cols = ["lookback", "fast", "train_sharpe", "test_final_equity", "test_n_trades"]
    pd.testing.assert_frame_equal(a.folds.loc[:1, cols], b.folds.loc[:1, cols])
    assert a.folds.loc[2, "test_final_equity"] != b.folds.loc[2, "test_final_equity"]
    # the gate and the lookback were warm: the test windows traded from their first bar
    assert (a.folds["test_n_trades"] > 0).all() and a.gate == "ma_crossover"
