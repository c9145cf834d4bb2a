"""Each library strategy on a constructed series whose signals are known bar by bar.

Bars come from ``bars_from_close``: open = previous close, high/low = close ± 0.5.
"""

from __future__ import annotations

import numpy as np
import pytest
from strategy_helpers import bars_from_close, signal_bars

from peaktrade.indicators import api
from peaktrade.strategies import get_strategy

# A channel series: flat, a 3-bar rally, a slide back.
CHANNEL = [10, 10, 10, 10, 13, 14, 15, 14, 12, 10, 10]
# Two falls and rallies by 1 per bar (RSI with window 2 computed by hand below).
SAWTOOTH = [10, 9, 8, 7, 8, 9, 10, 11, 10, 9, 8, 7, 8, 9]
# Oscillation, a drop to 7, a rebound, a dip to 10 (mean-reversion cases).
DIPS = [10, 11, 10, 11, 10, 11, 7, 8, 12, 11, 10, 11]


def test_ma_crossover_when_fast_crosses_up_then_down_then_enters_and_exits():
    # SMA2 vs SMA4 from bar 3: tie, below (4-6), 9.5 > 9 at bar 7 (cross up), 10.5 < 11 at bar 11 (down)
    bars = bars_from_close([10, 10, 10, 10, 9, 8, 9, 10, 11, 12, 11, 10, 9, 8])
    assert signal_bars("ma_crossover", bars, fast=2, slow=4) == ([7], [11])


def test_rsi_reversion_when_rsi_crosses_lower_then_upper_then_enters_and_exits():
    # Wilder RSI(2): bars 2-3: 0; bar 4: 50 (up through 30: entry); bar 5: 75 (up through 70: exit);
    # 87.5, 93.75, 45.5, 23.1, 11.6, ~5.8; bar 12: 52.8 (entry); bar 13: 76.4 (exit)
    rsi = api.rsi(bars_from_close(SAWTOOTH).close, window=2).to_numpy()
    np.testing.assert_allclose(rsi[2:8], [0, 0, 50, 75, 87.5, 93.75])
    assert signal_bars("rsi_reversion", bars_from_close(SAWTOOTH), window=2) == ([4, 12], [5, 13])


def test_rsi_reversion_when_exit_level_set_then_exits_while_rsi_at_or_above_it():
    bars = bars_from_close(SAWTOOTH)
    assert signal_bars("rsi_reversion", bars, window=2, exit_level=60) == ([4, 12], [5, 6, 7, 13])


def test_rsi_reversion_when_exit_level_holds_on_the_entry_bar_then_exit_wins():
    # RSI 50 at bar 4 crosses 30 but is >= 45: the exit condition holds, so no entry
    bars = bars_from_close(SAWTOOTH)
    assert signal_bars("rsi_reversion", bars, window=2, exit_level=45) == ([], [4, 5, 6, 7, 8, 12, 13])


def test_rsi_reversion_when_trend_filter_on_then_enters_only_above_the_sma():
    bars = bars_from_close(SAWTOOTH)
    # close 8 at bars 4 and 12: SMA3 = 7.67 (passes), SMA5 = 8.4 (blocks)
    assert signal_bars("rsi_reversion", bars, window=2, trend=3) == ([4, 12], [5, 13])
    assert signal_bars("rsi_reversion", bars, window=2, trend=5) == ([], [5, 13])


def test_donchian_breakout_when_close_clears_previous_high_then_enters_and_exits_below_previous_low():
    # upper3 at bars 4/5/6 = 10.5/13.5/14.5 < close; lower2 at bars 8/9 = 13.5/11.5 > close
    assert signal_bars("donchian_breakout", bars_from_close(CHANNEL), entry_window=3, exit_window=2) == (
        [4, 5, 6], [8, 9])


def test_donchian_breakout_when_close_equals_the_previous_high_then_no_entry():
    bars = bars_from_close([10, 10, 10, 10.5, 10.5])  # high 10.5 then close 10.5: not above
    bars.loc[bars.index[3:], "high"] = 10.5
    assert signal_bars("donchian_breakout", bars, entry_window=3, exit_window=2) == ([], [])


def test_breakout_when_close_clears_previous_high_then_enters_and_exits_by_the_opposite_channel():
    # one window for both sides: upper2 at bar 4 = 10.5; lower2 at bars 8/9 = 13.5/11.5
    assert signal_bars("breakout", bars_from_close(CHANNEL), window=2) == ([4, 5, 6], [8, 9])


def test_breakout_when_resolved_then_ships_default_stops_as_sweepable_params():
    s = get_strategy("breakout")
    assert set(s.stop_defaults) == {"sl_stop", "tp_stop", "sl_trail"}
    by_name = {p.name: p for p in s.params}
    for name, value in s.stop_defaults.items():
        assert by_name[name].kind == "float" and by_name[name].low == 0 and by_name[name].default == value
    resolved = s.resolve({"tp_stop": 0.3})
    assert resolved["tp_stop"] == 0.3 and resolved["sl_stop"] == s.stop_defaults["sl_stop"]
    assert np.isnan(s.resolve({"sl_trail": float("nan")})["sl_trail"])  # NaN = off
    # stops do not change the signal
    bars = bars_from_close(CHANNEL)
    assert signal_bars("breakout", bars, window=2, sl_stop=0.2) == signal_bars("breakout", bars, window=2)


def test_bollinger_reversion_when_close_crosses_below_lower_band_then_enters_and_exits_at_mid():
    # window 3, k 1: bar 6: close 7 < 9.33 - 1.70 (cross below) -> entry; bar 8: 12 >= mid 9 -> exit;
    # bar 10: 10 < 11 - 0.82 -> entry; exits wherever close >= mid (3, 5, 8, 9, 11)
    assert signal_bars("bollinger_reversion", bars_from_close(DIPS), window=3, k=1.0) == (
        [6, 10], [3, 5, 8, 9, 11])


def test_bollinger_reversion_when_close_stays_below_band_then_enters_only_on_the_cross():
    close = [10, 11, 10, 11, 10, 11, 7, 5, 3, 2, 11]  # keeps falling below the lower band after bar 6
    entries, exits = signal_bars("bollinger_reversion", bars_from_close(close), window=3, k=1.0)
    assert entries == [6] and exits[-1] == 10


def test_macd_when_trend_turns_up_then_down_then_enters_and_exits_on_opposite_crosses():
    # flat at 100 (bars 0-19), down to 90 (bar 29), up to 110 (bar 49), down to 90 (bar 69);
    # EMA(3) - EMA(6) vs its EMA(3): cross up on the first rising bar, cross down on the first falling one
    close = np.r_[np.full(20, 100.0), np.linspace(100, 90, 11)[1:], np.linspace(90, 110, 21)[1:],
                  np.linspace(110, 90, 21)[1:]]
    assert signal_bars("macd", bars_from_close(close), fast=3, slow=6, signal=3) == ([30], [50])


def test_momentum_when_rate_of_change_rises_then_falls_then_enters_above_and_exits_below():
    # ROC(2): bar 3: +6 %, bar 4: +12 %, bar 5: +8.5 % (> 5 %: entries); bars 6-8 < 0 (exits); bar 2: 0 (neither)
    bars = bars_from_close([100, 100, 100, 106, 112, 115, 110, 100, 100])
    assert signal_bars("momentum", bars, window=2, threshold=0.05, exit_threshold=0.0) == ([3, 4, 5], [6, 7, 8])


V_UP_DOWN = np.r_[np.linspace(100, 85, 16), np.linspace(85, 100, 16)[1:], np.linspace(100, 85, 16)[1:]]


def test_trend_following_when_di_crosses_in_a_trend_then_enters_and_exits_on_the_opposite_cross():
    # Falling by 1: -DI = 66.7, ADX = 100. From bar 16 rising: smoothed +DM 1/3 then 5/9 vs -DM 2/3, 4/9
    # (TR 1.5) -> +DI 37.0 > -DI 29.6 at bar 17 with ADX 55.6 > 20 (entry); mirror after the top -> exit 32.
    assert signal_bars("trend_following", bars_from_close(V_UP_DOWN), window=3, adx_min=20) == ([17], [32])


def test_trend_following_when_adx_falls_below_adx_min_then_exits_before_any_di_cross():
    # down, up, then a ±0.2 chop: ADX decays while +DI stays above -DI until bar 28
    close = np.r_[np.linspace(100, 90, 11), np.linspace(90, 100, 11)[1:], 100 + np.tile([0.2, 0.0], 10)]
    bars = bars_from_close(close)
    dmi = api.adx(bars.high, bars.low, bars.close, window=3)
    entries, exits = signal_bars("trend_following", bars, window=3, adx_min=47)
    assert entries == [12]
    assert exits[0] == 27
    assert dmi.adx.iloc[27] < 47 < dmi.adx.iloc[26] and dmi.plus_di.iloc[27] > dmi.minus_di.iloc[27]
    assert signal_bars("trend_following", bars, window=3, adx_min=0)[1][0] == 28  # the DI cross alone


def test_zscore_reversion_when_z_drops_below_minus_entry_z_then_enters_and_exits_above_minus_exit_z():
    # z(3) at bar 6 = (7 - 9.33) / 1.70 = -1.37, at bar 10 = (10 - 11) / 0.82 = -1.22 (< -1.2: entries);
    # z > 0 at bars 3, 5, 8, 9, 11 (exits)
    assert signal_bars("zscore_reversion", bars_from_close(DIPS), window=3, entry_z=1.2, exit_z=0.0) == (
        [6, 10], [3, 5, 8, 9, 11])
    assert signal_bars("zscore_reversion", bars_from_close(DIPS), window=3, entry_z=1.3, exit_z=0.0)[0] == [6]


def test_atr_band_breakout_when_close_clears_sma_plus_k_atr_then_enters_and_exits_below_sma():
    # SMA3 / Wilder ATR2 at bars 4-6: 11 + .5*2.25, 12.33 + .5*1.875, 14 + .5*1.69 (all < close: entries);
    # close < SMA3 at bars 7-10 (exits); bars 2-3: close == SMA (neither)
    assert signal_bars("atr_band_breakout", bars_from_close(CHANNEL), window=3, atr_window=2, k=0.5) == (
        [4, 5, 6], [7, 8, 9, 10])
    # k = 1: 13 < 11 + 2.25 at bar 4, 14 < 12.33 + 1.875 at bar 5, 15 < 14 + 1.69 at bar 6: no entry
    assert signal_bars("atr_band_breakout", bars_from_close(CHANNEL), window=3, atr_window=2, k=1.0)[0] == []


@pytest.mark.parametrize(
    ("name", "close", "params"),
    [
        ("ma_crossover", np.sin(np.arange(300) / 10) * 10 + 100, {"fast": 3, "slow": 12}),
        ("macd", np.sin(np.arange(300) / 10) * 10 + 100, {"fast": 3, "slow": 8, "signal": 3}),
        ("trend_following", np.sin(np.arange(300) / 10) * 10 + 100, {"window": 5, "adx_min": 10}),
        ("rsi_reversion", np.sin(np.arange(300) / 5) * 10 + 100, {"window": 4}),
        ("bollinger_reversion", np.sin(np.arange(300) / 5) * 10 + 100, {"window": 20, "k": 1.0}),
    ],
)
def test_crossover_strategy_when_price_oscillates_then_every_entry_is_followed_by_an_exit(name, close, params):
    entries, exits = signal_bars(name, bars_from_close(close), **params)
    assert len(entries) >= 3
    for e1, e2 in zip(entries, entries[1:]):
        assert any(e1 < x <= e2 for x in exits), f"{name}: no exit between the entries at bars {e1} and {e2}"
