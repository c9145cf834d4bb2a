"""Backtest options: one frozen, typed object for costs, execution, sizing and stops.

Every path that simulates a strategy (``from_signals``, ``run``, ``sweep``, walk-forward, the
paper replay and the sessions) parses its keyword options here, once, at the edge
(:meth:`BacktestOptions.parse`), and the configuration's ``[backtest]`` defaults are merged here
only (:meth:`BacktestOptions.from_config`). Bad values raise a :class:`~peaktrade.errors.BacktestError`
naming the option and the value it was.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from peaktrade.backtest.costs import Costs, check_fraction
from peaktrade.backtest.enums import DIRECTION, EXECUTION, SIZE_PERCENT, SIZE_TYPE, SIZE_VOL_TARGET, SP_N, STOP_PRIORITY
from peaktrade.errors import BacktestError, bad_value
from peaktrade.strategies.base import STOP_PARAMS

if TYPE_CHECKING:
    from peaktrade.config import Config
    from peaktrade.strategies.base import Prices


def _choice(name: str, value: Any, table: dict[str, int]) -> int:
    if value not in table:
        raise BacktestError(bad_value(name, value, "one of " + ", ".join(repr(k) for k in table)))
    return table[value]


def _stop(name: str, value: Any) -> float | None:
    """Validate a stop distance: None (off), NaN (off) or a fraction in [0, 1) ([0, inf) for ``tp_stop``)."""
    if value is None:
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise BacktestError(bad_value(name, value, "a number")) from None
    return v if math.isnan(v) else check_fraction(name, v, upper=math.inf if name == "tp_stop" else 1.0)


def stop_distance(name: str, value: Any) -> float:
    """Return the kernel's value of stop ``name`` (NaN = off), validated as in :class:`Stops`."""
    v = _stop(name, value)
    return math.nan if v is None else v


@dataclass(frozen=True, kw_only=True)
class Sizing:
    """How much an entry buys: ``size`` × equity ("percent", a fraction in (0, 1]), a fixed notional
    ``size`` ("value") or the fraction reaching the annual volatility target ``size`` over
    ``vol_window`` bars ("vol_target")."""

    size: float = 1.0
    size_type: str = "percent"
    vol_window: int = 100

    def __post_init__(self) -> None:
        size_type = _choice("size_type", self.size_type, SIZE_TYPE)
        try:
            size = float(self.size)
        except (TypeError, ValueError):
            size = math.nan
        if not (size > 0 and math.isfinite(size)) or (size_type == SIZE_PERCENT and size > 1.0):
            expected = "a fraction in (0, 1]" if size_type == SIZE_PERCENT else "a positive number"
            raise BacktestError(bad_value("size", self.size, expected))
        if size_type == SIZE_VOL_TARGET and (not isinstance(self.vol_window, (int, np.integer))
                                             or isinstance(self.vol_window, bool) or self.vol_window < 2):
            raise BacktestError(bad_value("vol_window", self.vol_window, "an integer >= 2"))
        object.__setattr__(self, "size", size)


@dataclass(frozen=True, kw_only=True)
class Stops:
    """Protective stops as fractions of the entry price (None/NaN/0 = off) and which of stop-loss and
    take-profit wins inside one bar (``"sl"``, pessimistic, or ``"tp"``)."""

    sl_stop: float | None = None
    tp_stop: float | None = None
    sl_trail: float | None = None
    stop_priority: str = "sl"

    def __post_init__(self) -> None:
        for name in STOP_PARAMS:
            object.__setattr__(self, name, _stop(name, getattr(self, name)))
        _choice("stop_priority", self.stop_priority, STOP_PRIORITY)


@dataclass(frozen=True, kw_only=True)
class BacktestOptions:
    """Options of one simulated account: cash, costs, execution timing, direction, sizing, stops.

    Build it from flat keywords with :meth:`parse` (what ``run(..., fees=0.0026)`` does) or from
    the configuration with :meth:`from_config`; :meth:`to_dict` gives the flat keywords back.
    """

    init_cash: float = 10_000.0
    execution: str = "next_open"  # "next_open" (a signal on bar t's close fills at t+1's open) or "close"
    direction: str = "long"  # "long", "short" or "both"
    costs: Costs = field(default_factory=Costs)
    sizing: Sizing = field(default_factory=Sizing)
    stops: Stops = field(default_factory=Stops)

    def __post_init__(self) -> None:
        try:
            init_cash = float(self.init_cash)
        except (TypeError, ValueError):
            init_cash = math.nan
        if not (init_cash > 0 and math.isfinite(init_cash)):
            raise BacktestError(bad_value("init_cash", self.init_cash, "a positive finite number"))
        object.__setattr__(self, "init_cash", init_cash)
        _choice("execution", self.execution, EXECUTION)
        _choice("direction", self.direction, DIRECTION)

    # -- flat keywords ----------------------------------------------------------------------
    @classmethod
    def parse(cls, **options: Any) -> BacktestOptions:
        """Return the options from flat keywords (see :data:`OPTION_NAMES`); unknown names raise."""
        return cls().replace(**options)

    @classmethod
    def from_config(cls, config: Config, **overrides: Any) -> BacktestOptions:
        """Return the configuration's ``[backtest]`` defaults with ``overrides`` (flat keywords) on top.

        The one place where configured options meet given ones: the CLI, the sessions and tracking
        all start from here.
        """
        b = config.backtest
        return cls.parse(**{**{k: getattr(b, k) for k in type(b).model_fields if k in OPTION_NAMES}, **overrides})

    def replace(self, **options: Any) -> BacktestOptions:
        """Return a copy with the flat keyword ``options`` changed (validated like :meth:`parse`)."""
        unknown = sorted(set(options) - set(OPTION_NAMES))
        if unknown:
            raise BacktestError(f"unknown option(s) {', '.join(unknown)}: expected some of {', '.join(OPTION_NAMES)}")
        parts: dict[str, Any] = {}
        for part in ("costs", "sizing", "stops"):
            given = {k: v for k, v in options.items() if k in _PART_FIELDS[part]}
            if given:
                parts[part] = dataclasses.replace(getattr(self, part), **given)
        top = {k: v for k, v in options.items() if k in _TOP_FIELDS}
        return dataclasses.replace(self, **top, **parts)

    def to_dict(self, *, stops: bool = True) -> dict[str, Any]:
        """Return the flat keywords (all of them, in :data:`OPTION_NAMES` order; without the stops
        when ``stops`` is False: those are strategy parameters in ``run``)."""
        flat = {k: getattr(self, k) for k in _TOP_FIELDS}
        for part in ("costs", "sizing", "stops"):
            flat.update(dataclasses.asdict(getattr(self, part)))
        return {k: flat[k] for k in OPTION_NAMES if stops or k not in STOP_PARAMS}

    # -- kernels ----------------------------------------------------------------------------
    def kernel_params(self) -> np.ndarray:
        """Return the options packed into the kernels' parameter vector (``SP_*`` in ``enums.py``)."""
        c, z, s = self.costs, self.sizing, self.stops
        sp = np.empty(SP_N)
        sp[:] = [
            self.init_cash, c.fees, c.fixed_fees, c.slippage, EXECUTION[self.execution], DIRECTION[self.direction],
            SIZE_TYPE[z.size_type], z.size,
            *(math.nan if getattr(s, k) is None else getattr(s, k) for k in STOP_PARAMS),
            STOP_PRIORITY[s.stop_priority],
        ]
        return sp

    def size_fraction(self, prices: Prices, index: pd.DatetimeIndex) -> np.ndarray:
        """Return the per-bar size fraction the kernel reads for vol targeting (else a dummy)."""
        from peaktrade.backtest import nb
        from peaktrade.backtest.stats import nominal_bars_per_year

        if self.sizing.size_type != "vol_target":
            return np.ones(1)
        # the nominal factor, not the observed one: the observed count depends on the whole data set,
        # which a size decided at bar t must not read
        ann = nominal_bars_per_year(index)
        return nb.vol_target_frac_nb(prices.close, int(self.sizing.vol_window), float(self.sizing.size), ann, 1.0)


def strategy_options(strategy: Any, given: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """Return the explicitly ``given`` options with the strategy's declared ``direction`` filled in, and a
    note for the options' source ("" when the strategy declares none).

    The declaration is specific to the strategy, so it wins over the config's default; an explicit
    ``direction`` that contradicts it raises naming the strategy and both directions.
    """
    from peaktrade.errors import StrategyError

    declared = getattr(strategy, "direction", None)
    if declared is None:
        return dict(given), ""
    if "direction" in given:
        if given["direction"] != declared:
            raise StrategyError(f"strategy '{strategy.name}' declares direction={declared!r}: the given "
                                f"direction={given['direction']!r} contradicts it (omit direction or pass {declared!r})")
        return dict(given), ""
    return {**given, "direction": declared}, f"; direction {declared!r} declared by strategy '{strategy.name}'"


def options_source(config: Config | None, given: Any = ()) -> str:
    """Return where options came from: the config file's ``[backtest]`` section (or the built-in
    defaults when ``config`` is None or has no file), and the names given explicitly on top."""
    if config is None:
        base = "built-in defaults"
    else:
        src = getattr(config, "source", "<defaults>")
        base = "built-in defaults (no config file)" if src == "<defaults>" else f"config {_shown_path(src, config)} [backtest]"
    given = [k for k in OPTION_NAMES if k in set(given)]
    return base + (f"; given: {', '.join(given)}" if given else "")


def _shown_path(src: str, config: Any) -> str:
    """The config file as reports show it: relative to the project root when inside it (an absolute path
    would carry the user's home directory into reports, MLflow and ``--json``), else as it is."""
    from pathlib import Path

    path, suffix = (src.removesuffix(" + environment"), " + environment" if src.endswith(" + environment") else "")
    root = getattr(config, "root", None)
    try:
        return Path(path).resolve().relative_to(Path(root).resolve()).as_posix() + suffix
    except (TypeError, ValueError, OSError):  # no root, or a file outside it
        return src


_EXECUTION_TEXT = {"next_open": "signal at a close fills at the next bar's open",
                   "close": "signal fills at the same bar's close"}
_DIRECTION_TEXT = {"long": "long only", "short": "short only", "both": "long and short"}


def describe_options(options: BacktestOptions | dict[str, Any], source: str | None = None) -> str:
    """Return one line stating the costs and execution of a backtest, e.g. ``fees 0.26 %/side,
    slippage 0.05 %, signal at a close fills at the next bar's open, long only, initial cash 10,000
    (config config/config.toml [backtest])``: what every printed or reported result carries."""
    o = options.to_dict() if isinstance(options, BacktestOptions) else dict(options)
    fees = float(o.get("fees", 0.0))
    parts = [f"fees {fees * 100:.4g} %/side" + (f" + {float(o['fixed_fees']):,.4g} per order"
                                               if float(o.get("fixed_fees") or 0.0) else ""),
             f"slippage {float(o.get('slippage', 0.0)) * 100:.4g} %",
             _EXECUTION_TEXT.get(o.get("execution"), f"execution {o.get('execution')}"),
             _DIRECTION_TEXT.get(o.get("direction"), f"direction {o.get('direction')}")]
    if "init_cash" in o:
        parts.append(f"initial cash {float(o['init_cash']):,.6g}")
    return ", ".join(parts) + (f" ({source})" if source else "")


_TOP_FIELDS = ("init_cash", "execution", "direction")
_PART_FIELDS = {part: tuple(f.name for f in dataclasses.fields(cls))
                for part, cls in (("costs", Costs), ("sizing", Sizing), ("stops", Stops))}

#: The flat keyword options ``from_signals``, ``run``, ``sweep`` and walk-forward accept (the stops
#: ``sl_stop``, ``tp_stop``, ``sl_trail`` are strategy parameters in ``run`` and ``sweep``).
OPTION_NAMES = ("init_cash", "fees", "fixed_fees", "slippage", "execution", "direction", "size", "size_type",
                "vol_window", "sl_stop", "tp_stop", "sl_trail", "stop_priority")

__all__ = ["OPTION_NAMES", "BacktestOptions", "Sizing", "Stops", "describe_options", "options_source", "stop_distance",
           "strategy_options"]
