"""``load_universe``: the bars of several symbols from the store, or the seeded correlated synthetic set."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

from peaktrade.errors import DataError

if TYPE_CHECKING:
    from peaktrade.config import Config


def load_universe(symbols: list[str] | tuple[str, ...] | str, timeframe: str, *, exchange: str | None = None,
                  start: Any = None, end: Any = None, config: Config | None = None) -> dict[str, pd.DataFrame]:
    """Return ``{symbol: bars}`` for ``symbols`` (a list, or one string separated by commas).

    ``exchange="synthetic"`` gives the seeded correlated set (:func:`~peaktrade.portfolio.synthetic.synthetic_universe`,
    seeded by ``[demo] seed``; nothing is stored), any other exchange the stored bars
    (:func:`peaktrade.data.load_bars`; default: ``[data] exchange``). ``start`` (inclusive) and ``end``
    (exclusive) bound the bar open times; each symbol must keep at least 2 bars.
    """
    from peaktrade.config import load_config
    from peaktrade.data import load_bars
    from peaktrade.data.schema import to_utc_timestamp
    from peaktrade.portfolio.synthetic import synthetic_universe

    cfg = config or load_config()
    syms = [s.strip() for s in symbols.split(",")] if isinstance(symbols, str) else list(symbols)
    exchange = exchange or cfg.data.exchange
    if exchange.lower() == "synthetic":
        lo = to_utc_timestamp(start, name="start") if start else None
        hi = to_utc_timestamp(end, name="end") if end else None
        bars = {s: b[(b.index >= (lo if lo is not None else b.index[0]))
                     & (b.index < (hi if hi is not None else b.index[-1] + pd.Timedelta(1)))]
                for s, b in synthetic_universe(syms, timeframe=timeframe, seed=cfg.demo.seed).items()}
    else:
        bars = {s: load_bars(s, timeframe, exchange=exchange, start=start or None, end=end or None, config=cfg)
                for s in syms}
    short = [s for s, b in bars.items() if len(b) < 2]
    if short:
        raise DataError(f"{', '.join(short)} {timeframe} on {exchange} hold fewer than 2 bars in the window: "
                        "expected at least 2 per symbol")
    return bars


__all__ = ["load_universe"]
