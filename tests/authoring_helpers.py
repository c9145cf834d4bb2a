"""A pandas-level strategy shared by the authoring tests (imported as a top-level module)."""

from __future__ import annotations

from peaktrade.indicators.api import sma
from peaktrade.strategies import PandasStrategy, Param


class PandasCross(PandasStrategy):
    """The library's ``ma_crossover`` (kind="sma") written at the pandas level.

    Same cross rule: the fast SMA strictly above the slow one after having been strictly below it
    since the last NaN, and not already above on the previous bar (a tie is not a cross).
    """

    name = "pandas_cross"
    summary = "ma_crossover written with pandas"
    params = (
        Param("fast", "int", 20, low=1, high=10_000, step=5, help="fast SMA window"),
        Param("slow", "int", 100, low=2, high=10_000, step=10, help="slow SMA window"),
    )
    constraints = ("fast < slow",)
    warmup = 100

    def signals(self, bars, *, fast, slow):
        close = bars["close"]
        d = sma(close, window=fast) - sma(close, window=slow)
        seg = d.isna().cumsum()  # a NaN forgets what was seen before it
        up, down = d > 0, d < 0
        below_seen = down.groupby(seg).cummax()
        above_seen = up.groupby(seg).cummax()
        entries = up & ~up.shift(1, fill_value=False) & below_seen
        exits = down & ~down.shift(1, fill_value=False) & above_seen
        return entries, exits
