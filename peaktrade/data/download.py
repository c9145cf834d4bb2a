"""Download OHLCV candles through the ``ExchangeClient`` port into the bar store.

The client is any :class:`~peaktrade.adapters.base.ExchangeClient` (real use passes the key-less
:func:`peaktrade.adapters.kraken.public_client`); its ``capabilities`` say how many candles a request
returns, which timeframes exist and whether only the latest candles are served. The download

- is paginated: each request starts just after the last candle returned so far;
- is incremental: without ``since`` it resumes after the last stored bar;
- never stores the unfinished current candle (open + timeframe > now);
- stops when a page brings no candle newer than those already received;
- leaves retries, backoff and rate limiting to the adapter (one retry loop, one error classifier):
  a :class:`~peaktrade.adapters.errors.ExchangeError` reaching here is final and becomes a
  :class:`~peaktrade.errors.DataError` naming the data set.

When the venue serves only the latest ``ohlcv_history_limit`` candles of an interval (Kraken: 720)
and the requested start is older, the report carries a warning pointing to ``peaktrade data import``
of Kraken's downloadable OHLCVT files, and what is available is downloaded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from peaktrade.data.schema import (
    BARS_COLUMNS,
    bars_from_arrays,
    canonical_symbol,
    canonical_timeframe,
    timeframe_to_minutes,
    to_utc_timestamp,
    validate_bars,
)
from peaktrade.data.store import BarStore, Manifest
from peaktrade.errors import DataError, bad_value

if TYPE_CHECKING:
    from peaktrade.adapters.base import ExchangeClient


@dataclass(frozen=True)
class DownloadReport:
    """Outcome of :func:`download_ohlcv`.

    Attributes
    ----------
    exchange, symbol, timeframe
        The data set written.
    start
        Open time the download asked for first.
    pages
        Requests that returned (retries not counted).
    fetched
        Candles received, including duplicates and unfinished ones.
    unfinished
        Candles dropped because they were still forming.
    added, updated
        Bars added to and changed in the store.
    first, last
        Open times of the first and last finished candle received (None when none).
    warning
        Why part of the requested history could not be downloaded, or None.
    manifest
        The data set's manifest after the download (None when nothing is stored).
    """

    exchange: str
    symbol: str
    timeframe: str
    start: pd.Timestamp
    pages: int
    fetched: int
    unfinished: int
    added: int
    updated: int
    first: pd.Timestamp | None
    last: pd.Timestamp | None
    warning: str | None
    manifest: Manifest | None


def download_ohlcv(
    client: ExchangeClient,
    symbol: str,
    timeframe: str,
    *,
    store: BarStore,
    exchange: str | None = None,
    since: Any = None,
    limit: int | None = None,
    progress: bool = True,
    now_ms: int | None = None,
) -> DownloadReport:
    """Download finished candles into ``store`` and report what happened.

    Parameters
    ----------
    client
        The venue (:class:`~peaktrade.adapters.base.ExchangeClient`), e.g.
        ``peaktrade.adapters.kraken.public_client("kraken")``.
    symbol
        Pair in ccxt notation, e.g. ``"BTC/USD"``.
    timeframe
        Candle interval, e.g. ``"1h"``.
    store
        Where to write the bars.
    exchange
        Exchange name of the data set (default: the client's ``capabilities.venue``).
    since
        First open time wanted (str, datetime, Timestamp, or int milliseconds). Default: after
        the last stored bar, or the latest ``limit`` candles when nothing is stored.
    limit
        Candles per request (default: the venue's ``capabilities.ohlcv_history_limit``).
    progress
        Show a progress bar on stderr.
    now_ms
        Current time in ms (default ``client.milliseconds()``); candles open later than
        ``now_ms - timeframe`` are unfinished and dropped.

    Returns
    -------
    DownloadReport

    Raises
    ------
    DataError
        For invalid arguments, a request that fails for good (the adapter has retried what could be
        retried; the venue's error is the ``__cause__``), or malformed candles.
    """
    caps = client.capabilities
    exchange = exchange or caps.venue
    symbol = canonical_symbol(symbol)  # 'BTCUSD' fetches and stores the one 'BTC/USD' data set
    tf = canonical_timeframe(timeframe)
    step = timeframe_to_minutes(tf) * 60_000
    limit = caps.ohlcv_history_limit if limit is None else limit
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise DataError(bad_value("limit", limit, "a positive number of candles per request"))
    store.paths(exchange, symbol, tf)  # validates the names before any request
    if caps.timeframes and tf not in caps.timeframes:
        raise DataError(f"{exchange} has no {tf} candles (available: {', '.join(caps.timeframes)})")
    now = int(now_ms if now_ms is not None else client.milliseconds())
    current_open = now // step * step

    stored = store.manifest(exchange, symbol, tf) if store.exists(exchange, symbol, tf) else None
    since_ms = _to_ms(since) if since is not None else None
    resume = stored.last.value // 1_000_000 + step if stored is not None else None
    if since_ms is None:
        start = resume if resume is not None else current_open - (limit - 1) * step
    elif stored is not None and since_ms >= stored.first.value // 1_000_000:
        start = max(since_ms, resume)
    else:
        start = since_ms
    start = -(-start // step) * step  # first candle open at or after start

    warning = None
    history = caps.ohlcv_history_limit if caps.ohlcv_latest_only else None
    oldest = current_open - (history - 1) * step if history else None
    if oldest is not None and start < oldest:
        warning = (
            f"{exchange} serves only the latest {history} {tf} candles through its API (from about "
            f"{_ts(oldest):%Y-%m-%d %H:%M} UTC); history from {_ts(start):%Y-%m-%d %H:%M} before that "
            "cannot be downloaded: import Kraken's downloadable OHLCVT files with `peaktrade data import`"
        )

    label = f"{exchange} {symbol} {tf}"
    chunks: list[np.ndarray] = []
    pages = fetched = unfinished = 0
    last_seen = -1
    cursor = start
    total = max(1, (current_open - max(start, oldest or start)) // step)
    with _progress(progress, f"{exchange} {symbol} {tf}", total) as advance:
        while cursor + step <= now:
            page = _fetch(client, label, symbol, tf, since=cursor, limit=limit)
            pages += 1
            rows = _as_rows(page, label)
            fetched += len(rows)
            if len(rows) == 0:
                break
            done = rows[:, 0] + step <= now
            unfinished += int((~done).sum())
            fresh = rows[done & (rows[:, 0] > last_seen)]
            if len(fresh) == 0:
                break
            chunks.append(fresh)
            last_seen = int(fresh[-1, 0])
            cursor = max(last_seen, int(rows[-1, 0])) + step
            advance(len(fresh))

    manifest = stored
    added = updated = 0
    first = last = None
    if chunks:
        rows = np.concatenate(chunks)
        ns = rows[:, 0].astype(np.int64) * 1_000_000
        bars = bars_from_arrays(ns, {c: rows[:, i + 1].copy() for i, c in enumerate(BARS_COLUMNS)})
        bars = validate_bars(bars, name=f"{label} candles")
        first, last = bars.index[0], bars.index[-1]
        manifest = store.write(exchange, symbol, tf, bars, source=f"ccxt:{exchange.lower()}")
        added, updated = manifest.changes.added, manifest.changes.updated
    return DownloadReport(
        exchange=exchange.lower(),
        symbol=symbol.upper(),
        timeframe=tf,
        start=_ts(start),
        pages=pages,
        fetched=fetched,
        unfinished=unfinished,
        added=added,
        updated=updated,
        first=first,
        last=last,
        warning=warning,
        manifest=manifest,
    )


def _ts(ms: int) -> pd.Timestamp:
    return pd.Timestamp(int(ms) * 1_000_000, tz="UTC")


def _to_ms(since: Any) -> int:
    if isinstance(since, (int, np.integer)) and not isinstance(since, bool):
        return int(since)
    return to_utc_timestamp(since, name="since").as_unit("ns").value // 1_000_000


def _as_rows(page: Any, label: str) -> np.ndarray:
    """Return the page as a sorted float64 array of [ms, open, high, low, close, volume] rows."""
    if page is None or len(page) == 0:
        return np.empty((0, 6))
    try:
        rows = np.asarray([list(c)[:6] for c in page], dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise DataError(f"{label}: malformed candles from the exchange ({e})") from None
    if rows.ndim != 2 or rows.shape[1] != 6:
        raise DataError(
            f"{label}: malformed candles from the exchange: expected [time, open, high, low, close, volume] rows"
        )
    if not np.isfinite(rows[:, 0]).all():
        raise DataError(f"{label}: a candle from the exchange has no timestamp")
    rows = rows[np.argsort(rows[:, 0], kind="stable")]
    _, keep = np.unique(rows[:, 0], return_index=True)
    return rows[keep]


def _fetch(client: ExchangeClient, label: str, symbol: str, timeframe: str, *, since: int, limit: int) -> Any:
    """Return one page of candles; a venue error (already retried by the adapter) becomes a ``DataError``."""
    from peaktrade.adapters.errors import ExchangeError, RetryableError

    try:
        return client.fetch_ohlcv(symbol, timeframe, since=since, limit=limit)
    except RetryableError as e:
        raise DataError(f"{label}: the exchange did not answer after retries ({e})") from e
    except ExchangeError as e:
        raise DataError(f"{label}: the exchange refused the request ({e})") from e


class _progress:
    """Context manager yielding an ``advance(n)`` callable backed by a rich progress bar (or a no-op)."""

    def __init__(self, enabled: bool, description: str, total: int) -> None:
        self.enabled, self.description, self.total = enabled, description, total
        self.bar = None

    def __enter__(self) -> Callable[[int], None]:
        if not self.enabled:
            return lambda n: None
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.bar = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=Console(stderr=True), transient=True,
        )
        self.bar.start()
        task = self.bar.add_task(self.description, total=self.total)
        return lambda n: self.bar.update(task, advance=n)

    def __exit__(self, *exc: Any) -> None:
        if self.bar is not None:
            self.bar.stop()
