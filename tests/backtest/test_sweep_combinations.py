"""``sweep(combinations=...)``: exactly the given parameter sets in one fused call (an optimizer's batch)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import random_bars

from peaktrade.backtest import sweep
from peaktrade.errors import BacktestError

OPTS = {"fees": 0.001, "slippage": 0.0, "execution": "close"}


def test_sweep_when_combinations_given_then_one_row_each_in_order_equal_to_the_grid_rows():
    bars = random_bars(600, seed=5)
    sets = [{"fast": 12, "slow": 40, "kind": "ema"}, {"fast": 50, "slow": 30}, {"fast": 5, "slow": 30}]
    res = sweep("ma_crossover", bars, combinations=sets, **OPTS)
    assert res.n_skipped == 1 and res.skipped_reasons == {"fast < slow": 1}
    assert res.table[["fast", "slow", "kind"]].values.tolist() == [[12, 40, "ema"], [5, 30, "sma"]]
    grid = sweep("ma_crossover", bars, fast=[5, 12], slow=[30, 40], kind=["sma", "ema"], **OPTS).table
    for i, (f, s, k) in enumerate([(12, 40, "ema"), (5, 30, "sma")]):
        row = grid[(grid.fast == f) & (grid.slow == s) & (grid.kind == k)].iloc[0]
        np.testing.assert_allclose(res.table.iloc[i][["sharpe", "total_return", "max_drawdown"]].to_numpy(float),
                                   row[["sharpe", "total_return", "max_drawdown"]].to_numpy(float), rtol=1e-12)


@pytest.mark.parametrize("kw,needle", [
    ({"combinations": [[10, 50]]}, "combinations[0] is a list: expected a mapping of parameter names to values"),
    ({"combinations": [{"fast": 10}], "space": "declared"}, "expected one of them"),
])
def test_sweep_when_combinations_bad_then_error_names_what_is_expected(kw, needle):
    with pytest.raises(BacktestError) as e:
        sweep("ma_crossover", random_bars(100, seed=1), **kw, **OPTS)
    assert needle in str(e.value)
