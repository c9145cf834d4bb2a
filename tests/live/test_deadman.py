"""Dead-man switch (issue 17, item 2): Kraken's CancelAllOrdersAfter in the adapter and the simulator; testnet
sessions arm it before their first order and keep re-arming it; a session killed with kill -9 gets its resting
orders cancelled at the timeout by the venue (a real simulator process, a real session process)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time

import ccxt
import pytest
from testnet_helpers import FakeCcxtKraken, write_testnet_config, zigzag_bars

from peaktrade.adapters.kraken import KrakenClient
from peaktrade.config import load_config
from peaktrade.live.runlog import read_events
from peaktrade.live.testnet import run_testnet_session
from peaktrade.safety import KillSwitch, SafetyError, SafetyGuard
from peaktrade.sim import DEFAULT_SIM_API_KEY, DEFAULT_SIM_API_SECRET

_ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "PEAKTRADE_SIM_API_KEY": DEFAULT_SIM_API_KEY,
        "PEAKTRADE_SIM_API_SECRET": DEFAULT_SIM_API_SECRET}


@pytest.fixture(scope="module")
def sim_process():
    """`peaktrade sim-exchange serve` as its own process (frozen clock: resting orders stay resting)."""
    script = ("import sys; from peaktrade.cli import main as m, sim_cmd\n"
              "if not any(g.name == 'sim-exchange' for g in m.app.registered_groups): sim_cmd.register(m.app)\n"
              "sys.exit(m.main(sys.argv[1:]))")
    args = ["sim-exchange", "serve", "--port", "0", "--bars", "synthetic:n=800", "--speed", "0", "--tier", "pro"]
    proc = subprocess.Popen([sys.executable, "-c", script, *args], stdout=subprocess.PIPE, text=True, env=_ENV)
    try:
        proc.url = re.search(r"http://127\.0\.0\.1:\d+", proc.stdout.readline()).group(0)
        yield proc
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        proc.stdout.close()


def _client(url, tmp_path):
    guard = SafetyGuard("testnet", executor_kind="exchange", kill_switch=KillSwitch(tmp_path / "state", "testnet"))
    return KrakenClient(guard=guard, base_url=url, api_key=DEFAULT_SIM_API_KEY, api_secret=DEFAULT_SIM_API_SECRET,
                        simulator=True, rate_limit=False)


_SESSION = textwrap.dedent("""
    import sys, threading
    from pathlib import Path
    from peaktrade.adapters.kraken import KrakenClient
    from peaktrade.safety import DeadManSwitch, KillSwitch, SafetyGuard
    from peaktrade.sim import DEFAULT_SIM_API_KEY, DEFAULT_SIM_API_SECRET
    url, state = sys.argv[1], Path(sys.argv[2])
    guard = SafetyGuard("testnet", executor_kind="exchange", kill_switch=KillSwitch(state, "testnet"))
    c = KrakenClient(guard=guard, base_url=url, api_key=DEFAULT_SIM_API_KEY, api_secret=DEFAULT_SIM_API_SECRET,
                     simulator=True, rate_limit=False)
    deadman = DeadManSwitch(c, timeout=2, refresh=0.5)
    deadman.arm()  # before the first order, as a session does
    bid = c.fetch_ticker("BTC/USD").bid
    ids = [c.create_order("BTC/USD", "buy", "limit", 0.001, round(bid * f, 1), client_order_id=f"dm-{i}").id
           for i, f in enumerate((0.98, 0.97))]
    print(" ".join(ids), flush=True)
    deadman.sleeper(threading.Event())(3600)  # a session waiting for bars, re-arming every 0.5 s
""")


def test_session_when_killed_with_resting_orders_then_venue_cancels_them_at_the_timeout(sim_process, tmp_path):
    session = subprocess.Popen([sys.executable, "-c", _SESSION, sim_process.url, str(tmp_path / "s")],
                               stdout=subprocess.PIPE, text=True, env=_ENV)
    ids = session.stdout.readline().split()
    assert len(ids) == 2
    c = _client(sim_process.url, tmp_path)
    deadline = time.monotonic() + 3.0  # the session keeps re-arming: its orders outlive several 2 s timeouts
    while time.monotonic() < deadline:
        assert {o.id for o in c.fetch_open_orders("BTC/USD")} >= set(ids)
        time.sleep(0.25)
    session.send_signal(signal.SIGKILL)
    session.wait(timeout=30)
    session.stdout.close()
    assert {o.id for o in c.fetch_open_orders("BTC/USD")} >= set(ids)  # the kill itself cancels nothing
    deadline = time.monotonic() + 30.0
    while time.monotonic() < deadline and {o.id for o in c.fetch_open_orders("BTC/USD")} & set(ids):
        time.sleep(0.2)
    assert [c.fetch_order(i, "BTC/USD").status for i in ids] == ["canceled", "canceled"]


def test_cancel_all_orders_after_when_zero_then_disarmed_and_bad_timeout_refused(sim_process, tmp_path):
    c = _client(sim_process.url, tmp_path)
    armed = c.cancel_all_orders_after(600)
    assert armed["trigger_time"] not in (None, "0") and armed["current_time"]
    assert c.cancel_all_orders_after(0)["trigger_time"] == "0"
    for bad in (-1, 86401, float("nan"), True):
        with pytest.raises(Exception, match="timeout=.* is invalid: expected 0..86400"):
            c.cancel_all_orders_after(bad)


@pytest.fixture
def tcfg(tmp_path, clean_env):
    clean_env.setenv("PEAK_TRADE_CONFIG_PATH", str(write_testnet_config(tmp_path)))
    return load_config()


def test_testnet_session_when_running_then_deadman_armed_before_first_order_and_re_armed(tcfg):
    tcfg.safety.deadman_refresh = 0.001  # re-arm at every bar
    fake = FakeCcxtKraken(price=100.0, cash=1000.0)
    zigzag_bars(fake, 60)
    res = run_testnet_session("fast", config=tcfg, mode="kraken-sim", exchange=fake, warmup=10, catch_up=40,
                              max_bars=40, handle_signals=False, poll_interval=0.01)
    names = [c[0] for c in fake.calls]
    arms = [i for i, n in enumerate(names) if n == "cancel_all_orders_after"]
    assert arms and arms[0] < names.index("create_order") and len(arms) >= 5
    assert all(fake.calls[i][1] == (60_000,) for i in arms)  # [safety] deadman_timeout 60 s, sent in ms to ccxt
    start = next(e for e in read_events(res.run_dir) if e["payload"].get("event") == "start")
    assert start["payload"]["deadman"]["timeout"] == 60.0


def test_testnet_session_when_deadman_cannot_be_armed_then_refuses_to_start_and_sends_no_order(tcfg):
    fake = FakeCcxtKraken(price=100.0, cash=1000.0)
    zigzag_bars(fake, 60)
    fake.faults["cancel_all_orders_after"] = [ccxt.PermissionDenied("kraken EGeneral:Permission denied")]
    with pytest.raises(SafetyError, match="dead-man switch could not be armed.*fail closed"):
        run_testnet_session("fast", config=tcfg, mode="kraken-sim", exchange=fake, warmup=10, catch_up=40,
                            max_bars=40, handle_signals=False, poll_interval=0.01)
    assert fake.count("create_order") == 0


def test_config_when_refresh_not_shorter_than_timeout_then_rejected():
    from peaktrade.config import SafetyConfig

    with pytest.raises(ValueError, match="deadman_refresh=60.0 is invalid: expected 0 < refresh <= deadman_timeo"):
        SafetyConfig(deadman_timeout=60, deadman_refresh=60)


def test_config_when_deadman_settings_weaken_safety_then_one_line_error_naming_key_value_and_range(tmp_path):
    from peaktrade.config import SafetyConfig
    from peaktrade.errors import ConfigError

    with pytest.raises(ValueError, match=r"\[safety\] deadman_refresh=21.0 is invalid: expected .*= 20 seconds"):
        SafetyConfig(deadman_timeout=60, deadman_refresh=21)
    path = tmp_path / "c.toml"
    path.write_text("[safety]\ndeadman_timeout = 3600\n")
    with pytest.raises(ConfigError, match=r"\[safety\] deadman_timeout=3600.0 is invalid: expected 1..600 seconds"):
        load_config(path)
    with pytest.raises(SafetyError, match="refresh=1 is invalid: expected 0 < refresh <= timeout/3"):
        from peaktrade.safety import DeadManSwitch

        DeadManSwitch(object(), timeout=2, refresh=1)


def test_tick_when_re_arm_fails_then_recorded_not_raised_and_retried_after_the_refresh_interval():
    now = [0.0]

    class Venue:  # a unit-test stand-in: armed once, then the venue stops answering
        calls = 0

        def cancel_all_orders_after(self, timeout):
            Venue.calls += 1
            if Venue.calls > 1:
                raise OSError("connection reset")
            return {"current_time": "t", "trigger_time": "t+60"}

    from peaktrade.safety import DeadManSwitch

    dm = DeadManSwitch(Venue(), timeout=60, refresh=15, clock=lambda: now[0])
    dm.arm()
    now[0] = 10.0
    dm.tick()
    assert Venue.calls == 1  # not due yet
    now[0] = 16.0
    dm.tick()
    dm.tick()  # the failure is not retried in a tight loop
    assert Venue.calls == 2 and dm.events[0]["event"] == "deadman_refresh_failed"
    assert "connection reset" in dm.events[0]["error"]


class _ArmsOnce(FakeCcxtKraken):
    """The venue confirms the first arm, then refuses every re-arm (a key that lost its permission)."""

    def cancel_all_orders_after(self, timeout, params=None):
        if self.count("cancel_all_orders_after") >= 1:
            self._enter("cancel_all_orders_after", timeout)
            raise ccxt.PermissionDenied("kraken EGeneral:Permission denied")
        return super().cancel_all_orders_after(timeout, params)


def test_switch_when_not_confirmed_armed_then_wire_denies_orders_but_cancels_pass(tmp_path):
    from peaktrade.adapters.errors import EndpointDenied
    from peaktrade.safety import DeadManSwitch

    now = [0.0]
    fake = _ArmsOnce(price=100.0, cash=1000.0)
    guard = SafetyGuard("testnet", executor_kind="exchange", kill_switch=KillSwitch(tmp_path / "state", "testnet"))
    c = KrakenClient(guard=guard, exchange=fake, base_url="http://127.0.0.1:9", simulator=True, rate_limit=False)
    dm = DeadManSwitch(c, timeout=60, refresh=15, clock=lambda: now[0])
    guard.require_deadman(dm)
    with pytest.raises(EndpointDenied, match="deadman.*never armed"):
        c.create_order("BTC/USD", "buy", "market", 0.001, client_order_id="dm-a")
    dm.arm()
    assert dm.armed_until == 45.0  # confirmed arm + timeout - margin (refresh)
    c.create_order("BTC/USD", "buy", "market", 0.001, client_order_id="dm-b")
    now[0] = 16.0
    dm.tick()  # the re-arm fails: still inside the last confirmed window
    assert dm.failures == 1 and dm.is_armed()
    now[0] = 45.0
    sent = fake.count("create_order")
    with pytest.raises(EndpointDenied, match="deadman: the dead-man switch this session relies on is not confirmed"):
        c.create_order("BTC/USD", "buy", "market", 0.001, client_order_id="dm-c")
    assert fake.count("create_order") == sent  # nothing reached the venue
    c.cancel_order(client_order_id="dm-b", symbol="BTC/USD")  # cancels still pass
    now[0] = 31.0
    dm.tick()
    now[0] = 46.0
    dm.tick()
    assert dm.lapsed and [e["event"] for e in dm.events][-1] == "deadman_lapsed"


def test_testnet_session_when_re_arms_keep_failing_then_lapsed_event_and_stops(tcfg):
    tcfg.safety.deadman_refresh = 0.001  # re-arm at every bar
    fake = _ArmsOnce(price=100.0, cash=1000.0)
    zigzag_bars(fake, 60)
    res = run_testnet_session("fast", config=tcfg, mode="kraken-sim", exchange=fake, warmup=10, catch_up=40,
                              max_bars=40, handle_signals=False, poll_interval=0.01)
    events = [e["payload"] for e in read_events(res.run_dir) if e["type"] == "session"]
    names = [e.get("event") for e in events]
    assert names.count("deadman_refresh_failed") == 3 and "deadman_lapsed" in names
    lapsed_at = [i for i, (n, *_r) in enumerate(fake.calls) if n == "cancel_all_orders_after"][3]
    assert all(n != "create_order" for n, *_r in fake.calls[lapsed_at:])  # no order after the lapse
    assert res.summary.get("bars", 0) < 40 or res.status != "completed"


def test_pause_when_injected_dead_man_sleep_spans_heartbeats_then_ticks_during_the_wait():
    import threading

    from peaktrade.live.feeds import Clock
    from peaktrade.safety import DeadManSwitch

    trace = []

    class Venue:  # a unit-test stand-in that confirms every arm
        def cancel_all_orders_after(self, timeout):
            trace.append("arm")
            return {"trigger_time": "t+60"}

    now = [0.0]
    dm = DeadManSwitch(Venue(), timeout=60, refresh=15, clock=lambda: now[0])
    dm.arm()
    stop = threading.Event()

    def fake_sleep(s):  # the injected clock of a test: advances, records
        now[0] += s
        trace.append(("sleep", s))

    heartbeat = 1.0
    clock = Clock(stop, dm.sleeper(stop, fake_sleep), tick=lambda: trace.append("tick"), tick_every=heartbeat / 4)
    clock.pause(3 * heartbeat)  # a poll interval of 3 heartbeats
    sleeps = [t[1] for t in trace if isinstance(t, tuple)]
    assert sum(sleeps) == pytest.approx(3.0) and max(sleeps) <= heartbeat / 4
    first, last = trace.index(("sleep", 0.25)), len(trace) - 1 - trace[::-1].index(("sleep", 0.25))
    assert trace[first:last].count("tick") >= 10  # the watch ticked between pieces of the one wait
