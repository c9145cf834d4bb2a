"""Bar feeds of a session: stored bars replayed, or completed bars polled from a venue.

Replay. :func:`replay_bars` yields stored bars, paced at ``speed`` bars per second (0: as fast as
possible); :func:`parse_replay` turns ``"START:END"`` into UTC bounds.

Polling. :class:`BarPoller` fetches OHLCV from an exchange client; a candle is used only once it
is *completed* (its open time + timeframe ≤ the exchange clock), and each completed candle is
processed exactly once (in open-time order, never twice, the unfinished current candle never).
Before the first polled bar the last ``warmup`` completed candles are loaded as history, so
indicators are ready; they are never traded.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pandas as pd

from peaktrade.adapters.errors import RetryableError
from peaktrade.adapters.kraken import translate
from peaktrade.errors import PeakTradeError, bad_value

#: Default number of completed bars loaded before the first traded bar: the session's indicator history.
#: A polled warm-up never asks a venue for more than its ``capabilities.ohlcv_history_limit`` per request.
DEFAULT_WARMUP = 720
#: Default seconds between polls (the poller also wakes shortly after each bar closes).
DEFAULT_POLL_INTERVAL = 30.0
#: Seconds after a bar's close before it is fetched (venues finalize candles with a small delay).
POLL_GRACE = 2.0

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")


class SessionError(PeakTradeError):
    """A session cannot start or cannot go on (the message says why)."""


#: One bar: (open time, open, high, low, close, volume).
Bar = tuple[pd.Timestamp, float, float, float, float, float]


class Clock:
    """Interruptible waiting: ``stop.wait`` by default (a stop request ends the wait), or an injected sleep."""

    def __init__(self, stop: threading.Event, sleep: Callable[[float], None] | None,
                 tick: Callable[[], None] | None = None, tick_every: float = 1.0) -> None:
        self.stop = stop
        self.sleep = sleep
        # called while waiting (at least every ``tick_every`` seconds): the session's heartbeat
        self.tick = tick
        self.tick_every = tick_every

    def pause(self, seconds: float) -> None:
        if seconds <= 0 or self.stop.is_set():
            return
        if self.sleep is not None and self.tick is not None:
            # an injected sleep (the dead-man sleeper of a testnet session, a test's clock) is cut into pieces
            # too: the heartbeat must be written during a long wait, not only at its end
            left = seconds
            while left > 0 and not self.stop.is_set():
                piece = min(left, self.tick_every)
                self.sleep(piece)
                left -= piece
                if left > 0:
                    self.tick()
        elif self.sleep is not None:
            self.sleep(seconds)
        elif self.tick is None:
            self.stop.wait(seconds)
        else:
            end = time.monotonic() + seconds
            while (left := end - time.monotonic()) > 0 and not self.stop.wait(min(left, self.tick_every)):
                self.tick()
        if self.tick is not None:
            self.tick()


def replay_bars(bars: pd.DataFrame, speed: float, clock: Clock) -> Iterator[Bar]:
    """Yield the bars, paced at ``speed`` bars per second (0: as fast as possible)."""
    arr = bars[["open", "high", "low", "close"]].to_numpy(dtype=np.float64)
    vol = bars["volume"].to_numpy(dtype=np.float64) if "volume" in bars else np.zeros(len(bars))
    t0 = time.monotonic()
    for i, ts in enumerate(bars.index):
        if speed > 0 and i > 0:
            if clock.sleep is None:
                clock.pause(t0 + i / speed - time.monotonic())
            else:
                clock.pause(1.0 / speed)
        if clock.stop.is_set():
            return
        yield ts, arr[i, 0], arr[i, 1], arr[i, 2], arr[i, 3], vol[i]


class BarPoller:
    """Completed bars from an exchange client (``fetch_ohlcv`` and ``milliseconds``), each exactly once.

    Parameters
    ----------
    client
        An :class:`~peaktrade.adapters.base.ExchangeClient`, or anything with
        ``fetch_ohlcv(symbol, timeframe, since=None, limit=None)`` returning
        ``[[open_ms, open, high, low, close, volume], ...]`` and ``milliseconds()`` (the venue
        clock). When it has ``capabilities``, no request asks for more candles than
        ``capabilities.ohlcv_history_limit`` (the venue serves no more).
    symbol, timeframe
        The market.
    poll_interval
        Longest wait between polls, in seconds; the poller also wakes ``POLL_GRACE`` seconds after
        the next bar's close.
    limit
        Candles requested per poll (capped at the venue's limit).
    """

    def __init__(self, client: Any, symbol: str, timeframe: str, *, poll_interval: float = DEFAULT_POLL_INTERVAL,
                 limit: int = DEFAULT_WARMUP) -> None:
        from peaktrade.data.schema import timeframe_to_minutes

        self.client = client
        self.symbol = symbol
        self.timeframe = timeframe
        self.tf_ms = timeframe_to_minutes(timeframe) * 60_000
        self.poll_interval = float(poll_interval)
        caps_limit = getattr(getattr(client, "capabilities", None), "ohlcv_history_limit", None)
        self.venue_limit = int(caps_limit) if caps_limit else None
        self.limit = self._capped(int(limit))
        self.last_ts: int | None = None
        self.polls = 0
        self.skipped: list[tuple[int, str]] = []
        self._bad: set[int] = set()

    def _capped(self, n: int) -> int:
        return n if self.venue_limit is None else min(n, self.venue_limit)

    def now_ms(self) -> int:
        return int(self.client.milliseconds())

    def fetch_completed(self, *, since: int | None = None, limit: int | None = None) -> list[list[float]]:
        """Fetch and return the completed candles newer than the last one returned, oldest first."""
        raw = self.client.fetch_ohlcv(self.symbol, self.timeframe, since=since,
                                      limit=self._capped(limit or self.limit))
        self.polls += 1
        now = self.now_ms()
        seen: dict[int, list[float]] = {}
        for row in raw or []:
            try:
                ts = int(row[0])
                vals = [float(x) if x is not None else math.nan for x in row[1:6]]
            except (TypeError, ValueError, IndexError):
                continue
            if ts + self.tf_ms > now:
                continue  # the unfinished current candle is never used
            if self.last_ts is not None and ts <= self.last_ts:
                continue  # processed already
            if len(vals) < 5 or not all(math.isfinite(x) for x in vals[:4]):
                if ts not in self._bad:  # reported once, never traded
                    self._bad.add(ts)
                    self.skipped.append((ts, f"non-finite price in candle {row!r}"))
                continue
            vals[4] = vals[4] if math.isfinite(vals[4]) else 0.0
            seen[ts] = [ts, *vals]
        return [seen[k] for k in sorted(seen)]

    def warmup(self, n: int) -> pd.DataFrame:
        """Fetch the completed candles, mark the newest as processed and return the last ``n`` as bars."""
        rows = self.fetch_completed(limit=max(n, 1) + 1)  # + the unfinished current candle
        if rows:
            self.last_ts = int(rows[-1][0])
        rows = rows[-n:] if n > 0 else []
        return bars_frame(rows)

    def next_wait(self) -> float:
        """Return the seconds to wait before the next poll."""
        if self.last_ts is None:
            return self.poll_interval
        due = self.last_ts + 2 * self.tf_ms + POLL_GRACE * 1000  # close of the next bar + grace
        wait = (due - self.now_ms()) / 1000.0
        return min(self.poll_interval, max(wait, min(1.0, self.poll_interval)))

    def bars(self, clock: Clock, on_error: Callable[[BaseException, float], None]) -> Iterator[Bar]:
        """Yield newly completed bars until ``clock.stop`` is set; retry retryable fetch errors."""
        backoff = 1.0
        while not clock.stop.is_set():
            try:
                since = self.last_ts + 1 if self.last_ts is not None else None
                rows = self.fetch_completed(since=since)
            except Exception as e:  # noqa: BLE001 — classified by the adapter's one classifier
                e = translate(e, operation="fetch_ohlcv")  # a non-port client's errors: the one classifier
                if not isinstance(e, RetryableError):
                    raise SessionError(f"cannot poll {self.symbol} {self.timeframe} bars: {e}") from e
                wait = min(backoff, max(self.poll_interval, 1.0))
                on_error(e, wait)
                clock.pause(wait)
                backoff = min(backoff * 2, 300.0)
                continue
            backoff = 1.0
            for r in rows:
                self.last_ts = int(r[0])
                yield pd.Timestamp(int(r[0]) * 1_000_000, tz="UTC"), r[1], r[2], r[3], r[4], r[5]
                if clock.stop.is_set():
                    return
            clock.pause(self.next_wait())


def bars_frame(rows: list[list[float]]) -> pd.DataFrame:
    idx = pd.DatetimeIndex(pd.to_datetime([int(r[0]) for r in rows], unit="ms", utc=True), name="time").as_unit("ns")
    data = np.asarray([r[1:6] for r in rows], dtype=np.float64).reshape(len(rows), 5)
    return pd.DataFrame(data, index=idx, columns=["open", "high", "low", "close", "volume"])


def parse_replay(spec: Any) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    """Parse ``"START:END"`` (either side may be empty; times may contain ':') into UTC bounds.

    ``END`` is exclusive. A tuple ``(start, end)`` or ``True`` (everything) is accepted too.
    """
    from peaktrade.data.schema import to_utc_timestamp

    if spec is True:
        return None, None
    if isinstance(spec, (tuple, list)) and len(spec) == 2:
        lo, hi = spec
    elif isinstance(spec, str):
        text = spec.strip()
        cuts = [i for i, ch in enumerate(text) if ch == ":"]
        found = None
        for i in cuts:
            a, b = text[:i].strip(), text[i + 1:].strip()
            if not all(_DATE.match(x) for x in (a, b) if x):
                continue  # each side must start like a date: a cut inside "05:00" is not the separator
            try:
                pa = to_utc_timestamp(a, name="replay start") if a else None
                pb = to_utc_timestamp(b, name="replay end") if b else None
            except (PeakTradeError, ValueError, TypeError):
                continue
            found = (pa, pb)
            break
        if found is None:
            raise SessionError(bad_value("replay", spec, "START:END with dates, e.g. 2020-01-01:2020-02-01 "
                                         "(either side may be empty)"))
        lo, hi = found
    else:
        raise SessionError(bad_value("replay", spec, "'START:END' or (start, end)"))
    lo = to_utc_timestamp(lo, name="replay start") if lo is not None else None
    hi = to_utc_timestamp(hi, name="replay end") if hi is not None else None
    if lo is not None and hi is not None and not lo < hi:
        raise SessionError(bad_value("replay", spec, "START before END"))
    return lo, hi
