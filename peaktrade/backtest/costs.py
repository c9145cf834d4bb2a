"""The cost model: fees and slippage, one definition for every place that prices an order.

The arithmetic is the kernels' (``fill_price_nb``, ``fee_nb``, ``entry_order_nb`` in
:mod:`peaktrade.backtest.nb`); this module is its Python face, used by the backtest's pandas
layer, the paper executor, the execution pipeline's sizing and walk-forward, so a paper replay
fills, sizes and charges exactly as the backtest does (bit for bit: the same compiled code).

* Fill price of a market order: a buy at ``price × (1 + slippage)``, a sell at
  ``price × (1 − slippage)``.
* Fees of one order: ``fees × notional + fixed_fees``.
* Executable price (what limits and budgets are checked at): the most one unit can cost or be
  worth when it fills, slippage bound and fees included (:meth:`Costs.executable_price`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from peaktrade.backtest import nb
from peaktrade.backtest.enums import SIZE_TYPE
from peaktrade.errors import BacktestError, bad_value


def _number(name: str, value: object, expected: str) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise BacktestError(bad_value(name, value, expected)) from None


def check_fraction(name: str, value: object, *, upper: float = 1.0) -> float:
    """Return ``value`` as a float in [0, ``upper``), else raise naming ``name`` and the value."""
    expected = f"a number in [0, {upper})"
    v = _number(name, value, expected)
    if not (0.0 <= v < upper):
        raise BacktestError(bad_value(name, value, expected))
    return v


def _sign(side: str) -> int:
    return 1 if side == "buy" else -1


@dataclass(frozen=True, kw_only=True)
class Costs:
    """Trading costs: proportional ``fees`` per side, ``fixed_fees`` per order, proportional ``slippage``.

    Raises
    ------
    BacktestError
        Naming the argument and its value when one is out of range (fees and slippage are
        fractions in [0, 1), fixed fees a non-negative finite number).
    """

    fees: float = 0.0
    fixed_fees: float = 0.0
    slippage: float = 0.0

    def __post_init__(self) -> None:
        fixed = _number("fixed_fees", self.fixed_fees, "a non-negative number")
        if not (fixed >= 0 and math.isfinite(fixed)):
            raise BacktestError(bad_value("fixed_fees", self.fixed_fees, "a non-negative number"))
        object.__setattr__(self, "fees", check_fraction("fees", self.fees))
        object.__setattr__(self, "fixed_fees", fixed)
        object.__setattr__(self, "slippage", check_fraction("slippage", self.slippage))

    def fill_price(self, side: str, price: float) -> float:
        """Return the fill price of a market order of ``side`` ("buy"/"sell") at ``price``."""
        return nb.fill_price_nb(float(price), _sign(side), self.slippage)

    def fee(self, notional: float) -> float:
        """Return the fees of one order of ``notional``."""
        return nb.fee_nb(float(notional), self.fees, self.fixed_fees)

    def executable_price(self, market: float, *, quantity: float, limit_price: float | None = None) -> float:
        """Return the most one unit of an order of ``quantity`` can cost or be worth when it fills against ``market``.

        The fill-price bound is the market price (ask for a buy, bid for a sell) moved up by the
        slippage bound (a buy pays up to it; a sell's notional is bounded by it), a limit order's
        ``limit_price`` when that is higher, plus the fees of the whole order spread per unit.
        ``quantity × executable_price`` is then an upper bound of the fill's notional and its fees:
        what risk limits and budgets must be checked at. NaN when the market price is unknown (the
        checks then deny).
        """
        market = float(market)
        if not market > 0 or not math.isfinite(market):
            return math.nan
        bound = nb.fill_price_nb(market, 1, self.slippage)
        if limit_price is not None:
            bound = max(bound, float(limit_price))
        return bound * (1.0 + self.fees) + self.fixed_fees / quantity

    def entry_quantity(self, cash: float, price: float, side: str, *, size: float, size_type: str,
                       frac: float = 1.0) -> float:
        """Return the units an entry of ``side`` at market ``price`` buys (or sells short) from ``cash``; 0 if none.

        ``size``/``size_type`` as in :class:`peaktrade.backtest.options.Sizing`; ``frac`` is the
        vol-target fraction of the bar.
        """
        ok, units, _, _ = nb.entry_order_nb(float(cash), float(price), _sign(side), SIZE_TYPE[size_type],
                                            float(size), float(frac), self.fees, self.fixed_fees, self.slippage)
        return units if ok else 0.0


__all__ = ["Costs", "check_fraction"]
