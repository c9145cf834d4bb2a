"""candles(): candlesticks with the strategy's indicators and trade markers, usable on big runs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from peaktrade.backtest import run
from peaktrade.errors import PeakTradeError
from peaktrade.reporting import candles, indicator_frame


def _traces(fig) -> dict[str, object]:
    return {t.name: t for t in fig.data}


def _times(values) -> list[pd.Timestamp]:
    """Times as naive UTC (plotly keeps a figure's times without their zone)."""
    out = [pd.Timestamp(v) for v in values]
    return [t.tz_convert("UTC").tz_localize(None) if t.tzinfo else t for t in out]


@pytest.fixture(scope="module")
def bars() -> pd.DataFrame:
    from peaktrade.data import synthetic_bars

    return synthetic_bars(1500, seed=11)


def test_candles_when_ma_crossover_runs_then_candles_both_mas_and_trade_markers_are_drawn(bars):
    res = run("ma_crossover", bars, fast=10, slow=40)
    fig = candles(res)
    tr = _traces(fig)

    price = fig.data[0]
    assert price.type == "candlestick" and len(price.x) == len(bars)
    np.testing.assert_allclose(price.close, bars["close"].to_numpy())
    for name, window in (("sma(10)", 10), ("sma(40)", 40)):
        assert name in tr, f"indicator line {name} missing: {list(tr)}"
        line = pd.Series(np.asarray(tr[name].y, dtype=float), index=_times(tr[name].x))
        close = pd.Series(bars["close"].to_numpy(), index=_times(bars.index))
        expected = close.rolling(window).mean().reindex(line.index)
        np.testing.assert_allclose(line.to_numpy(), expected.to_numpy(), rtol=1e-9, equal_nan=True)
    trades = res.trades
    assert len(trades) > 5, "precondition: several trades"
    longs = trades[trades["direction"] > 0]
    assert _times(tr["long entry"].x) == _times(longs["entry_time"])
    np.testing.assert_allclose(tr["long entry"].y, longs["entry_price"].to_numpy())
    closed = trades[~trades["is_open"]]
    assert _times(tr["exit"].x) == _times(closed["exit_time"])
    np.testing.assert_allclose(tr["exit"].y, closed["exit_price"].to_numpy())
    assert "short entry" not in tr and "stop exit" not in tr  # long-only, no stops


def test_candles_when_shorts_and_a_stop_loss_then_short_entries_stop_exits_and_stop_levels_are_marked(bars):
    res = run("ma_crossover", bars, fast=10, slow=40, direction="both", sl_stop=0.01)
    tr = _traces(candles(res))
    trades = res.trades
    shorts = trades[trades["direction"] < 0]
    stopped = trades[trades["exit_reason"] == "stop_loss"]
    assert len(shorts) and len(stopped), "precondition: shorts and stop-loss exits"
    assert _times(tr["short entry"].x) == _times(shorts["entry_time"])
    assert _times(tr["stop exit"].x) == _times(stopped["exit_time"])
    np.testing.assert_allclose(tr["stop exit"].y, stopped["exit_price"].to_numpy())
    level = tr["stop-loss level (sl_stop=0.01)"]
    ys = [y for y in level.y if y is not None]
    first = trades.iloc[0]
    assert ys[0] == pytest.approx(first["entry_price"] * (1 - 0.01 * first["direction"]))


def test_candles_when_a_window_is_given_then_only_its_bars_and_trades_are_drawn(bars):
    res = run("ma_crossover", bars, fast=10, slow=40)
    start, end = _times([bars.index[400], bars.index[700]])
    fig = candles(res, start=str(start), end=str(end))
    tr = _traces(fig)
    x = _times(fig.data[0].x)
    assert x[0] == start and x[-1] == _times([bars.index[699]])[0] and len(x) == 300
    entries = _times(tr["long entry"].x) if "long entry" in tr else []
    assert all(start <= t < end + pd.Timedelta("1h") for t in entries)
    entry = pd.Series(_times(res.trades["entry_time"]))
    inside = entry[(entry >= start) & (entry < end)]
    assert len(entries) == len(inside)
    assert len(tr["sma(40)"].x) == 300  # indicators computed on all bars, then cut: no warm-up gap
    assert not np.isnan(np.asarray(tr["sma(40)"].y, dtype=float)).any()


def test_candles_when_the_run_is_longer_than_max_candles_then_bars_are_aggregated_and_the_title_says_so(bars):
    res = run("ma_crossover", bars, fast=10, slow=40)
    fig = candles(res, max_candles=500)
    price = fig.data[0]
    assert len(price.x) == 500
    first = bars.iloc[:3]
    assert price.open[0] == first["open"].iloc[0] and price.close[0] == first["close"].iloc[-1]
    assert price.high[0] == first["high"].max() and price.low[0] == first["low"].min()
    assert "1,500 bars drawn as 500 candles of 3 bars" in fig.layout.title.text


def test_candles_when_an_indicator_is_an_oscillator_then_it_gets_its_own_panel(bars):
    res = run("rsi_reversion", bars, window=14)
    tr = _traces(candles(res))
    assert tr["rsi(14)"].yaxis == "y2" and fig_price_axis(tr) == "y"


def fig_price_axis(tr) -> str:
    return next(t for t in tr.values() if t.type == "candlestick").yaxis or "y"


def test_candles_when_a_pandas_strategy_exposes_series_then_they_are_drawn_and_signals_are_not(bars):
    from authoring_helpers import PandasCross

    from peaktrade.indicators.api import sma

    res = run(PandasCross(), bars, fast=10, slow=40)
    assert indicator_frame(res).empty  # its prepared rows are its entry/exit signals: markers, not lines
    own = {"fast sma": sma(bars["close"], window=10), "slow sma": sma(bars["close"], window=40)}
    tr = _traces(candles(res, indicators=own))
    assert {"fast sma", "slow sma"} <= set(tr) and not any(str(n).startswith(("entries", "exits")) for n in tr)
    assert len(tr["long entry"].x) == int((res.trades["direction"] > 0).sum())


def test_candles_when_window_or_result_is_wrong_then_one_clear_error(bars):
    res = run("ma_crossover", bars, fast=10, slow=40)
    with pytest.raises(PeakTradeError, match=r"select no bars: the bars span 2020-"):
        candles(res, start="2031-01-01")
    with pytest.raises(PeakTradeError, match=r"start='soon' is invalid: expected a date"):
        candles(res, start="soon")
    with pytest.raises(PeakTradeError, match=r"without bars: expected a BacktestResult"):
        candles(object())
    with pytest.raises(PeakTradeError, match=r"max_candles=0 is invalid"):
        candles(res, max_candles=0)
