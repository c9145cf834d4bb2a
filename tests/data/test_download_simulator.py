"""``download_ohlcv`` end to end over real HTTP: the key-less Kraken client (unmodified ccxt inside) against
the local Kraken simulator."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from peaktrade.adapters.errors import EndpointDenied
from peaktrade.adapters.kraken import public_client
from peaktrade.data import BarStore, download_ohlcv
from peaktrade.sim import SimExchange, serve_in_thread

KEY, SECRET = "dl-key", "c2VjcmV0LWRsLWtleS0wMTIzNDU2Nzg5"


def test_download_paginates_then_resumes_incrementally_when_served_by_simulator(tmp_path):
    sim = SimExchange(keys={KEY: SECRET}, seed=11, speed=0.0)
    store = BarStore(tmp_path / "store")
    with serve_in_thread(sim) as srv:
        client = public_client("kraken", base_url=srv.url, simulator=True)
        since = pd.Timestamp(sim.now(), unit="s", tz="UTC") - pd.Timedelta(minutes=300)
        first = download_ohlcv(client, "BTC/USD", "1m", store=store, since=since, limit=100, progress=False)
        assert first.pages >= 3 and first.added >= 295  # 300 minutes in pages of 100
        stored = store.read("kraken", "BTC/USD", "1m")
        now = pd.Timestamp(sim.now(), unit="s", tz="UTC")
        assert stored.index[-1] + pd.Timedelta("1m") <= now  # no unfinished candle
        assert (np.diff(stored.index.asi8) > 0).all()

        sim.advance(bars=30)  # 30 more minutes of market; "now" is the simulator's clock from here on
        second = download_ohlcv(client, "BTC/USD", "1m", store=store, limit=100, progress=False,
                                now_ms=int(sim.now() * 1000))
        again = store.read("kraken", "BTC/USD", "1m")
        assert second.updated == 0 and 25 <= second.added <= 31  # only the new, finished bars
        assert len(again) == len(stored) + second.added
        pd.testing.assert_frame_equal(again.iloc[: len(stored)], stored)
        venue = client.fetch_ohlcv("BTC/USD", "1m", since=int(again.index[-1].value // 1_000_000))
        assert venue[0][4] == again["close"].iloc[-1]  # what we stored is what the venue serves
        assert client.capabilities.ohlcv_history_limit == 720
        with pytest.raises(EndpointDenied, match="key-less"):  # the download client cannot reach an account
            client.fetch_balance()
