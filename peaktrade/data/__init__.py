"""Market data: the bars contract, Kraken OHLCVT and generic CSV/Parquet import, download through the exchange port, synthetic bars, Parquet
store, resampling and gap audit.

Bars are a DataFrame indexed by bar open time (UTC) with float64 ``open``, ``high``, ``low``,
``close``, ``volume`` (see :mod:`peaktrade.data.schema`). Typical use::

    from peaktrade.data import import_file, load_bars
    import_file("XBTUSD_60.csv.gz", symbol="BTC/USD", timeframe="1h")
    bars = load_bars("BTC/USD", "4h", start="2020-01-01")

Importing this package does not import ccxt or numba; they load on first use.
"""

from __future__ import annotations

from peaktrade.data._api import demo_dataset, import_file, load_bars, quality_summary
from peaktrade.data.download import DownloadReport, download_ohlcv
from peaktrade.data.gaps import GapReport, apply_gap_policy, audit_gaps
from peaktrade.data.kraken_csv import read_kraken_ohlcvt
from peaktrade.data.ohlcv_file import ColumnMap, FileFormat, read_ohlcv_file
from peaktrade.data.resample import higher_timeframe, resample_bars
from peaktrade.data.schema import BARS_COLUMNS, parse_timeframe, timeframe_to_minutes, validate_bars
from peaktrade.data.store import BarStore, Manifest
from peaktrade.data.synthetic import synthetic_bars

__all__ = [
    "BARS_COLUMNS",
    "BarStore",
    "ColumnMap",
    "DownloadReport",
    "FileFormat",
    "GapReport",
    "Manifest",
    "apply_gap_policy",
    "audit_gaps",
    "demo_dataset",
    "download_ohlcv",
    "higher_timeframe",
    "import_file",
    "load_bars",
    "parse_timeframe",
    "quality_summary",
    "read_kraken_ohlcvt",
    "read_ohlcv_file",
    "resample_bars",
    "synthetic_bars",
    "timeframe_to_minutes",
    "validate_bars",
]
