"""Strategy stepping: a strategy's signals one bar at a time, for paper replay and sessions.

Three steppers, one per way bars arrive:

:class:`SignalStepper`
    ``prepare`` once over known bars, ``signal_nb`` advanced one bar per call (paper replay).
:class:`ReplaySignalStepper`
    A :class:`SignalStepper` over warm-up + replayed bars, stepped through the warm-up on
    construction; ``push`` returns each replayed bar's signals and size fraction.
:class:`RollingSignalStepper`
    Bars arrive one by one (polled sessions): ``prepare`` is recomputed on a rolling window of
    recent bars at each new bar (:func:`rolling_window`: sized by the strategy's declared
    ``warmup``) and ``signal_nb`` is stepped for the newest bar with its state carried over.

Replay and rolling stepping give the same signals on the same bars (tested).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from peaktrade.errors import StrategyError, bad_value
from peaktrade.strategies.base import Prices, Strategy, prices_from_bars

#: Default cap of the rolling history a polled session keeps (and recomputes the indicators of a
#: strategy that declares no warm-up on).
DEFAULT_MAX_HISTORY = 10_000
#: Fewest bars a strategy that declares its warm-up is recomputed on at each polled bar: generous, so a
#: recursive indicator (EMA) of span up to 50 is settled to float precision even when its warm-up is
#: declared as its span (a pandas ``signals`` on 1,000 bars once per polled bar costs milliseconds).
MIN_ROLLING_WINDOW = 1000
#: Multiple of the declared warm-up recomputed at each polled bar.
WARMUP_MULTIPLE = 2


def rolling_window(strategy: Strategy, max_history: int = DEFAULT_MAX_HISTORY) -> int:
    """Return how many recent bars a polled session recomputes ``strategy``'s ``prepare`` on per bar.

    ``warmup`` is the number of bars after which a strategy's signals no longer depend on older bars:
    the longest window (plus any shift) of a windowed indicator, and for a recursive one the bars until
    older bars weigh nothing (an EMA of span ``s``: ``20 * s`` bars, after which older bars weigh
    ``e**-40 < 1e-17``, below float64 precision; ``ewm(alpha=a)``: ``40 / a``). A strategy that declares
    it gets ``max(2 * warmup, 1000)`` bars, so its signals on the window are those of a backtest that
    started at any earlier bar (the parity polled sessions promise); a pandas strategy's ``signals``
    runs on that window instead of the whole history at every bar. One that declares none
    (``warmup = 0``, as the library's numba strategies) is recomputed on the whole kept history.
    Never more than ``max_history``.
    """
    w = strategy.warmup
    return max_history if not w else min(max_history, max(WARMUP_MULTIPLE * w, MIN_ROLLING_WINDOW))

#: ``frac(prices, index) -> array``: the per-bar size fraction (vol targeting).
SizeFraction = Callable[[Prices, pd.DatetimeIndex], np.ndarray]


def _prices(o: np.ndarray, h: np.ndarray, lo: np.ndarray, c: np.ndarray, v: np.ndarray,
            time: np.ndarray | None = None) -> Prices:
    # the bar times go along, so a strategy merging a higher timeframe (data.higher_timeframe) runs bar by bar too
    return Prices(*(np.ascontiguousarray(a, dtype=np.float64) for a in (o, h, lo, c, v)),
                  time=None if time is None else np.asarray(time, dtype=np.int64).copy())


class SignalStepper:
    """Produce a strategy's signals one bar at a time from causal indicator rows.

    ``prepare`` runs once over the bars (indicators at bar t use bars ≤ t only, which
    :func:`peaktrade.experiments.lookahead_check` verifies for every library strategy); the signal
    kernel then advances one bar per call with its state carried over, exactly as the sweep's
    block loop does.
    """

    def __init__(self, strategy: Strategy, bars: pd.DataFrame, params: dict[str, Any]) -> None:
        prices = prices_from_bars(bars if "volume" in bars else bars.assign(volume=0.0))
        self.strategy = strategy
        self.prep = strategy.prepare(prices, [params])
        self.state = np.zeros(max(strategy.n_state, 1))
        self._e = np.zeros(1, dtype=np.bool_)
        self._x = np.zeros(1, dtype=np.bool_)

    def step(self, t: int) -> tuple[bool, bool]:
        """Return (entry, exit) of bar ``t``; call with t = 0, 1, 2, ... in order."""
        self.strategy.signal_nb(self.prep.ind, self.prep.cols[0], self.prep.fpar[0], self.state, t, t + 1,
                                self._e, self._x)
        return bool(self._e[0]), bool(self._x[0])


class RollingSignalStepper:
    """Signals of the newest bar, with ``prepare`` recomputed on the last :func:`rolling_window` bars at each bar.

    Parameters
    ----------
    strategy
        The strategy.
    params
        Its resolved signal parameters.
    history
        Warm-up bars (never traded): ``prepare`` runs over them once and ``signal_nb`` is stepped
        through them so its state is that of a run that started at the first history bar.
    max_history
        Bars kept (for the size fraction, and for ``prepare`` of a strategy without a declared
        warm-up); older ones are dropped. ``prepare`` runs on the last :func:`rolling_window` bars.
        Indicators with finite lookback are unaffected as long as the window exceeds the lookback;
        recursive ones (EMA) then start from the window instead of the first bar.
    frac
        ``frac(prices, index) -> array``: the per-bar size fraction (vol targeting); the last value
        is returned with each signal. None: always 1.
    """

    def __init__(self, strategy: Strategy, params: Mapping[str, Any], *, history: pd.DataFrame | None = None,
                 max_history: int = DEFAULT_MAX_HISTORY, frac: SizeFraction | None = None) -> None:
        if isinstance(max_history, bool) or not isinstance(max_history, int) or max_history < 2:
            raise StrategyError(bad_value("max_history", max_history, "an integer >= 2"))
        self.strategy = strategy
        self.params = dict(params)
        self.max_history = max_history
        self.window = rolling_window(strategy, max_history)
        self.frac_fn = frac
        self.state = np.zeros(max(strategy.n_state, 1))
        self._e = np.zeros(1, dtype=np.bool_)
        self._x = np.zeros(1, dtype=np.bool_)
        h = history if history is not None else pd.DataFrame(columns=["open", "high", "low", "close", "volume"])
        h = h.iloc[-max_history:]
        self.times = np.asarray(pd.DatetimeIndex(h.index).as_unit("ns").asi8 if len(h) else [], dtype=np.int64)
        self.cols = [np.asarray(h[c].to_numpy(dtype=np.float64) if c in h else np.zeros(len(h)))
                     for c in ("open", "high", "low", "close", "volume")]
        if len(h):
            prep = strategy.prepare(_prices(*self.cols, time=self.times), [self.params])
            for t in range(len(h)):
                self._step(prep, t)

    def _step(self, prep: Any, t: int) -> tuple[bool, bool]:
        self.strategy.signal_nb(prep.ind, prep.cols[0], prep.fpar[0], self.state, t, t + 1, self._e, self._x)
        return bool(self._e[0]), bool(self._x[0])

    def push(self, time: pd.Timestamp, o: float, h: float, lo: float, c: float, v: float) -> tuple[bool, bool, float]:
        """Append one completed bar; return its (entry, exit, size fraction)."""
        ts = pd.Timestamp(time)
        ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts
        self.times = np.append(self.times, ts.as_unit("ns").value)[-self.max_history:]
        for i, x in enumerate((o, h, lo, c, v)):
            self.cols[i] = np.append(self.cols[i], float(x))[-self.max_history:]
        w = self.window
        prep = self.strategy.prepare(_prices(*(c[-w:] for c in self.cols), time=self.times[-w:]), [self.params])
        e, x = self._step(prep, min(w, len(self.times)) - 1)
        f = 1.0
        if self.frac_fn is not None:  # over the whole kept history: the sizing's lookback is not the strategy's
            arr = self.frac_fn(_prices(*self.cols, time=self.times), pd.DatetimeIndex(self.times, tz="UTC"))
            f = float(arr[-1] if len(arr) > 1 else arr[0])
        return e, x, f


class ReplaySignalStepper:
    """A :class:`SignalStepper` over warm-up + replayed bars, stepped through the warm-up on construction.

    ``push`` takes the replayed bars in order (their values are already known to ``prepare``) and
    returns each one's (entry, exit, size fraction).
    """

    def __init__(self, strategy: Strategy, params: Mapping[str, Any], bars: pd.DataFrame, n_warm: int,
                 frac: SizeFraction | None) -> None:
        self.stepper = SignalStepper(strategy, bars, dict(params))
        self.t = 0
        self.frac = np.ones(1)
        if frac is not None:
            b = bars if "volume" in bars else bars.assign(volume=0.0)
            self.frac = frac(_prices(*(b[c].to_numpy() for c in ("open", "high", "low", "close", "volume"))),
                             bars.index)
        for _ in range(n_warm):
            self.stepper.step(self.t)
            self.t += 1

    def push(self, time: pd.Timestamp, o: float, h: float, lo: float, c: float, v: float) -> tuple[bool, bool, float]:
        """Return the (entry, exit, size fraction) of the next replayed bar."""
        e, x = self.stepper.step(self.t)
        f = float(self.frac[self.t if len(self.frac) > 1 else 0])
        self.t += 1
        return e, x, f
