"""vol_regime_filter gates an inner strategy's entries; composite votes its members' positions."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from helpers import random_bars
from strategy_helpers import bars_from_close, implied_position

from peaktrade.strategies import composite, generate_signals, get_strategy, prices_from_bars, vol_regime_filter


@pytest.fixture(scope="module")
def walk():
    return random_bars(600, seed=3, vol=0.012)


def regime_bars() -> pd.DataFrame:
    """Calm 0.5 %/bar rise (bars 0-59), volatile zigzag rise (60-119), volatile zigzag fall (120-159)."""
    steps = np.r_[np.full(59, 1.005), np.tile([1.06, 0.96], 30), np.tile([1.04, 0.94], 20)]
    return bars_from_close(100 * np.r_[1.0, np.cumprod(steps)], spread=0.01)


# ------------------------------------------------------------------ vol_regime_filter

MOM = {"mom_window": 4, "mom_threshold": 0.01, "mom_exit_threshold": 0.0}


def test_vol_regime_filter_when_vol_above_max_vol_then_entries_blocked_and_exits_pass():
    bars = regime_bars()
    inner_e, inner_x = generate_signals("momentum", bars, window=4, threshold=0.01, exit_threshold=0.0)
    e, x = generate_signals("vol_regime_filter", bars, inner="momentum", vol_window=5, max_vol=0.01, **MOM)
    calm = np.zeros(len(bars), dtype=bool)
    calm[5:60] = True  # realized vol(5) exists from bar 5; bar 60 brings a 6 % return into the window
    assert inner_e[4:60].all() and inner_e[60:120].sum() > 20 and inner_x[120:].sum() > 20  # the inner trades
    np.testing.assert_array_equal(e.to_numpy(), inner_e.to_numpy() & calm)
    np.testing.assert_array_equal(x.to_numpy(), inner_x.to_numpy())


def test_vol_regime_filter_when_quantile_one_then_only_warm_up_blocks(walk):
    inner_e, inner_x = generate_signals("ma_crossover", walk, fast=5, slow=20)
    e, x = generate_signals("vol_regime_filter", walk, ma_fast=5, ma_slow=20, vol_window=10,
                            regime_window=40, quantile=1.0)
    warm = np.arange(len(walk)) >= 10 + 40 - 1
    np.testing.assert_array_equal(e.to_numpy(), inner_e.to_numpy() & warm)
    np.testing.assert_array_equal(x.to_numpy(), inner_x.to_numpy())


@pytest.mark.parametrize(
    ("inner", "inner_params", "prefixed"),
    [
        ("ma_crossover", {"fast": 5, "slow": 20, "kind": "ema"}, {"ma_fast": 5, "ma_slow": 20, "ma_kind": "ema"}),
        ("donchian_breakout", {"entry_window": 10, "exit_window": 5}, {"dc_entry_window": 10, "dc_exit_window": 5}),
        ("momentum", {"window": 10, "threshold": 0.02}, {"mom_window": 10, "mom_threshold": 0.02}),
    ],
)
def test_vol_regime_filter_when_quantile_threshold_then_entries_pass_only_at_or_below_it(
    walk, inner, inner_params, prefixed
):
    inner_e, inner_x = generate_signals(inner, walk, **inner_params)
    e, x = generate_signals("vol_regime_filter", walk, inner=inner, vol_window=12, regime_window=60,
                            quantile=0.4, **prefixed)
    rv = np.log(walk.close).diff().rolling(12).std(ddof=0)
    calm = (rv <= rv.rolling(60).quantile(0.4)).to_numpy()
    assert 0 < (inner_e.to_numpy() & calm).sum() < inner_e.sum()  # the gate bites
    np.testing.assert_array_equal(e.to_numpy(), inner_e.to_numpy() & calm)
    np.testing.assert_array_equal(x.to_numpy(), inner_x.to_numpy())


def counting(monkeypatch, module, attr):
    """Replace ``module.<attr>`` members by copies whose prepare counts its calls; return the counts."""
    calls: dict[str, int] = {}
    members = []
    for m in getattr(module, attr):
        def prep(prices, combos, _orig=m.strategy.prepare, _name=m.name):
            calls[_name] = calls.get(_name, 0) + 1
            return _orig(prices, combos)

        members.append(dataclasses.replace(m, strategy=dataclasses.replace(m.strategy, prepare=prep)))
    monkeypatch.setattr(module, attr, tuple(members))
    return calls


def test_vol_regime_filter_when_many_combos_then_each_inner_prepare_runs_once(walk, monkeypatch):
    calls = counting(monkeypatch, vol_regime_filter, "INNER")
    s = get_strategy("vol_regime_filter")
    combos = [s.resolve({"inner": inner, "vol_window": w, "ma_fast": f})
              for inner in ("ma_crossover", "momentum") for w in (10, 20) for f in (5, 10)]
    prep = s.prepare(prices_from_bars(walk), combos)
    assert calls == {"ma_crossover": 1, "momentum": 1}
    # rows: 5 bars + rv(10), rv(20) + 2 thresholds + ma (sma5, sma10, sma100) + momentum roc(20)
    assert prep.ind.shape[0] == 5 + 2 + 2 + 3 + 1


# ------------------------------------------------------------------ composite

MEMBER_PARAMS = {
    "ma_crossover": {"fast": 5, "slow": 20},
    "rsi_reversion": {"window": 5},
    "macd": {"fast": 5, "slow": 12, "signal": 4},
    "momentum": {"window": 10},
}
PREFIXED = {"ma_fast": 5, "ma_slow": 20, "rsi_window": 5, "macd_fast": 5, "macd_slow": 12, "macd_signal": 4,
            "mom_window": 10}
WEIGHT_OF = {"ma_crossover": "w_ma", "rsi_reversion": "w_rsi", "macd": "w_macd", "momentum": "w_mom"}


def member_positions(bars) -> dict[str, np.ndarray]:
    return {name: implied_position(*generate_signals(name, bars, **p)) for name, p in MEMBER_PARAMS.items()}


def expected_vote(bars, weights, threshold, exit_threshold):
    pos = member_positions(bars)
    total = sum(weights.values())
    score = sum(w * pos[name] for name, w in weights.items()) / total
    exits = score < exit_threshold - 1e-12
    return (score >= threshold - 1e-12) & ~exits, exits


def composite_signals(bars, weights, threshold, exit_threshold):
    w = {v: 0.0 for v in WEIGHT_OF.values()}
    w.update({WEIGHT_OF[name]: v for name, v in weights.items()})
    e, x = generate_signals("composite", bars, threshold=threshold, exit_threshold=exit_threshold, **w, **PREFIXED)
    return e.to_numpy(), x.to_numpy()


def test_composite_when_one_member_then_long_exactly_while_that_member_is_long(walk):
    pos = member_positions(walk)["ma_crossover"]
    e, x = composite_signals(walk, {"ma_crossover": 1.0}, 0.5, 0.5)
    np.testing.assert_array_equal(e, pos == 1.0)
    np.testing.assert_array_equal(x, pos == 0.0)


@pytest.mark.parametrize(
    ("weights", "threshold", "exit_threshold"),
    [
        ({"ma_crossover": 1.0, "momentum": 3.0}, 0.5, 0.5),  # momentum alone decides
        ({"ma_crossover": 1.0, "momentum": 3.0}, 0.8, 0.8),  # both must be long
        ({"ma_crossover": 1.0, "rsi_reversion": 1.0, "macd": 1.0, "momentum": 1.0}, 0.5, 0.5),
        ({"ma_crossover": 2.0, "rsi_reversion": 1.0, "macd": 0.5, "momentum": 1.5}, 0.6, 0.3),
    ],
)
def test_composite_when_weighted_then_signals_follow_the_weighted_vote(walk, weights, threshold, exit_threshold):
    exp_e, exp_x = expected_vote(walk, weights, threshold, exit_threshold)
    e, x = composite_signals(walk, weights, threshold, exit_threshold)
    assert exp_e.any() and exp_x.any()
    np.testing.assert_array_equal(e, exp_e)
    np.testing.assert_array_equal(x, exp_x)


def test_composite_when_heavy_member_long_then_light_member_cannot_exit(walk):
    pos = member_positions(walk)
    e, _ = composite_signals(walk, {"ma_crossover": 1.0, "momentum": 3.0}, 0.5, 0.5)
    only_ma = (pos["ma_crossover"] == 1.0) & (pos["momentum"] == 0.0)
    assert only_ma.any() and not e[only_ma].any()
    np.testing.assert_array_equal(e[pos["momentum"] == 1.0], True)


def test_composite_when_many_combos_then_each_member_prepare_runs_once_and_rows_dedup(walk, monkeypatch):
    calls = counting(monkeypatch, composite, "MEMBERS")
    s = get_strategy("composite")
    combos = [s.resolve({"threshold": t, "ma_fast": f, "w_rsi": w})
              for t in (0.5, 0.75) for f in (10, 20) for w in (0.0, 1.0)]
    prices = prices_from_bars(walk)
    prep = s.prepare(prices, combos)
    assert calls == {"ma_crossover": 1, "rsi_reversion": 1, "macd": 1, "momentum": 1}
    # 5 bars + sma10, sma20, sma100 + rsi14 + macd line, signal + roc20
    assert prep.ind.shape[0] == 5 + 3 + 1 + 2 + 1


def test_composite_when_members_share_an_indicator_then_row_is_stored_once(walk):
    s = get_strategy("composite")
    prices = prices_from_bars(walk)
    # rsi trend filter SMA(100) is the same series as ma_crossover's slow SMA(100)
    shared = s.prepare(prices, [s.resolve({"rsi_trend": 100})]).ind.shape[0]
    alone = s.prepare(prices, [s.resolve({})]).ind.shape[0]
    assert shared == alone


def test_composite_when_members_never_trade_then_never_enters():
    bars = bars_from_close(np.full(200, 100.0))
    e, x = generate_signals("composite", bars)
    assert not e.any() and x.all()
