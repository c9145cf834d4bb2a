"""Paper sessions over replayed stored bars: parity with paper_replay, run log contents, warm-up,
fail-closed safety, bad inputs that leave nothing behind, graceful stop."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest
from live_session_helpers import no_disk_sync, stub_safety  # noqa: F401 (fixture)

from peaktrade.data import load_bars
from peaktrade.errors import DataError, PeakTradeError, StrategyError
from peaktrade.execution import Decision
from peaktrade.live import paper_replay
from peaktrade.live.feeds import SessionError, parse_replay
from peaktrade.live.runlog import read_events, read_meta
from peaktrade.live.session import run_session
from peaktrade.strategies import get_strategy
from peaktrade.strategies.stepping import SignalStepper

COSTS = dict(fees=0.001, slippage=0.0005, fixed_fees=0.1, init_cash=10_000.0)


@pytest.fixture
def demo(cfg):
    """The synthetic demo bars (generated into the test store on first load)."""
    return load_bars("BTC/USD", "1h", exchange="synthetic", config=cfg)


def assert_same_trades(session, replay):
    closed = replay.trades[~replay.trades["is_open"]]
    got = session.trades
    assert len(got) == len(closed) > 0
    for a, b in (("entry_time", "entry_time"), ("exit_time", "exit_time")):
        assert list(got[a]) == list(closed[b]), a
    for col in ("entry_price", "exit_price", "size", "entry_fees", "exit_fees", "pnl", "ret"):
        np.testing.assert_allclose(got[col].to_numpy(float), closed[col].to_numpy(float), rtol=1e-12, err_msg=col)
    assert list(got["exit_reason"]) == list(closed["exit_reason"])
    np.testing.assert_allclose(session.equity.to_numpy(), replay.equity.to_numpy(), rtol=1e-12)
    assert session.final_equity == pytest.approx(replay.equity.iloc[-1], rel=1e-12)


@pytest.mark.parametrize("strategy,params,opts", [
    ("ma_crossover", dict(fast=10, slow=50), dict(execution="next_open")),
    ("ma_crossover", dict(fast=10, slow=50), dict(execution="close", direction="both")),
    ("breakout", dict(window=24), dict(execution="next_open")),  # ships SL/TP/trailing stops
    ("rsi_reversion", dict(window=10), dict(size=0.4, size_type="vol_target", vol_window=50)),
])
def test_paper_session_trades_equal_paper_replay_when_same_bars(cfg, demo, no_disk_sync, strategy, params, opts):
    bars = demo.iloc[:800]
    end = bars.index[-1] + pd.Timedelta(hours=1)
    ses = run_session(strategy, exchange="synthetic", replay=f":{end.isoformat()}", params=params, checks=[],
                      config=cfg, **COSTS, **opts)
    pr = paper_replay(strategy, bars, **COSTS, **opts, **params)
    assert ses.status == "completed" and ses.summary["bars"] == len(bars)
    assert_same_trades(ses, pr)


def test_session_writes_meta_and_events_when_replay_completes(cfg, demo):
    res = run_session("ma_crossover", exchange="synthetic", replay="2020-01-10:2020-01-20", warmup=50,
                      params={"fast": 5, "slow": 20}, checks=[], config=cfg)
    meta = read_meta(res.run_dir)
    assert res.run_dir.parent == cfg.runs_dir and meta["run_id"] == res.run_id == res.run_dir.name
    assert meta["status"] == "completed" and meta["environment"] == "paper" and meta["mode"] == "replay"
    assert meta["config_hash"] == cfg.config_hash() and meta["config"]["runs"]["dir"] == ".pytest-runs"
    assert meta["params"] == {"fast": 5, "slow": 20, "kind": "sma"} and meta["symbol"] == "BTC/USD"
    assert meta["options"]["fees"] == cfg.backtest.fees  # options default to config [backtest]
    assert meta["replay"]["start"] == "2020-01-10T00:00:00+00:00" and meta["replay"]["bars"] == 240
    assert meta["warmup"]["bars"] == 50 and meta["warmup"]["last"] == "2020-01-09T23:00:00+00:00"
    assert meta["started_at"] <= meta["ended_at"] and meta["pid"] > 0 and meta["checks"] == []
    s = meta["summary"]
    assert s["bars"] == 240 and s["final_equity"] == pytest.approx(res.equity.iloc[-1])
    assert s["n_trades"] == len(res.trades) > 0 and len(s["trades"]) == s["n_trades"]
    ev = read_events(res.run_dir)
    assert ev.truncated_tail is None and [e["seq"] for e in ev] == list(range(1, len(ev) + 1))
    bars = ev.of_type("bar")
    assert len(bars) == 240 and bars[0]["time"] == "2020-01-10T00:00:00+00:00"  # warm-up bars are not traded
    assert len(ev.of_type("equity")) == 240 and len(ev.of_type("fill")) == s["n_fills"] == len(ev.of_type("order"))
    assert {e["type"] for e in ev} >= {"session", "bar", "signal", "order", "fill", "equity", "position"}
    assert ev.events[0]["payload"]["event"] == "start" and ev.events[-1]["payload"]["event"] == "end"
    assert (res.run_dir / "events.parquet").is_file() and len(pd.read_parquet(res.run_dir / "trades.parquet")) == \
        s["n_trades"]


def test_session_signals_use_warmup_history_when_replay_starts_later(cfg, demo):
    res = run_session("ma_crossover", exchange="synthetic", replay="2020-01-10:2020-01-20", warmup=100,
                      params={"fast": 5, "slow": 20}, checks=[], config=cfg)
    lo = demo.index.get_loc(pd.Timestamp("2020-01-10", tz="UTC"))
    full = demo.iloc[lo - 100:lo + 240]
    st = SignalStepper(get_strategy("ma_crossover"), full, {"fast": 5, "slow": 20, "kind": "sma"})
    expected = [st.step(t) for t in range(len(full))][100:]
    got = {e["time"]: (e["payload"]["entry"], e["payload"]["exit"]) for e in read_events(res.run_dir).of_type("signal")}
    want = {(t + pd.Timedelta(hours=1)).isoformat(): s for t, s in zip(full.index[100:], expected) if any(s)}
    assert got == want and len(got) > 0


def test_session_refuses_to_start_when_safety_layer_missing(cfg, demo, monkeypatch):
    monkeypatch.setitem(sys.modules, "peaktrade.safety", None)  # `import peaktrade.safety` fails
    with pytest.raises(SessionError, match="fail closed"):
        run_session("ma_crossover", exchange="synthetic", replay=":", config=cfg)
    assert not cfg.runs_dir.exists()


def test_session_passes_orders_through_safety_checks_when_checks_not_given(cfg, demo, monkeypatch):
    class DenyEntries:
        name = "NoEntries"

        def check(self, request, *, ledger, price, now):
            return Decision(request.reduce_only, "NoEntries", "entries are off")

    calls = stub_safety(monkeypatch, [DenyEntries()])
    res = run_session("ma_crossover", exchange="synthetic", replay="2020-01-05:2020-01-20",
                      params={"fast": 5, "slow": 20}, config=cfg)
    assert calls == [{"environment": "paper", "executor_kind": "paper", "config": cfg}]
    ev = read_events(res.run_dir)
    denials = ev.of_type("denial")
    assert len(denials) > 0 and ev.of_type("fill") == [] and res.summary["n_denials"] == len(denials)
    assert denials[0]["payload"]["gate"] == "NoEntries" and denials[0]["payload"]["reason"] == "entries are off"
    assert read_meta(res.run_dir)["checks"] == ["NoEntries"] and res.final_equity == 10_000.0


def test_session_refuses_when_safety_factory_raises(cfg, demo, monkeypatch):
    import types

    mod = types.ModuleType("peaktrade.safety")

    def build_checks(environment, *, config, executor_kind, now=None):
        raise RuntimeError("kill switch file unreadable")

    mod.build_checks = build_checks
    monkeypatch.setitem(sys.modules, "peaktrade.safety", mod)
    with pytest.raises(SessionError, match="kill switch file unreadable.*fail closed"):
        run_session("ma_crossover", exchange="synthetic", replay=":", config=cfg)
    assert not cfg.runs_dir.exists()


@pytest.mark.parametrize("kwargs,error,match", [
    (dict(symbol="DOGE/XYZ"), DataError, "no synthetic DOGE/XYZ bars"),
    (dict(replay="2031-01-01:"), SessionError, "no BTC/USD 1h bars to replay"),
    (dict(replay="soon:later"), SessionError, "replay='soon:later' is invalid"),
    (dict(replay="2020-02-01:2020-01-01"), SessionError, "START before END"),
    (dict(replay=None), SessionError, "needs a data source"),
    (dict(poll=True), SessionError, "exclusive"),
    (dict(environment="shadow"), SessionError, "shadow session runs on real market data"),
    (dict(live=True), SessionError, r"run_session\(live=...\) was renamed poll="),
    (dict(environment="live"), SessionError, "environment='live' is invalid"),
    (dict(speed=-1), SessionError, "speed=-1 is invalid"),
    (dict(warmup=-5), SessionError, "warmup=-5 is invalid"),
    (dict(params={"fast": 50, "slow": 10}), StrategyError, "constraint"),
    (dict(params={"fats": 5}), StrategyError, "unknown parameter"),
    (dict(fees=2.0), PeakTradeError, "fees=2.0 is invalid"),
    (dict(leverage=3), SessionError, "unknown option"),
])
def test_session_leaves_no_run_dir_when_input_is_bad(cfg, demo, kwargs, error, match):
    args = dict(exchange="synthetic", replay=":", checks=[], config=cfg)
    args.update(kwargs)
    with pytest.raises(error, match=match):
        run_session("ma_crossover", **args)
    assert not cfg.runs_dir.exists() or not any(cfg.runs_dir.iterdir())


def test_parse_replay_splits_at_the_colon_between_times_when_times_have_colons():
    lo, hi = parse_replay("2020-01-01T05:00:2020-01-02 06:30")
    assert lo == pd.Timestamp("2020-01-01 05:00", tz="UTC") and hi == pd.Timestamp("2020-01-02 06:30", tz="UTC")
    assert parse_replay(":") == (None, None) and parse_replay("2020-01-01:")[1] is None


def test_session_stops_after_current_bar_when_stop_requested(cfg, demo):
    import threading

    stop = threading.Event()
    seen = []

    def on_event(ev):
        if ev["type"] == "bar":
            seen.append(ev["time"])
            if len(seen) == 30:
                stop.set()  # mid-bar: the bar is finished, then the session ends

    res = run_session("ma_crossover", exchange="synthetic", replay=":", params={"fast": 5, "slow": 20}, checks=[],
                      config=cfg, stop=stop, on_event=on_event)
    assert res.status == "stopped" and res.summary["bars"] == 30 == len(seen)
    meta = read_meta(res.run_dir)
    assert meta["status"] == "stopped" and meta["summary"]["final_equity"] == pytest.approx(res.equity.iloc[-1])
    ev = read_events(res.run_dir)
    assert ev.events[-1]["payload"] == {**ev.events[-1]["payload"], "event": "end", "status": "stopped"}
    assert ev.events[-2]["type"] == "equity"  # the 30th bar was processed completely


def test_session_is_crashed_with_error_when_a_hook_fails(cfg, demo):
    def on_event(ev):
        if ev["type"] == "bar" and ev["time"] == "2020-01-02T00:00:00+00:00":
            raise RuntimeError("printer on fire")

    with pytest.raises(RuntimeError, match="printer on fire"):
        run_session("ma_crossover", exchange="synthetic", replay=":", checks=[], config=cfg, on_event=on_event)
    (run_dir,) = cfg.runs_dir.iterdir()
    meta = read_meta(run_dir)
    assert meta["status"] == "crashed" and meta["error"] == "RuntimeError: printer on fire"
    assert meta["summary"]["bars"] == 24 and read_events(run_dir).events[-1]["payload"]["status"] == "crashed"


def test_session_runs_with_the_real_safety_checks_when_checks_not_given(cfg, demo):
    res = run_session("ma_crossover", exchange="synthetic", replay="2020-01-05:2020-01-25",
                      params={"fast": 5, "slow": 20}, config=cfg)
    meta = read_meta(res.run_dir)
    assert meta["checks"] == ["SafetyGuard", "RiskLimits"] and res.status == "completed"
    assert res.summary["n_orders"] + res.summary["n_denials"] > 0


def test_session_stops_mid_bar_when_signalled_twice(cfg, demo):
    import os
    import signal

    def on_event(ev):
        if ev["type"] == "bar" and ev["time"] == "2020-01-01T10:00:00+00:00":
            os.kill(os.getpid(), signal.SIGTERM)  # first: stop after this bar
            os.kill(os.getpid(), signal.SIGINT)  # second: stop now

    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    res = run_session("ma_crossover", exchange="synthetic", replay=":", checks=[], config=cfg, on_event=on_event)
    assert res.status == "stopped" and res.summary["bars"] == 10  # the 11th bar was cut short
    meta = read_meta(res.run_dir)
    assert meta["status"] == "stopped" and "interrupted twice" in meta["error"]
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before  # handlers restored
