"""Lookahead check: planted leaks of every known kind are caught and named, the library passes."""

from __future__ import annotations

import re

import leaky_strategies as leaks
import numpy as np
import pandas as pd
import pytest
from helpers import random_bars
from numba import njit

from peaktrade.errors import BacktestError
from peaktrade.experiments import LookaheadReport, lookahead_check
from peaktrade.experiments.lookahead import default_checkpoints, strategy_code_hash
from peaktrade.strategies import CLOSE, SIGNAL_SIG, IndicatorTable, Strategy, list_strategies
from peaktrade.strategies.base import prices_from_bars


@njit(SIGNAL_SIG)
def _peek_signal_nb(ind, cols, fpar, state, t0, t1, entries, exits):
    c = ind[CLOSE]
    n = c.shape[0]
    for t in range(t0, t1):
        nxt = ind[CLOSE, t + 1] if t + 1 < n else c[t]  # reads the next bar: a leak
        entries[t - t0] = nxt > c[t]
        exits[t - t0] = nxt < c[t]


def _bars_only(prices, combos):
    return IndicatorTable(prices).build([[] for _ in combos], [[] for _ in combos])


PEEK = Strategy(name="peek_next_close", summary="buys when the next close is higher (leaks)", params=(),
                prepare=_bars_only, signal_nb=_peek_signal_nb)


@pytest.fixture(scope="module")
def bars():
    return random_bars(2000, seed=21)


@pytest.fixture(autouse=True)
def _fresh_leak_state(bars):
    # the planted cache starts empty; the planted "global" holds the full history of the bars checked
    leaks.CACHE.clear()
    leaks.GLOBAL["close"] = bars["close"].to_numpy()
    yield
    leaks.CACHE.clear()


def test_lookahead_check_when_kernel_reads_the_next_bar_then_flagged_on_the_last_bar_of_each_history(bars):
    rep = lookahead_check(PEEK, bars)
    assert isinstance(rep, LookaheadReport) and not rep.passed
    ch = rep.changes
    assert list(ch.columns) == ["time", "bar", "signal", "combo", "k", "value", "k_more", "value_more"]
    assert set(ch["signal"]) == {"entries", "exits"}
    # every change is on the last bar of the shorter history, where the future was cut off
    assert (ch["bar"] == ch["k"] - 1).all()
    assert (bars.index[ch["bar"]] == pd.DatetimeIndex(ch["time"])).all()
    assert (ch["value"] != ch["value_more"]).all()
    assert rep.first_leak == ch["time"].min() and rep.first_bar == ch["bar"].min()
    assert "FAILED" in repr(rep)


@pytest.mark.parametrize("kind", list(leaks.LEAKS))
def test_lookahead_check_when_a_leak_is_planted_then_caught_naming_first_bar_and_output(kind, bars):
    strat, params, output = leaks.LEAKS[kind]
    # the check costs O(bars x signal bars); 1,200 bars hold two of the rare events, and pandas
    # resampling on every history is slow enough to show the naive merge on 600
    bars = bars.iloc[:600] if strat is leaks.NAIVE_HTF else bars.iloc[:1200]
    rep = lookahead_check(strat, bars, **params)
    assert not rep.passed, kind
    assert re.match(output, rep.first_output), (kind, rep.first_output, rep.message)
    assert isinstance(rep.first_bar, int) and 0 <= rep.first_bar < len(bars)
    assert rep.first_leak == bars.index[rep.first_bar]
    msg = rep.message
    assert "\n" not in msg and f"'{strat.name}'" in msg and "reads the future" in msg
    assert f"'{rep.first_output}'" in msg and f"bar {rep.first_bar} ({bars.index[rep.first_bar]})" in msg


def test_planted_leaks_when_counted_then_at_least_ten_distinct_kinds():
    assert len(leaks.LEAKS) >= 10
    assert len({s.name for s, _, _ in leaks.LEAKS.values()}) == len(leaks.LEAKS)


def test_lookahead_check_when_a_rare_event_peeks_behind_a_bounds_check_then_caught_on_an_event_bar(bars):
    strat = leaks.RARE_PEEK
    rep = lookahead_check(strat, bars)
    prep = strat.prepare(prices_from_bars(bars), [{}])
    e = np.zeros(len(bars), bool)
    strat.signal_nb(prep.ind, prep.cols[0], prep.fpar[0], np.zeros(1), 0, len(bars), e, np.zeros(len(bars), bool))
    events = np.flatnonzero(e)
    assert 1 <= len(events) <= 0.005 * len(bars)  # rare: ~0.25 % of bars
    assert rep.first_output == "entries" and rep.first_bar in set(events.tolist())
    ch = rep.changes
    # caught where the event bar is the last bar of the history, a history no fixed checkpoint holds
    assert (ch["k"] == ch["bar"] + 1).all() and not ch["value"].any() and ch["value_more"].all()
    assert not set(ch["k"]) & set(default_checkpoints(len(bars)).tolist())
    # the random, warm-up and tail checkpoints alone miss it (explicit checkpoints run nothing else); the
    # signal bars catch it, and so does the kernel checked on every bar without them
    assert lookahead_check(strat, bars, checkpoints=default_checkpoints(len(bars))).passed
    assert not lookahead_check(strat, bars, signal_bars=False).passed


def test_lookahead_check_when_a_cache_was_filled_by_a_full_run_before_the_check_then_still_caught(bars):
    strat = leaks.CACHED
    full = strat.prepare(prices_from_bars(bars), [strat.resolve({})])  # e.g. a backtest run first
    assert len(leaks.CACHE[20]) == len(bars) and np.isfinite(full.ind[5]).any()
    rep = lookahead_check(strat, bars)
    assert not rep.passed and rep.first_output == "cached_z(20)"
    assert any("identical on unrelated bars" in p["text"] for p in rep.problems)


def test_lookahead_check_when_prepare_computes_on_a_global_then_caught_as_not_depending_on_its_input(bars):
    rep = lookahead_check(leaks.ON_GLOBAL, bars)
    # every truncated history agrees (they all slice the same global): only the unrelated bars show it
    assert rep.changes.empty and rep.indicator_changes.empty
    assert [p["output"] for p in rep.problems] == ["future_max_ratio"]


def test_lookahead_check_when_a_peek_depends_on_a_parameter_then_the_grid_is_checked_and_the_combo_named(bars):
    assert lookahead_check(leaks.PARAM_PEEK, bars).passed  # confirm=0 reads nothing ahead
    rep = lookahead_check(leaks.PARAM_PEEK, bars, confirm=[0, 2, 4])
    assert [c["confirm"] for c in rep.combos] == [0, 2, 4]
    assert not rep.passed and set(rep.changes["combo"]) == {1, 2}
    assert "with confirm=2 reads the future" in rep.message


def test_lookahead_check_when_the_grid_is_larger_than_max_combos_then_sampled_covering_every_value(bars):
    # every value of every parameter is checked at least once (a leak may hide at one value); max_combos
    # bounds only the sampled rest
    rep = lookahead_check("ma_crossover", bars.iloc[:400], fast=range(2, 22), slow=[30, 60, 90], max_combos=8)
    assert {c["fast"] for c in rep.combos} == set(range(2, 22))
    assert {c["slow"] for c in rep.combos} == {30, 60, 90}
    assert len(rep.combos) <= 22 < 60
    assert rep.passed
    wide = lookahead_check("ma_crossover", bars.iloc[:400], fast=range(2, 22), slow=[30, 60, 90], max_combos=40)
    assert len(wide.combos) == 40 and wide.passed


def test_lookahead_check_when_prepare_raises_on_a_short_history_then_fails_naming_it(bars):
    def prepare(prices, combos):
        if prices.n < 100:
            raise ValueError("need 100 bars")
        return _bars_only(prices, combos)

    strat = Strategy(name="needs_100", summary="", params=(), prepare=prepare, signal_nb=leaks._band_nb)
    rep = lookahead_check(strat, bars)
    assert not rep.passed and rep.first_output == "prepare"
    assert "raised on the first 1 bars (ValueError: need 100 bars)" in rep.message


@pytest.mark.parametrize("name", [s.name for s in list_strategies()])
def test_lookahead_check_when_library_strategy_with_defaults_then_passes(name, bars):
    rep = lookahead_check(name, bars)
    assert rep.passed, rep.message
    assert rep.strategy == name and len(rep.checkpoints) >= 50
    assert rep.checkpoints.max() == len(bars) - 1
    assert rep.message.startswith(f"strategy '{name}' passed")


@pytest.mark.parametrize("name", [s.name for s in list_strategies()])
def test_lookahead_check_when_library_strategy_on_synthetic_bars_then_passes(name):
    from peaktrade.data import synthetic_bars

    # the bars the experiment-run gate uses (regimes, jumps, prices rounded to the tick: ties)
    rep = lookahead_check(name, synthetic_bars(1000, seed=11))
    assert rep.passed, rep.message


@pytest.mark.parametrize("name, params", [
    ("composite", {"w_rsi": 0.0, "threshold": 0.6, "exit_threshold": 0.3}),
    ("composite", {"w_ma": 2.0, "w_mom": 0.0, "ma_kind": "ema"}),
    ("vol_regime_filter", {"quantile": 0.5}),
    ("ma_crossover", {"fast": [3, 10], "slow": [20, 50]}),
])
def test_lookahead_check_when_composites_and_grids_on_synthetic_bars_then_pass(name, params):
    from peaktrade.data import synthetic_bars

    rep = lookahead_check(name, synthetic_bars(1500, seed=3), **params)
    assert rep.passed, rep.message


def test_lookahead_check_when_library_on_real_data_then_no_false_positive(shared_data):
    from peaktrade.data import read_kraken_ohlcvt, resample_bars

    hourly = read_kraken_ohlcvt(shared_data / "XBTUSD_60.csv.gz")
    sets = {"1h": hourly.iloc[-2000:], "4h": resample_bars(hourly.iloc[-8000:], "4h")}
    failed = []
    for tf, b in sets.items():
        for s in list_strategies():
            rep = lookahead_check(s.name, b)
            if not rep.passed:
                failed.append(f"{tf}: {rep.message}")
    assert not failed


def test_lookahead_check_when_checkpoints_given_then_uses_them(bars):
    rep = lookahead_check("ma_crossover", bars, checkpoints=[100, 500, 1999], fast=5, slow=20)
    assert list(rep.checkpoints) == [100, 500, 1999] and rep.passed
    assert rep.params["fast"] == 5


@pytest.mark.parametrize("bad", [[0], [2000], [1.5], []])
def test_lookahead_check_when_checkpoints_are_invalid_then_error_names_them(bars, bad):
    with pytest.raises(BacktestError, match="checkpoints="):
        lookahead_check("ma_crossover", bars, checkpoints=bad)


def test_default_checkpoints_when_seeded_then_reproducible_and_cover_warm_up_and_tail():
    a, b = default_checkpoints(3000, seed=1), default_checkpoints(3000, seed=1)
    assert np.array_equal(a, b) and not np.array_equal(a, default_checkpoints(3000, seed=2))
    assert {1, 2, 4, 8, 16, 32, 64}.issubset(a.tolist()) and a.max() == 2999 and a.min() >= 1


def test_strategy_code_hash_when_its_module_or_a_module_it_uses_changes_then_hash_changes(tmp_path, monkeypatch):
    import importlib
    import sys

    strategy_src = (
        "import hashed_helper\n"
        "from peaktrade.strategies import IndicatorTable, Strategy\n"
        "from leaky_strategies import _band_nb\n"
        "def prepare(prices, combos):\n"
        "    return IndicatorTable(prices).build([[] for _ in combos], [[hashed_helper.LEVEL{k}] for _ in combos])\n"
        "STRATEGY = Strategy(name='hashed', summary='', params=(), prepare=prepare, signal_nb=_band_nb)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))

    def hash_of(strategy_k: str, helper: str) -> str:
        (tmp_path / "hashed_mod.py").write_text(strategy_src.replace("{k}", strategy_k))
        (tmp_path / "hashed_helper.py").write_text(helper)
        for m in ("hashed_mod", "hashed_helper"):
            sys.modules.pop(m, None)
        importlib.invalidate_caches()
        return strategy_code_hash(importlib.import_module("hashed_mod").STRATEGY)

    try:
        base = hash_of("", "LEVEL = 1.0\n")
        assert hash_of("", "LEVEL = 1.0\n") == base
        assert hash_of(" + 0.0", "LEVEL = 1.0\n") != base  # the strategy's own module
        assert hash_of("", "LEVEL = 2.0\n") != base  # a project module it references
    finally:
        for m in ("hashed_mod", "hashed_helper"):
            sys.modules.pop(m, None)
    assert strategy_code_hash("ma_crossover") != strategy_code_hash("macd")


def test_lookahead_check_when_signal_bars_are_capped_then_edges_kept_and_the_rest_counted(bars):
    full = lookahead_check("momentum", bars)
    capped = lookahead_check("momentum", bars, max_signal_bars=300)
    assert full.signal_bars_skipped == 0 and capped.signal_bars_skipped > 0
    assert len(capped.checkpoints) + capped.signal_bars_skipped == len(full.checkpoints)
    assert capped.passed
    # the rare-event peek turns on at each event: a cap still checks it
    assert not lookahead_check(leaks.RARE_PEEK, bars, max_signal_bars=1).passed


PKG_SRC = '''
import peaktrade.strategies as pts


class PkgRev(pts.PandasStrategy):
    name = "pkg_rev"
    params = (pts.Param("n", "int", 5, low=1, high=50),)

    def signals(self, bars, n):
        z = bars["close"].shift(SHIFT) > bars["close"]
        return z.fillna(False), (~z).fillna(False)


STRATEGY = PkgRev().to_strategy()
'''


def test_strategy_code_hash_when_installed_package_upgraded_then_hash_changes(tmp_path, monkeypatch):
    # a strategy from an installed package (entry point group peaktrade.strategies) lives in site-packages
    import importlib
    import shutil
    import sys
    import sysconfig

    site = tmp_path / "site-packages"
    real = sysconfig.get_paths()
    monkeypatch.setattr(sysconfig, "get_paths", lambda *a, **k: {**real, "purelib": str(site), "platlib": str(site)})
    monkeypatch.syspath_prepend(str(site))

    def install(version: str, shift: str) -> str:
        shutil.rmtree(site, ignore_errors=True)
        (site / "pkgrev").mkdir(parents=True)
        (site / "pkgrev" / "__init__.py").write_text(PKG_SRC.replace("SHIFT", shift))
        info = site / f"pkgrev-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: pkgrev\nVersion: {version}\n")
        (info / "top_level.txt").write_text("pkgrev\n")
        sys.modules.pop("pkgrev", None)
        importlib.invalidate_caches()
        return strategy_code_hash(importlib.import_module("pkgrev").STRATEGY)

    try:
        causal = install("1.0", "n")
        assert install("1.0", "n") == causal  # the same installed code: the same hash (verdicts are reused)
        assert install("1.1", "-n") != causal  # upgraded to a leaky version: its source counts
        assert install("1.1", "n") != causal  # the same source, another version: the version counts
    finally:
        sys.modules.pop("pkgrev", None)


def test_strategy_code_hash_when_strategy_code_has_no_file_then_hash_never_collides():
    # fail closed: a strategy whose defining module cannot be read (claims a module it does not come from,
    # __main__ of a notebook) gets a unique hash, never another strategy's cached verdict
    from peaktrade.strategies import PandasStrategy, Param

    def make(sign: int):
        class S(PandasStrategy):
            name = "pkg_rev"
            params = (Param("n", "int", 5, low=1, high=50),)

            def signals(self, bars, n):
                z = bars["close"].shift(sign * n) > bars["close"]
                return z.fillna(False), (~z).fillna(False)

        S.__module__ = "json.decoder"  # a standard-library module: its file is not the strategy's code
        return S

    assert strategy_code_hash(make(1)) != strategy_code_hash(make(-1))
    assert strategy_code_hash(make(1)) != strategy_code_hash(make(1))  # never reused, not even for itself
