"""Every registered strategy honours the contract of ``peaktrade.strategies.base``."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import random_bars

from peaktrade.errors import StrategyError
from peaktrade.strategies import (
    SIGNAL_SIG,
    generate_signals,
    get_strategy,
    list_strategies,
    prices_from_bars,
    signal_arrays,
)
from peaktrade.strategies.registry import LIBRARY

#: Parameters under which each strategy trades on the 500-bar random walk.
ACTIVE = {
    "ma_crossover": {"fast": 5, "slow": 20},
    "rsi_reversion": {"window": 5, "lower": 30, "upper": 70},
    "donchian_breakout": {"entry_window": 10, "exit_window": 5},
    "bollinger_reversion": {"window": 10, "k": 1.5},
    "macd": {"fast": 5, "slow": 12, "signal": 4},
    "momentum": {"window": 10, "threshold": 0.02, "exit_threshold": 0.0},
    "trend_following": {"window": 7, "adx_min": 20},
    "zscore_reversion": {"window": 10, "entry_z": 1.5, "exit_z": 0.0},
    "atr_band_breakout": {"window": 10, "atr_window": 7, "k": 1.0},
    "breakout": {"window": 10},
    "vol_regime_filter": {"inner": "ma_crossover", "ma_fast": 5, "ma_slow": 20, "vol_window": 10,
                          "regime_window": 50, "quantile": 0.7},
    "composite": {"ma_fast": 5, "ma_slow": 20, "rsi_window": 5, "macd_fast": 5, "macd_slow": 12,
                  "macd_signal": 4, "mom_window": 10},
}


@pytest.fixture(scope="module")
def walk():
    return random_bars(500, seed=42, vol=0.012)


def test_registry_when_listed_then_every_library_module_is_registered_in_order():
    assert [s.name for s in list_strategies()][: len(LIBRARY)] == list(LIBRARY)
    assert set(ACTIVE) == set(LIBRARY)


@pytest.mark.parametrize("name", LIBRARY)
def test_strategy_when_inspected_then_params_are_documented_and_defaults_valid(name):
    s = get_strategy(name)
    assert s.summary and s.params
    assert len(set(s.param_names)) == len(s.param_names)
    for p in s.params:
        assert p.help, f"{name}.{p.name} has no help"
        if p.kind == "choice":
            assert p.default in p.choices
        else:
            assert p.low is not None and p.high is not None, f"{name}.{p.name} has no range"
        assert p.coerce(p.default, strategy=name) == p.default
    assert s.broken_constraint(s.defaults()) is None
    assert s.resolve({}) == s.defaults()


@pytest.mark.parametrize("name", LIBRARY)
def test_signal_kernel_when_inspected_then_compiled_once_with_signal_sig_and_cached(name):
    s = get_strategy(name)
    assert s.signal_nb.nopython_signatures == [SIGNAL_SIG]
    assert type(s.signal_nb._cache).__name__ != "NullCache"


@pytest.mark.parametrize("name", LIBRARY)
def test_signals_when_run_on_a_random_walk_then_both_entries_and_exits_occur(name, walk):
    e, x = generate_signals(name, walk, **ACTIVE[name])
    assert e.index.equals(walk.index) and e.dtype == bool and x.dtype == bool
    assert e.any() and x.any()
    assert not (e & x).any(), "an entry and an exit on the same bar"


@pytest.mark.parametrize("name", LIBRARY)
def test_signals_when_bars_are_truncated_then_prefix_is_unchanged(name, walk):
    e_full, x_full = generate_signals(name, walk, **ACTIVE[name])
    for k in (37, 120, 251, 499):
        e, x = generate_signals(name, walk.iloc[:k], **ACTIVE[name])
        np.testing.assert_array_equal(e.to_numpy(), e_full.to_numpy()[:k], err_msg=f"entries, k={k}")
        np.testing.assert_array_equal(x.to_numpy(), x_full.to_numpy()[:k], err_msg=f"exits, k={k}")


@pytest.mark.parametrize("name", LIBRARY)
def test_signals_when_future_bars_change_then_past_signals_do_not(name, walk):
    e_full, x_full = generate_signals(name, walk, **ACTIVE[name])
    shocked = walk.copy()
    shocked.iloc[300:, :4] *= 1.5  # a jump after bar 299 must not move any signal before it
    e, x = generate_signals(name, shocked, **ACTIVE[name])
    np.testing.assert_array_equal(e.to_numpy()[:300], e_full.to_numpy()[:300])
    np.testing.assert_array_equal(x.to_numpy()[:300], x_full.to_numpy()[:300])


@pytest.mark.parametrize("name", LIBRARY)
def test_signal_kernel_when_called_block_by_block_then_matches_one_call(name, walk):
    s = get_strategy(name)
    params = s.resolve(ACTIVE[name])
    prices = prices_from_bars(walk)
    e_one, x_one = signal_arrays(s, prices, params)
    prep = s.prepare(prices, [params])
    state = np.zeros(max(s.n_state, 1))
    e_blk = np.zeros(prices.n, dtype=bool)
    x_blk = np.zeros(prices.n, dtype=bool)
    edges = [0, 1, 64, 65, 200, 333, prices.n]
    for t0, t1 in zip(edges, edges[1:]):
        e = np.zeros(t1 - t0, dtype=bool)
        x = np.zeros(t1 - t0, dtype=bool)
        s.signal_nb(prep.ind, prep.cols[0], prep.fpar[0], state, t0, t1, e, x)
        e_blk[t0:t1] = e
        x_blk[t0:t1] = x
    np.testing.assert_array_equal(e_blk, e_one)
    np.testing.assert_array_equal(x_blk, x_one)


@pytest.mark.parametrize("name", LIBRARY)
def test_prepare_when_several_combos_then_each_combo_reads_its_own_signals(name, walk):
    s = get_strategy(name)
    base = s.resolve(ACTIVE[name])
    other = dict(base)
    first_int = next(p for p in s.params if p.kind == "int" and p.name not in ("slow",))
    other[first_int.name] = base[first_int.name] + 1
    other = s.resolve(other)
    prices = prices_from_bars(walk)
    prep = s.prepare(prices, [base, other])
    for i, params in enumerate((base, other)):
        e_ref, x_ref = signal_arrays(s, prices, params)
        e = np.zeros(prices.n, dtype=bool)
        x = np.zeros(prices.n, dtype=bool)
        s.signal_nb(prep.ind, prep.cols[i], prep.fpar[i], np.zeros(max(s.n_state, 1)), 0, prices.n, e, x)
        np.testing.assert_array_equal(e, e_ref)
        np.testing.assert_array_equal(x, x_ref)


# Two combos that share indicator rows, and the number of rows ``ind`` must then have (5 bar rows + ...).
DEDUP = {
    "ma_crossover": ({"fast": 10, "slow": 50}, {"fast": 20, "slow": 50}, 5 + 3),
    "rsi_reversion": ({"lower": 30}, {"lower": 25}, 5 + 1),
    "donchian_breakout": ({"entry_window": 20, "exit_window": 10}, {"entry_window": 20, "exit_window": 5}, 5 + 1 + 2),
    "bollinger_reversion": ({"k": 2.0}, {"k": 1.5}, 5 + 1 + 2),
    "macd": ({"signal": 9}, {"signal": 5}, 5 + 1 + 2),
    "momentum": ({"threshold": 0.02}, {"threshold": 0.05}, 5 + 1),
    "trend_following": ({"adx_min": 20}, {"adx_min": 25}, 5 + 3),
    "zscore_reversion": ({"entry_z": 2.0}, {"entry_z": 2.5}, 5 + 1),
    "atr_band_breakout": ({"window": 20}, {"window": 30}, 5 + 2 + 1),
    "breakout": ({"sl_stop": 0.05}, {"sl_stop": 0.1}, 5 + 2),
    "vol_regime_filter": ({"quantile": 0.5}, {"quantile": 0.8}, 5 + 1 + 2 + 2),
    "composite": ({"threshold": 0.5}, {"threshold": 0.75, "w_rsi": 2.0}, None),
}


@pytest.mark.parametrize("name", LIBRARY)
def test_prepare_when_two_combos_share_a_window_then_the_row_is_computed_once(name, walk):
    s = get_strategy(name)
    a, b, rows = DEDUP[name]
    prices = prices_from_bars(walk)
    pa, pb = s.resolve(a), s.resolve(b)
    prep = s.prepare(prices, [pa, pb])
    if rows is None:  # the same indicators as one combo alone
        rows = s.prepare(prices, [pa]).ind.shape[0]
    assert prep.ind.shape == (rows, prices.n)
    assert prep.cols.shape[0] == 2 and prep.fpar.shape[0] == 2
    assert prep.cols.dtype == np.int64 and prep.fpar.dtype == np.float64
    assert prep.ind.flags.c_contiguous and prep.cols.flags.c_contiguous and prep.fpar.flags.c_contiguous
    np.testing.assert_array_equal(prep.ind[:5], np.vstack(prices))


@pytest.mark.parametrize("name", LIBRARY)
def test_resolve_when_param_unknown_then_error_names_it(name):
    with pytest.raises(StrategyError, match=r"unknown parameter\(s\) bogus_param"):
        get_strategy(name).resolve({"bogus_param": 1})


@pytest.mark.parametrize("name", LIBRARY)
def test_resolve_when_param_out_of_range_then_error_names_it(name):
    s = get_strategy(name)
    p = next(p for p in s.params if p.kind in ("int", "float"))
    with pytest.raises(StrategyError, match=rf"{name}\.{p.name}=-5 is invalid"):
        s.resolve({p.name: -5})


@pytest.mark.parametrize("name", LIBRARY)
def test_resolve_when_simulator_param_given_then_accepted(name):
    s = get_strategy(name)
    out = s.resolve({"sl_stop": 0.1})
    assert ("sl_stop" in out) == ("sl_stop" in s.param_names)


CONSTRAINTS = [
    ("ma_crossover", {"fast": 50, "slow": 20}, "fast < slow"),
    ("rsi_reversion", {"lower": 70, "upper": 30}, "lower < upper"),
    ("rsi_reversion", {"lower": 30, "exit_level": 25}, "lower < exit_level"),
    ("macd", {"fast": 26, "slow": 12}, "fast < slow"),
    ("momentum", {"threshold": 0.0, "exit_threshold": 0.01}, "exit_threshold <= threshold"),
    ("zscore_reversion", {"entry_z": 1.0, "exit_z": 1.0}, "exit_z < entry_z"),
    ("vol_regime_filter", {"inner": "ma_crossover", "ma_fast": 30, "ma_slow": 10}, "ma_crossover (ma_*): fast < slow"),
    ("vol_regime_filter", {"inner": "momentum", "mom_threshold": -0.1},
     "momentum (mom_*): exit_threshold <= threshold"),
    ("composite", {"threshold": 0.4, "exit_threshold": 0.6}, "0 < exit_threshold <= threshold"),
    ("composite", {"exit_threshold": 0.0}, "0 < exit_threshold <= threshold"),
    ("composite", {"w_ma": 0, "w_rsi": 0, "w_macd": 0, "w_mom": 0}, "w_ma + w_rsi + w_macd + w_mom > 0"),
    ("composite", {"macd_fast": 30}, "macd (macd_*): fast < slow"),
]


@pytest.mark.parametrize(("name", "params", "text"), CONSTRAINTS)
def test_resolve_when_constraint_broken_then_error_names_it(name, params, text):
    with pytest.raises(StrategyError) as info:
        get_strategy(name).resolve(params)
    assert f"constraint '{text}'" in str(info.value)


def test_resolve_when_member_constraint_broken_but_member_unused_then_accepted():
    r = get_strategy("vol_regime_filter").resolve({"inner": "momentum", "ma_fast": 30, "ma_slow": 10})
    assert (r["inner"], r["ma_fast"], r["ma_slow"]) == ("momentum", 30, 10)  # kept as given, not "fixed"
    r = get_strategy("composite").resolve({"w_macd": 0, "macd_fast": 30})
    assert (r["w_macd"], r["macd_fast"], r["macd_slow"]) == (0.0, 30, 26)


def test_resolve_when_choice_invalid_then_error_names_it():
    with pytest.raises(StrategyError, match=r"vol_regime_filter\.inner='rsi_reversion' is invalid"):
        get_strategy("vol_regime_filter").resolve({"inner": "rsi_reversion"})
