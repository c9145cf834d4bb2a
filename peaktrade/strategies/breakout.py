"""Channel breakout with default stops: long above the previous n-bar high, out below the previous n-bar low.

Entry: close[t] > highest high of bars ``t-window .. t-1``; exit: close[t] < lowest low of the same
(opposite) channel. The strategy ships protective stops through ``stop_defaults`` and declares
``sl_stop``, ``tp_stop`` and ``sl_trail`` as parameters so a sweep can vary them; the signal
kernel ignores them, the backtest reads them (fractions of the entry price; NaN or 0 = off).
"""

from __future__ import annotations

from peaktrade.strategies.base import IndicatorTable, Param, Strategy
from peaktrade.strategies.donchian_breakout import ChannelRows
from peaktrade.strategies.donchian_breakout import signal_nb as _channel_signal_nb

#: Default stops this strategy ships with (fractions of the entry price).
STOP_DEFAULTS = {"sl_stop": 0.05, "tp_stop": 0.15, "sl_trail": 0.08}

# Same rule as donchian_breakout with one window for both channel sides: reuse its compiled kernel.
signal_nb = _channel_signal_nb


def prepare(prices, combos):
    """Return the :class:`~peaktrade.strategies.base.Prepared` rows of ``combos``, each indicator once."""
    tab = IndicatorTable(prices)
    rows = ChannelRows(tab, prices)
    cols = [[rows.upper(p["window"]), rows.lower(p["window"])] for p in combos]
    return tab.build(cols, [[] for _ in combos])


STRATEGY = Strategy(
    name="breakout",
    summary="Long above the previous n-bar high, exit below the previous n-bar low; ships default stops.",
    params=(
        Param("window", "int", 20, low=1, high=10_000,
              help="channel window (bars): enter above its high, exit below its low"),
        Param("sl_stop", "float", STOP_DEFAULTS["sl_stop"], low=0.0, high=1.0,
              help="stop-loss distance, fraction of the entry price (0 or NaN = off; a backtest stop)"),
        Param("tp_stop", "float", STOP_DEFAULTS["tp_stop"], low=0.0, high=100.0,
              help="take-profit distance, fraction of the entry price (0 or NaN = off; a backtest stop)"),
        Param("sl_trail", "float", STOP_DEFAULTS["sl_trail"], low=0.0, high=1.0,
              help="trailing-stop distance below the best price since entry (0 or NaN = off; a backtest stop)"),
    ),
    prepare=prepare,
    signal_nb=signal_nb,
    stop_defaults=dict(STOP_DEFAULTS),
)

__all__ = ["STOP_DEFAULTS", "STRATEGY"]
