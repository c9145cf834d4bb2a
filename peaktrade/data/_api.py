"""Config-aware entry points of the data layer: import, load, the demo data set, quality summary."""

from __future__ import annotations

import math
from dataclasses import replace
from os import PathLike
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from peaktrade.data.gaps import apply_gap_policy, audit_gaps
from peaktrade.data.kraken_csv import read_kraken_ohlcvt
from peaktrade.data.ohlcv_file import FileFormat, locate_file, read_ohlcv_file
from peaktrade.data.resample import resample_bars
from peaktrade.data.schema import (
    canonical_timeframe,
    fingerprint,
    timeframe_to_minutes,
    to_utc_timestamp,
    validate_bars,
)
from peaktrade.data.store import BarStore, Manifest
from peaktrade.data.synthetic import synthetic_bars
from peaktrade.errors import DataError

if TYPE_CHECKING:
    from peaktrade.config import Config

DEMO_EXCHANGE = "synthetic"
DEMO_START = "2020-01-01"


def _config(config: Config | None) -> Config:
    if config is not None:
        return config
    from peaktrade.config import load_config

    return load_config()


def import_file(
    path: str | PathLike[str],
    *,
    symbol: str,
    timeframe: str,
    exchange: str | None = None,
    file_format: FileFormat | None = None,
    config: Config | None = None,
) -> Manifest:
    """Import an OHLCV file into the store, applying the configured gap policy.

    Parameters
    ----------
    path
        Kraken's OHLCVT ``.csv``, ``.csv.gz`` or ``.zip`` (see :func:`~peaktrade.data.read_kraken_ohlcvt`),
        or any exchange's CSV or Parquet file described by ``file_format``.
    symbol
        Pair, e.g. ``"BTC/USD"``.
    timeframe
        Bar interval of the file, e.g. ``"1h"``.
    exchange
        Exchange name of the data set; defaults to ``"kraken"`` for Kraken's files and is required
        for any other file.
    file_format
        :class:`~peaktrade.data.FileFormat` (default: detected; a headerless
        ``seconds,o,h,l,c,v[,trades]`` file is Kraken's).
    config
        :class:`peaktrade.config.Config` (default: :func:`~peaktrade.config.load_config`); gives
        the store (``data_dir``) and the gap policy (``[data] gaps``).

    Returns
    -------
    Manifest
        Of the data set, with ``changes`` (bars added, updated, unchanged).

    Raises
    ------
    DataError
        One line naming the file, line or row, column and value; nothing is written.
    """
    return _import_file(path, symbol=symbol, timeframe=timeframe, exchange=exchange, file_format=file_format,
                        config=config)[0]


def _import_file(
    path: str | PathLike[str],
    *,
    symbol: str,
    timeframe: str,
    exchange: str | None,
    file_format: FileFormat | None,
    config: Config | None,
) -> tuple[Manifest, str]:
    """:func:`import_file`, also returning one line on how the file was read (for the CLI)."""
    cfg = _config(config)
    p, fmt, kind = locate_file(path, file_format)
    if kind == "kraken":
        if fmt.generic:
            raise DataError(f"{p}: Kraken's OHLCVT layout is fixed; column, time and CSV options apply to "
                            "format csv or parquet")
        bars = read_kraken_ohlcvt(p, symbol=symbol, timeframe=timeframe)
        exchange, source, read_as = exchange or "kraken", f"kraken-ohlcvt:{p.name}", "Kraken OHLCVT (Unix seconds)"
    else:
        if not exchange:
            raise DataError(f"{p}: name the exchange the bars come from (--exchange NAME, exchange=...); "
                            f"only Kraken's own OHLCVT files default to 'kraken'")
        bars, read_as = read_ohlcv_file(p, timeframe=timeframe, file_format=replace(fmt, kind=kind))
        source = f"{kind}:{p.name}"
    bars = apply_gap_policy(bars, timeframe, cfg.data.gaps)
    return BarStore(cfg.data_dir).write(exchange, symbol, timeframe, bars, source=source), read_as


def load_bars(
    symbol: str,
    timeframe: str,
    *,
    exchange: str | None = None,
    start: Any = None,
    end: Any = None,
    config: Config | None = None,
) -> pd.DataFrame:
    """Return validated bars from the store, resampled on the fly when needed.

    When ``timeframe`` is not stored, the finest stored timeframe of the same exchange and symbol
    whose minutes divide it is resampled (see :func:`~peaktrade.data.resample_bars`).

    Parameters
    ----------
    symbol
        Pair, e.g. ``"BTC/USD"``.
    timeframe
        Bar interval, e.g. ``"1h"`` or ``"4h"``.
    exchange
        Exchange of the data set (default: the configured ``[data] exchange``, ``"kraken"``).
        ``"synthetic"`` with the ``[demo] symbol`` is the embedded offline data set, generated on
        first use, so notebooks and commands run with an empty data directory.
    start, end
        Optional bounds on the bar open time (str or Timestamp; naive is UTC); ``end`` is exclusive.
    config
        :class:`peaktrade.config.Config` (default: :func:`~peaktrade.config.load_config`).

    Raises
    ------
    DataError
        When neither the timeframe nor a finer one dividing it is stored (listing what is stored).
    """
    cfg = _config(config)
    exchange = exchange or cfg.data.exchange
    store = BarStore(cfg.data_dir)
    tf = canonical_timeframe(timeframe)
    lo = to_utc_timestamp(start, name="start") if start is not None else None
    hi = to_utc_timestamp(end, name="end") if end is not None else None
    demo = cfg.demo
    if (exchange.lower() == DEMO_EXCHANGE and symbol == demo.symbol
            and not store.exists(DEMO_EXCHANGE, demo.symbol, demo.timeframe)):
        demo_dataset(cfg)  # the embedded offline data set is generated on first use
    if store.exists(exchange, symbol, tf):
        return store.read(exchange, symbol, tf, start=lo, end=hi)
    _, sym, _ = store._key(exchange, symbol, tf)
    minutes = timeframe_to_minutes(tf)
    stored = [m for m in store.datasets() if m.exchange == exchange.lower() and m.symbol == sym]
    finer = [m for m in stored if minutes % timeframe_to_minutes(m.timeframe) == 0]
    if not finer:
        what = ", ".join(m.timeframe for m in stored)
        others = ", ".join(f"{m.exchange} {m.symbol} {m.timeframe}" for m in store.datasets()) or "nothing"
        raise DataError(
            f"no {exchange.lower()} {sym} bars at {tf} or at a finer timeframe dividing it in {store.root} "
            + (f"({sym} is stored at {what}; " if stored else "(")
            + f"stored: {others}); import with `peaktrade data import` or download with `peaktrade data download`"
        )
    src = min(finer, key=lambda m: timeframe_to_minutes(m.timeframe))
    # a period cut by ``start`` is labelled before it and dropped below; one cut by ``end`` is the
    # incomplete last period, which resample_bars drops
    source = store.read(exchange, symbol, src.timeframe, start=lo, end=hi)
    out = resample_bars(source, tf, source_timeframe=src.timeframe)
    if lo is not None:
        out = out[out.index >= lo]
    return validate_bars(out, name=f"{exchange} {sym} {tf} (resampled from {src.timeframe})")


def demo_dataset(config: Config | None = None) -> pd.DataFrame:
    """Return the offline demo bars, generating and storing them on first use.

    The data set is synthetic (:func:`~peaktrade.data.synthetic_bars` with the ``[demo]``
    settings: symbol, timeframe, bars, seed) and stored under exchange ``"synthetic"``, marked
    synthetic in its manifest. It is regenerated only when those settings change.
    """
    cfg = _config(config)
    demo = cfg.demo
    store = BarStore(cfg.data_dir)
    source = f"synthetic:seed={demo.seed},n={demo.bars},start={DEMO_START}"
    current = (
        store.manifest(DEMO_EXCHANGE, demo.symbol, demo.timeframe)
        if store.exists(DEMO_EXCHANGE, demo.symbol, demo.timeframe)
        else None
    )
    if current is None or current.sources != (source,) or current.rows != demo.bars or not current.synthetic:
        bars = synthetic_bars(demo.bars, timeframe=demo.timeframe, seed=demo.seed, start=DEMO_START)
        store.write(DEMO_EXCHANGE, demo.symbol, demo.timeframe, bars, source=source, synthetic=True, replace=True)
    return load_bars(demo.symbol, demo.timeframe, exchange=DEMO_EXCHANGE, config=cfg)


def _num(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def quality_summary(bars: pd.DataFrame, timeframe: str) -> dict[str, Any]:
    """Summarize the quality of ``bars`` in a flat, JSON-ready dict with stable keys.

    Keys: ``rows``, ``timeframe``, ``first``, ``last`` (ISO 8601 UTC or None), ``n_gaps``,
    ``missing_bars``, ``longest_gap`` (bars), ``longest_gap_start``, ``longest_gap_end``,
    ``coverage_pct`` (present / expected bars), ``filled_pct`` (bars inserted by the fill policy),
    ``zero_volume_bars``, ``return_mean``, ``return_std``, ``return_ann_vol`` (24/7 annualized),
    ``return_min``, ``return_max``, ``return_skew``, ``return_kurtosis`` (excess), all on log
    close-to-close returns between consecutive bars (None when undefined), and ``fingerprint``.
    """
    bars = validate_bars(bars)
    tf = canonical_timeframe(timeframe)
    gaps = audit_gaps(bars, tf)
    n = len(bars)
    r = pd.Series(np.diff(np.log(bars["close"].to_numpy()))) if n > 1 else pd.Series(dtype=float)
    per_year = 525_600 / timeframe_to_minutes(tf)

    def iso(ts: pd.Timestamp | None) -> str | None:
        return None if ts is None else ts.strftime("%Y-%m-%dT%H:%M:%SZ")

    filled = int(bars["filled"].sum()) if "filled" in bars.columns else 0
    return {
        "rows": n,
        "timeframe": tf,
        "first": iso(bars.index[0]) if n else None,
        "last": iso(bars.index[-1]) if n else None,
        "n_gaps": gaps.n_gaps,
        "missing_bars": gaps.missing_bars,
        "longest_gap": gaps.longest,
        "longest_gap_start": iso(gaps.longest_start),
        "longest_gap_end": iso(gaps.longest_end),
        "coverage_pct": _num(100.0 * n / (n + gaps.missing_bars)) if n else None,
        "filled_pct": _num(100.0 * filled / n) if n else None,
        "zero_volume_bars": int((bars["volume"].to_numpy() == 0).sum()),
        "return_mean": _num(r.mean()) if len(r) else None,
        "return_std": _num(r.std()) if len(r) > 1 else None,
        "return_ann_vol": _num(r.std() * math.sqrt(per_year)) if len(r) > 1 else None,
        "return_min": _num(r.min()) if len(r) else None,
        "return_max": _num(r.max()) if len(r) else None,
        "return_skew": _num(r.skew()) if len(r) > 2 else None,
        "return_kurtosis": _num(r.kurt()) if len(r) > 3 else None,
        "fingerprint": fingerprint(bars),
    }
