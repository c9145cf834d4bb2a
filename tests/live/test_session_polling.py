"""Polled sessions, offline: a fake exchange client with a fake clock. Each completed bar is processed
exactly once, the unfinished candle never; rolling-mode signals equal replay-mode signals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from live_session_helpers import FakeExchange, no_disk_sync, stub_safety  # noqa: F401 (fixture)

from peaktrade.adapters.kraken import translate
from peaktrade.data import load_bars
from peaktrade.live.feeds import BarPoller
from peaktrade.live.runlog import read_events, read_meta
from peaktrade.live.session import SessionError, run_session
from peaktrade.strategies import get_strategy, list_strategies
from peaktrade.strategies.stepping import RollingSignalStepper, SignalStepper

COSTS = dict(fees=0.001, slippage=0.0005, init_cash=10_000.0)
WARM = 120


@pytest.fixture
def demo(cfg):
    return load_bars("BTC/USD", "1h", exchange="synthetic", config=cfg)


def fake_at(bars, i, minutes=30):
    """A fake exchange whose clock is ``minutes`` into bar ``i`` (bars 0..i-1 completed)."""
    return FakeExchange(bars, now=bars.index[i] + pd.Timedelta(minutes=minutes))


@pytest.mark.parametrize("name", [s.name for s in list_strategies()])
def test_rolling_signals_equal_replay_signals_when_same_bars(demo, name):
    strat = get_strategy(name)
    params = strat.resolve({})
    bars = demo.iloc[:700]
    replay = SignalStepper(strat, bars, params)
    expected = [replay.step(t) for t in range(len(bars))]
    rolling = RollingSignalStepper(strat, params, history=bars.iloc[:300])
    got = [rolling.push(ts, *row)[:2] for ts, row in zip(bars.index[300:], bars.to_numpy()[300:, :5])]
    assert got == expected[300:]


def test_rolling_signals_equal_replay_signals_when_strategy_merges_a_higher_timeframe(demo):
    # the rolling stepper hands prepare the bar times, so data.higher_timeframe works live as in a backtest
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "experiments"))
    from leaky_strategies import SAFE_HTF

    bars = demo.iloc[:300]
    replay = SignalStepper(SAFE_HTF, bars, {})
    expected = [replay.step(t) for t in range(len(bars))]
    rolling = RollingSignalStepper(SAFE_HTF, {}, history=bars.iloc[:100])
    got = [rolling.push(ts, *row)[:2] for ts, row in zip(bars.index[100:], bars.to_numpy()[100:, :5])]
    assert got == expected[100:] and any(e for e, _ in got) and any(x for _, x in got)


def test_poll_session_processes_each_completed_bar_once_when_polls_overlap(cfg, demo, no_disk_sync):
    bars = demo.iloc[:400]
    fake = fake_at(bars, WARM)
    res = run_session("ma_crossover", poll=True, client=fake, sleep=lambda s: fake.sleep(s * 2.5), warmup=WARM,
                      max_bars=200, poll_interval=1800, params={"fast": 5, "slow": 20}, checks=[], config=cfg,
                      **COSTS)
    ev = read_events(res.run_dir)
    times = [e["time"] for e in ev.of_type("bar")]
    assert times == [t.isoformat() for t in bars.index[WARM:WARM + 200]]  # in order, once each, none of the warm-up
    closes = [e["payload"]["close"] for e in ev.of_type("bar")]
    np.testing.assert_array_equal(closes, bars["close"].to_numpy()[WARM:WARM + 200])  # never the unfinished candle
    assert len(fake.calls) > 50 and any(c["since"] is not None for c in fake.calls)
    served = sum(1 for c in fake.calls)  # polls overlapped: many fetches returned bars already processed
    assert served > res.summary["bars"] / 3
    meta = read_meta(res.run_dir)
    assert meta["mode"] == "poll" and meta["warmup"]["bars"] == WARM and res.status == "completed"


def test_poll_session_when_venue_serves_fewer_candles_than_warmup_then_requests_capped_at_its_limit(cfg, demo):
    bars = demo.iloc[:300]
    fake = FakeExchange(bars, now=bars.index[WARM] + pd.Timedelta(minutes=30), max_limit=50)
    res = run_session("ma_crossover", poll=True, client=fake, sleep=fake.sleep, warmup=100, max_bars=3,
                      params={"fast": 5, "slow": 20}, checks=[], config=cfg, **COSTS)
    assert res.status == "completed" and res.summary["bars"] == 3
    assert fake.calls and max(c["limit"] for c in fake.calls) == 50  # never more than the venue declares
    assert read_meta(res.run_dir)["warmup"]["bars"] == 49  # 50 served, the unfinished candle dropped


def test_bar_poller_when_client_has_no_capabilities_then_requested_limit_used(demo):
    class Bare:  # a ccxt exchange object: no peaktrade capabilities
        def __init__(self) -> None:
            self.limits: list[int | None] = []

        def milliseconds(self) -> int:
            return int(demo.index[10].value // 1_000_000)

        def fetch_ohlcv(self, symbol, timeframe, since=None, limit=None):
            self.limits.append(limit)
            return []

    client = Bare()
    poller = BarPoller(client, "BTC/USD", "1h", limit=2000)
    poller.fetch_completed()
    assert poller.venue_limit is None and client.limits == [2000]


def test_poll_session_waits_for_the_candle_to_complete_when_polled_mid_candle(cfg, demo):
    bars = demo.iloc[:200]
    fake = fake_at(bars, WARM, minutes=59)
    now0 = fake.now
    seen = []

    def on_event(ev):
        if ev["type"] == "bar":
            seen.append((pd.Timestamp(ev["time"]), fake.now))

    run_session("ma_crossover", poll=True, client=fake, sleep=fake.sleep, warmup=WARM, max_bars=5,
                poll_interval=600, checks=[], config=cfg, on_event=on_event)
    for t, now_ms in seen:  # processed only after its close, and soon after it (the poller wakes at the close)
        close_ms = (t + pd.Timedelta(hours=1)).value // 1_000_000
        assert close_ms <= now_ms <= close_ms + 5_000
    # first wake-up: the close of the current bar + 2 s grace (the wait may be slept in pieces between heartbeats)
    assert (seen[0][1] - now0) / 1000 == pytest.approx(62.0)


def test_poll_session_trades_equal_replay_session_when_same_bars(cfg, demo, no_disk_sync):
    bars = demo.iloc[:600]
    n = len(bars) - WARM
    params = {"fast": 8, "slow": 30}
    opts = dict(COSTS, size=0.5, size_type="vol_target", vol_window=48)
    fake = fake_at(bars, WARM)
    live = run_session("ma_crossover", poll=True, client=fake, sleep=fake.sleep, warmup=WARM, max_bars=n - 1,
                       poll_interval=3600, params=params, checks=[], config=cfg, **opts)
    replay = run_session("ma_crossover", bars=bars.iloc[:-1], replay=f"{bars.index[WARM].isoformat()}:",
                         warmup=WARM, params=params, checks=[], config=cfg, **opts)
    assert live.summary["bars"] == replay.summary["bars"] == n - 1
    pd.testing.assert_frame_equal(live.trades.drop(columns=["entry_order_id", "exit_order_id"]),
                                  replay.trades.drop(columns=["entry_order_id", "exit_order_id"]))
    assert len(live.trades) > 5
    np.testing.assert_array_equal(live.equity.to_numpy(), replay.equity.to_numpy())


def failing_at(fake, errors):
    """Make ``fake.fetch_ohlcv`` raise ``errors[n]`` on its n-th call (1-based) and answer otherwise."""
    orig, calls = fake.fetch_ohlcv, [0]

    def fetch(*a, **k):
        calls[0] += 1
        if calls[0] in errors:
            raise errors[calls[0]]
        return orig(*a, **k)

    fake.fetch_ohlcv = fetch
    return fake


def test_poll_session_retries_when_network_fails(cfg, demo):
    import ccxt

    # the first two polls after the warm-up fail with what the adapter raises after its own retries
    timeout = translate(ccxt.NetworkError("kraken GET https://api.kraken.com/0/public/OHLC timed out"),
                        operation="fetch_ohlcv")
    fake = failing_at(fake_at(demo.iloc[:200], WARM), {2: timeout, 3: timeout})
    res = run_session("ma_crossover", poll=True, client=fake, sleep=fake.sleep, warmup=WARM, max_bars=10,
                      poll_interval=600, checks=[], config=cfg)
    errors = [e for e in read_events(res.run_dir).of_type("session") if e["payload"]["event"] == "data_error"]
    assert len(errors) == 2 and "NetworkError" in errors[0]["payload"]["error"]
    assert [e["payload"]["retry_in"] for e in errors] == [1.0, 2.0]  # backoff
    assert res.status == "completed" and res.summary["bars"] == 10


def test_poll_session_crashes_with_clear_error_when_fetch_fails_for_good(cfg, demo):
    import ccxt

    bad = translate(ccxt.BadSymbol("kraken does not have market symbol BTC/USD"), operation="fetch_ohlcv")
    fake = failing_at(fake_at(demo.iloc[:200], WARM), {5: bad})
    with pytest.raises(SessionError, match="cannot poll BTC/USD 1h bars: fetch_ohlcv: BadSymbol"):
        run_session("ma_crossover", poll=True, client=fake, sleep=fake.sleep, warmup=WARM, poll_interval=3600,
                    checks=[], config=cfg)
    (run_dir,) = cfg.runs_dir.iterdir()
    meta = read_meta(run_dir)
    assert meta["status"] == "crashed" and "BadSymbol" in meta["error"] and meta["summary"]["bars"] == 2


def test_poll_session_leaves_no_run_dir_when_symbol_unknown_to_the_exchange(cfg, demo):
    import ccxt

    fake = fake_at(demo, WARM)
    fake.fail = [translate(ccxt.BadSymbol("kraken does not have market symbol DOGE/XYZ"), operation="fetch_ohlcv")]
    with pytest.raises(SessionError, match="cannot fetch DOGE/XYZ 1h bars from kraken: fetch_ohlcv: BadSymbol"):
        run_session("ma_crossover", symbol="DOGE/XYZ", poll=True, client=fake, checks=[], config=cfg)
    assert not cfg.runs_dir.exists()


def test_poll_session_refuses_synthetic_exchange_when_no_client(cfg):
    with pytest.raises(SessionError, match="'synthetic' is offline demo data"):
        run_session("ma_crossover", poll=True, exchange="synthetic", checks=[], config=cfg)
    assert not cfg.runs_dir.exists()


def test_shadow_session_logs_shadow_environment_when_polled(cfg, demo, monkeypatch):
    calls = stub_safety(monkeypatch)
    bars = demo.iloc[:200]
    fake = fake_at(bars, WARM)
    res = run_session("ma_crossover", environment="shadow", poll=True, client=fake, sleep=fake.sleep, warmup=WARM,
                      max_bars=20, poll_interval=600, config=cfg)
    meta = read_meta(res.run_dir)
    assert meta["environment"] == "shadow" and meta["executor"] == "paper" and "-shadow-" in res.run_id
    assert [c["environment"] for c in calls] == ["shadow"] and calls[0]["executor_kind"] == "paper"


def test_poll_session_starts_from_now_when_warmup_is_zero(cfg, demo):
    bars = demo.iloc[:200]
    fake = fake_at(bars, WARM)
    res = run_session("ma_crossover", poll=True, client=fake, sleep=fake.sleep, warmup=0, max_bars=3, checks=[],
                      config=cfg)
    times = [e["time"] for e in read_events(res.run_dir).of_type("bar")]
    assert times == [t.isoformat() for t in bars.index[WARM:WARM + 3]]  # no backlog replayed as new bars


def test_poll_session_skips_and_logs_candle_when_prices_are_not_finite(cfg, demo):
    bars = demo.iloc[:200].copy()
    bars.iloc[WARM + 2, bars.columns.get_loc("close")] = np.nan
    fake = fake_at(bars, WARM)
    res = run_session("ma_crossover", poll=True, client=fake, sleep=fake.sleep, warmup=WARM, max_bars=4,
                      poll_interval=3600, checks=[], config=cfg)
    ev = read_events(res.run_dir)
    times = [e["time"] for e in ev.of_type("bar")]
    assert bars.index[WARM + 2].isoformat() not in times and len(times) == 4
    bad = [e for e in ev.of_type("session") if e["payload"]["event"] == "bad_candle"]
    assert [e["time"] for e in bad] == [bars.index[WARM + 2].isoformat()]  # reported once, though polled often
    assert "non-finite" in bad[0]["payload"]["reason"]


def test_poll_session_when_client_raises_raw_network_errors_then_classified_and_retried(cfg, demo):
    # a client that is not a port adapter (a raw ccxt exchange) still gets the adapter's one classifier
    import ccxt

    raw = ccxt.RequestTimeout("kraken GET https://api.kraken.com/0/public/OHLC timed out")
    fake = failing_at(fake_at(demo.iloc[:200], WARM), {2: raw})
    res = run_session("ma_crossover", poll=True, client=fake, sleep=fake.sleep, warmup=WARM, max_bars=5,
                      poll_interval=600, checks=[], config=cfg)
    errors = [e for e in read_events(res.run_dir).of_type("session") if e["payload"]["event"] == "data_error"]
    assert len(errors) == 1 and "RequestTimeout" in errors[0]["payload"]["error"]
    assert res.status == "completed" and res.summary["bars"] == 5


def test_poll_session_when_no_client_given_then_public_client_makes_one_attempt_per_poll(cfg, monkeypatch):
    # the adapter's retry sleep would not see a stop request: the feed's interruptible backoff retries instead
    import peaktrade.adapters.kraken as kraken

    seen = {}

    def fake_public_client(exchange_id, **opts):
        seen.update(opts, exchange_id=exchange_id)
        raise SessionError("stop here")

    monkeypatch.setattr(kraken, "public_client", fake_public_client)
    with pytest.raises(SessionError, match="stop here"):
        run_session("ma_crossover", poll=True, exchange="kraken", checks=[], config=cfg)
    assert seen["exchange_id"] == "kraken" and seen["retry"].max_attempts == 1
