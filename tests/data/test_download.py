"""Download through the ExchangeClient port (no network): the real key-less Kraken adapter over a fake
ccxt exchange (ccxt's ``fetch_ohlcv`` shape), so retries and error classes are the adapter's own."""

from __future__ import annotations

import ccxt
import pandas as pd
import pytest

from peaktrade.adapters.base import Capabilities
from peaktrade.adapters.kraken import KRAKEN_CAPABILITIES, CcxtPublicClient, public_client
from peaktrade.data import BarStore, download_ohlcv
from peaktrade.errors import DataError

H = 3_600_000  # one hour in ms
NOW = 480_000 * H + 30 * 60_000  # 2024-10-04 00:30 UTC: the 00:00 candle is still forming
CURRENT = NOW // H * H


class FakeExchange:
    """Kraken-like ccxt exchange: serves the latest ``history`` hourly candles, the forming one included."""

    id = "otherex"

    def __init__(self, now: int = NOW, *, history: int = 720, errors: list[Exception] | None = None) -> None:
        self.now = now
        self.history = history
        self.errors = list(errors or [])
        self.calls: list[dict] = []
        self.timeframes = {"1m": "1", "1h": "60", "4h": "240", "1d": "1440"}

    def milliseconds(self) -> int:
        return self.now

    def fetch_time(self) -> int:
        return self.now

    @staticmethod
    def candle(ts: int) -> list[float]:
        p = 100.0 + (ts // H) % 50
        return [ts, p, p + 2.0, p - 1.0, p + 1.0, 1.0 + (ts // H) % 7]

    def fetch_ohlcv(self, symbol, timeframe, since=None, limit=None):
        self.calls.append({"symbol": symbol, "timeframe": timeframe, "since": since, "limit": limit})
        if self.errors:
            raise self.errors.pop(0)
        current = self.now // H * H
        oldest = current - (self.history - 1) * H
        first = oldest if since is None else max(oldest, -(-since // H) * H)
        return [self.candle(t) for t in range(first, current + H, H)][:limit]


@pytest.fixture
def store(tmp_path) -> BarStore:
    return BarStore(tmp_path / "store")


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def kraken(fake: FakeExchange, sleeps: Sleeps | None = None):
    """The key-less Kraken client of ``peaktrade data download`` over ``fake`` (jitter fixed at its middle)."""
    return public_client("kraken", exchange=fake, sleep=sleeps if sleeps is not None else Sleeps(), rand=lambda: 0.5)


def test_download_when_range_spans_pages_then_paginates_past_last_candle(store):
    client, sleeps = FakeExchange(), Sleeps()
    r = download_ohlcv(kraken(client, sleeps), "BTC/USD", "1h", store=store, since=NOW - 300 * H, limit=100,
                       progress=False)
    start = CURRENT - 299 * H
    assert [c["since"] for c in client.calls] == [start, start + 100 * H, start + 200 * H]
    assert all(c["limit"] == 100 and c["timeframe"] == "1h" for c in client.calls)
    assert (r.pages, r.fetched, r.unfinished, r.added) == (3, 300, 1, 299)
    bars = store.read("kraken", "BTC/USD", "1h")
    assert len(bars) == 299 and bars.index[0] == pd.Timestamp(start * 10**6, tz="UTC")
    assert bars.iloc[5].tolist() == FakeExchange.candle(start + 5 * H)[1:]
    assert r.warning is None and r.manifest.rows == 299 and r.manifest.sources == ("ccxt:kraken",)


def test_download_when_current_candle_unfinished_then_never_stores_it(store):
    download_ohlcv(kraken(FakeExchange()), "BTC/USD", "1h", store=store, progress=False)
    last = store.manifest("kraken", "BTC/USD", "1h").last
    assert last == pd.Timestamp((CURRENT - H) * 10**6, tz="UTC")
    # exactly on the hour the candle that just closed is finished, the one that just opened is not
    on_hour = BarStore(store.root.parent / "other")
    download_ohlcv(kraken(FakeExchange(now=CURRENT)), "BTC/USD", "1h", store=on_hour, progress=False)
    assert on_hour.manifest("kraken", "BTC/USD", "1h").last == pd.Timestamp((CURRENT - H) * 10**6, tz="UTC")


def test_download_when_nothing_stored_and_no_since_then_fetches_latest_limit_candles(store):
    client = FakeExchange()
    r = download_ohlcv(kraken(client), "BTC/USD", "1h", store=store, limit=50, progress=False)
    assert client.calls[0]["since"] == CURRENT - 49 * H
    assert r.added == 49 and r.warning is None


def test_download_when_data_stored_then_resumes_after_last_bar(store):
    client = FakeExchange()
    download_ohlcv(kraken(client), "BTC/USD", "1h", store=store, since=NOW - 48 * H, progress=False)
    client.now += 5 * H
    client.calls.clear()
    r = download_ohlcv(kraken(client), "BTC/USD", "1h", store=store, progress=False)
    assert client.calls[0]["since"] == CURRENT  # the bar after the last stored one (CURRENT - 1h)
    assert (r.added, r.updated) == (5, 0)
    assert store.manifest("kraken", "BTC/USD", "1h").rows == 47 + 5


def test_download_when_repeated_without_new_candles_then_store_is_unchanged(store, snapshot):
    client = FakeExchange()
    download_ohlcv(kraken(client), "BTC/USD", "1h", store=store, since=NOW - 24 * H, progress=False)
    before = snapshot(store.root)
    r = download_ohlcv(kraken(client), "BTC/USD", "1h", store=store, since=NOW - 24 * H, progress=False)
    assert r.added == 0 and snapshot(store.root) == before


def test_download_when_since_before_stored_range_then_backfills(store):
    client = FakeExchange()
    download_ohlcv(kraken(client), "BTC/USD", "1h", store=store, since=NOW - 10 * H, progress=False)
    client.calls.clear()
    r = download_ohlcv(kraken(client), "BTC/USD", "1h", store=store, since=NOW - 30 * H, progress=False)
    assert client.calls[0]["since"] == CURRENT - 29 * H
    assert r.added == 20 and store.manifest("kraken", "BTC/USD", "1h").rows == 29


def test_download_when_rate_limited_then_the_adapter_backs_off_exponentially_and_retries(store):
    errors = [ccxt.RateLimitExceeded("kraken EAPI:Rate limit exceeded")] * 2
    client, sleeps = FakeExchange(errors=errors), Sleeps()
    r = download_ohlcv(kraken(client, sleeps), "BTC/USD", "1h", store=store, since=NOW - 10 * H, progress=False)
    assert sleeps == [1.5, 3.0]  # PUBLIC_DATA_RETRY: d/2 + 0.5*d/2 with d = 2, 4 s
    assert r.added == 9 and len(client.calls) == 3


def test_download_when_network_errors_persist_then_gives_up_after_the_adapters_bounded_retries(store, snapshot):
    client, sleeps = FakeExchange(errors=[ccxt.RequestTimeout("timed out")] * 10), Sleeps()
    with pytest.raises(DataError, match=r"kraken BTC/USD 1h: the exchange did not answer after retries "
                                        r"\(fetch_ohlcv: RequestTimeout: timed out\)") as ei:
        download_ohlcv(kraken(client, sleeps), "BTC/USD", "1h", store=store, progress=False)
    assert sleeps == [1.5, 3.0, 6.0, 12.0, 24.0] and len(client.calls) == 6
    assert type(ei.value.__cause__).__name__ == "RetryableError"
    assert snapshot(store.root) == {}


def test_download_when_request_is_invalid_then_raises_without_retry(store):
    client, sleeps = FakeExchange(errors=[ccxt.BadSymbol("kraken does not have market symbol FOO/BAR")]), Sleeps()
    with pytest.raises(DataError, match=r"refused the request \(fetch_ohlcv: BadSymbol: kraken does not have market"):
        download_ohlcv(kraken(client, sleeps), "FOO/BAR", "1h", store=store, progress=False)
    assert sleeps == [] and len(client.calls) == 1


class PortFake:
    """A bare ExchangeClient (no adapter): Kraken's capabilities over ``FakeExchange``'s candles."""

    def __init__(self, fake: FakeExchange, capabilities: Capabilities = KRAKEN_CAPABILITIES) -> None:
        self.fake, self.capabilities = fake, capabilities

    def milliseconds(self) -> int:
        return self.fake.milliseconds()

    def fetch_ohlcv(self, symbol, timeframe, since=None, limit=None):
        return self.fake.fetch_ohlcv(symbol, timeframe, since, limit)


def test_download_when_error_is_not_from_the_exchange_then_propagates(store):
    with pytest.raises(ZeroDivisionError):
        download_ohlcv(PortFake(FakeExchange(errors=[ZeroDivisionError()])), "BTC/USD", "1h", store=store,
                       progress=False)


def test_download_when_limit_not_given_then_pages_by_the_venues_capability(store):
    fake = FakeExchange(history=5000)
    caps = Capabilities(**{**KRAKEN_CAPABILITIES.__dict__, "ohlcv_history_limit": 300, "ohlcv_latest_only": False})
    r = download_ohlcv(PortFake(fake, caps), "BTC/USD", "1h", store=store, since=NOW - 900 * H, progress=False)
    assert [c["limit"] for c in fake.calls] == [300, 300, 300] and r.added == 899 and r.warning is None


def test_download_when_since_older_than_720_candles_then_warns_and_downloads_what_is_available(store):
    client = FakeExchange()
    r = download_ohlcv(kraken(client), "BTC/USD", "1h", store=store, since="2020-01-01", progress=False)
    assert r.warning is not None
    assert "only the latest 720 1h candles" in r.warning and "peaktrade data import" in r.warning
    assert r.added == 719 and client.calls[0]["limit"] == 720  # the page size is Kraken's capability
    assert store.manifest("kraken", "BTC/USD", "1h").first == pd.Timestamp((CURRENT - 719 * H) * 10**6, tz="UTC")


def test_download_when_stored_data_ends_before_the_api_window_then_warns(store, hourly_bars):
    store.write("kraken", "BTC/USD", "1h", hourly_bars("2023-01-01", 10), source="csv")
    r = download_ohlcv(kraken(FakeExchange()), "BTC/USD", "1h", store=store, progress=False)
    assert r.warning and "from 2023-01-01 10:00" in r.warning
    assert store.manifest("kraken", "BTC/USD", "1h").rows == 10 + 719


def test_download_when_venue_serves_deep_history_then_no_warning_and_pages_by_ccxts_limit(store):
    client = CcxtPublicClient("otherex", exchange=FakeExchange(history=5000))
    r = download_ohlcv(client, "BTC/USD", "1h", store=store, since=NOW - 2000 * H, progress=False)
    assert r.warning is None and r.added == 1999 and r.exchange == "otherex" and r.pages == 4  # 500 a page
    assert store.manifest("otherex", "BTC/USD", "1h").rows == 1999


def test_download_when_page_brings_nothing_new_then_stops(store):
    class Stuck(FakeExchange):
        def fetch_ohlcv(self, symbol, timeframe, since=None, limit=None):
            self.calls.append({"since": since})
            return [self.candle(CURRENT - 100 * H + i * H) for i in range(10)]

    client = Stuck()
    r = download_ohlcv(kraken(client), "BTC/USD", "1h", store=store, since=NOW - 200 * H, progress=False)
    assert len(client.calls) == 2 and r.added == 10


def test_download_when_timeframe_not_offered_then_raises_listing_available(store):
    with pytest.raises(DataError, match=r"kraken has no 2h candles \(available: 1m, 5m, 15m, 30m, 1h, 4h, 1d, 1w, 2w"):
        download_ohlcv(kraken(FakeExchange()), "BTC/USD", "2h", store=store, progress=False)


def test_download_when_candle_is_malformed_then_raises(store):
    class Broken(FakeExchange):
        def fetch_ohlcv(self, symbol, timeframe, since=None, limit=None):
            rows = super().fetch_ohlcv(symbol, timeframe, since, limit)
            rows[3][4] = None
            return rows

    with pytest.raises(DataError, match=r"kraken BTC/USD 1h candles: row 3 .*close is nan"):
        download_ohlcv(kraken(Broken()), "BTC/USD", "1h", store=store, since=NOW - 10 * H, progress=False)
    assert not store.exists("kraken", "BTC/USD", "1h")


@pytest.mark.parametrize("kw, message", [({"limit": 0}, "limit=0"), ({"since": "yesterday-ish"}, "since=")])
def test_download_when_argument_invalid_then_raises_naming_it(store, kw, message):
    with pytest.raises(DataError, match=message):
        download_ohlcv(kraken(FakeExchange()), "BTC/USD", "1h", store=store, progress=False, **kw)


def test_download_when_progress_enabled_then_runs_with_a_progress_bar(store, capsys):
    r = download_ohlcv(kraken(FakeExchange()), "BTC/USD", "1h", store=store, since=NOW - 50 * H, limit=20,
                       progress=True)
    assert r.added == 49
    assert capsys.readouterr().out == ""  # the bar goes to stderr only
