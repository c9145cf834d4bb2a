"""Live stepping of a user's pandas strategy: each polled bar recomputes ``signals`` on a rolling window
sized by the declared warm-up (not the whole history), and a polled paper session of a strategy file
in the project's ``strategies/`` folder reproduces its backtest trade for trade."""

from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd
import pytest
from live_session_helpers import FakeExchange, no_disk_sync  # noqa: F401 (fixture)

import peaktrade.strategies as pts
from peaktrade.backtest import from_signals
from peaktrade.data import load_bars, synthetic_bars
from peaktrade.live.runlog import read_meta
from peaktrade.live.session import run_session
from peaktrade.strategies import generate_signals, get_strategy
from peaktrade.strategies.stepping import (
    DEFAULT_MAX_HISTORY,
    MIN_ROLLING_WINDOW,
    RollingSignalStepper,
    SignalStepper,
    rolling_window,
)

USER_FILE = '''
import peaktrade.strategies as pts


class PolledCross(pts.PandasStrategy):
    name = "polled_cross"
    params = (pts.Param("fast", "int", 8, low=2, high=20, step=2), pts.Param("slow", "int", 30, low=10, high=40, step=5))
    constraints = ("fast < slow",)
    warmup = 40

    def signals(self, bars, *, fast, slow):
        f, s = bars["close"].rolling(fast).mean(), bars["close"].rolling(slow).mean()
        above, below = f > s, f < s
        return above & below.shift(1, fill_value=False), below & above.shift(1, fill_value=False)
'''


@pytest.fixture
def demo(cfg):
    return load_bars("BTC/USD", "1h", exchange="synthetic", config=cfg)


class Recording(pts.PandasStrategy):
    """A crossover that records how many bars each ``signals`` call received."""

    name = "recording_cross"
    params = (pts.Param("fast", "int", 5, low=2, high=20), pts.Param("slow", "int", 20, low=5, high=60))
    warmup = 600
    seen: list[int] = []

    def signals(self, bars, *, fast, slow):
        type(self).seen.append(len(bars))
        f, s = bars["close"].rolling(fast).mean(), bars["close"].rolling(slow).mean()
        return (f > s) & ~(f > s).shift(1, fill_value=False), (f < s) & ~(f < s).shift(1, fill_value=False)


def test_rolling_stepper_when_strategy_declares_warmup_then_signals_computed_on_window_and_equal_replay(demo):
    strat = Recording().to_strategy()
    bars = demo.iloc[:1800]
    replay = SignalStepper(strat, bars, strat.resolve({}))
    expected = [replay.step(t) for t in range(len(bars))]
    rolling = RollingSignalStepper(strat, strat.resolve({}), history=bars.iloc[:1300])
    Recording.seen.clear()
    got = [rolling.push(ts, *row)[:2] for ts, row in zip(bars.index[1300:], bars.to_numpy()[1300:, :5])]
    assert got == expected[1300:] and any(e for e, _ in got)
    # each polled bar: signals() on max(2 * warmup, 1000) = 1200 bars, not the 1301..1800 bars of the history
    assert rolling.window == 1200 and Recording.seen == [1200] * 500


def test_rolling_window_when_strategy_declares_no_warmup_then_whole_kept_history():
    # the library's numba strategies declare none: their live stepping is unchanged
    assert rolling_window(get_strategy("ma_crossover")) == DEFAULT_MAX_HISTORY
    assert rolling_window(get_strategy("ma_crossover"), 500) == 500
    assert rolling_window(Recording().to_strategy(), 90) == 90  # never more than max_history
    small = type("Small", (Recording,), {"name": "small_cross", "warmup": 10})
    assert rolling_window(small().to_strategy()) == MIN_ROLLING_WINDOW == 1000


@pytest.mark.parametrize("execution", ["next_open", "close"])
def test_poll_session_when_user_strategy_file_then_trades_equal_its_backtest(cfg, demo, no_disk_sync, execution):
    folder = cfg.root / "strategies"
    folder.mkdir()
    (folder / "polled_cross.py").write_text(textwrap.dedent(USER_FILE), encoding="utf-8")
    warm, bars = 200, demo.iloc[:1200]
    n = len(bars) - warm - 1  # the last bar is still forming when the session ends
    opts = dict(fees=0.001, slippage=0.0005, init_cash=10_000.0, execution=execution)
    fake = FakeExchange(bars, now=bars.index[warm] + pd.Timedelta(minutes=30))
    live = run_session("polled_cross", poll=True, client=fake, sleep=fake.sleep, warmup=warm, max_bars=n,
                       poll_interval=3600, checks=[], config=cfg, **opts)
    assert live.summary["bars"] == n
    assert read_meta(live.run_dir)["poll"]["window"] == 1000  # max(2 * 40, 1000)

    # the backtest of the same bars, signals from the first traded bar on (the warm-up is never traded)
    assert_trades_equal_backtest(live, get_strategy("polled_cross", config=cfg), bars.iloc[:warm + n], warm, opts)


def assert_trades_equal_backtest(live, strategy, traded, first, opts):
    """The session's closed trades equal the backtest's of ``traded`` with no signal before bar ``first``."""
    e, x = generate_signals(strategy, traded)
    e.iloc[:first], x.iloc[:first] = False, False
    bt = from_signals(traded["close"], e, x, open=traded["open"], high=traded["high"], low=traded["low"], **opts)
    closed = bt.trades[~bt.trades["is_open"]].reset_index(drop=True)
    assert len(closed) == len(live.trades) > 5
    for col in ("entry_time", "exit_time"):
        assert (pd.DatetimeIndex(live.trades[col]) == pd.DatetimeIndex(closed[col])).all(), col
    for col in ("entry_price", "exit_price", "size", "entry_fees", "exit_fees", "pnl"):
        np.testing.assert_allclose(live.trades[col].to_numpy(float), closed[col].to_numpy(float), rtol=1e-9,
                                   err_msg=col)
    assert live.summary["final_equity"] == pytest.approx(float(bt.equity.iloc[-1]), rel=1e-9)


EMA_FILE = '''
import peaktrade.strategies as pts


class PolledEma(pts.PandasStrategy):
    name = "polled_ema"
    params = (pts.Param("fast", "int", 12, low=2, high=100), pts.Param("slow", "int", 50, low=10, high=300))
    warmup = WARMUP

    def signals(self, bars, *, fast, slow):
        up = bars["close"].ewm(span=fast, adjust=False).mean() > bars["close"].ewm(span=slow, adjust=False).mean()
        return up & ~up.shift(1, fill_value=False), ~up & up.shift(1, fill_value=False)
'''


@pytest.mark.parametrize("warmup", [50, 1000])  # its slow span (the floor covers it); 20 x span, as documented
def test_poll_session_when_ema_strategy_declares_warmup_then_trades_equal_backtest_from_first_bar(
        cfg, no_disk_sync, warmup):
    folder = cfg.root / "strategies"
    folder.mkdir()
    (folder / "polled_ema.py").write_text(textwrap.dedent(EMA_FILE).replace("WARMUP", str(warmup)), encoding="utf-8")
    start, n = 2500, 1200
    bars = synthetic_bars(start + n + 1, seed=5)
    opts = dict(fees=0.001, slippage=0.0005, init_cash=10_000.0)
    fake = FakeExchange(bars, now=bars.index[start] + pd.Timedelta(minutes=30), max_limit=5000)
    # --warmup 200 asks for less than the window: the session loads the window it recomputes on
    live = run_session("polled_ema", poll=True, client=fake, sleep=fake.sleep, warmup=200, max_bars=n,
                       poll_interval=3600, checks=[], config=cfg, **opts)
    window = max(2 * warmup, 1000)
    meta = read_meta(live.run_dir)
    assert (meta["poll"]["window"], meta["warmup"]["bars"]) == (window, window)
    assert live.summary["bars"] == n

    # the backtest from the first stored bar (the EMAs start 2,500 bars before the session, not at its
    # history): the polled window reproduces it trade for trade
    assert_trades_equal_backtest(live, get_strategy("polled_ema", config=cfg), bars.iloc[:start + n], start, opts)
