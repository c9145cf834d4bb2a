"""`peaktrade live run` (issue 17, item 6): a real live session against the simulator standing in for the venue (the
test-only, code-only mapping of peaktrade.live.readiness), with every gate open; one test per gate showing a closed
gate sends nothing to the venue (requests counted at the simulator); the [live.ramp] cap; the ways around the gates
an attacker would try (an environment override, a permissive probe registered beforehand, a forged ramp record)."""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest
from testnet_helpers import REPO_ROOT, write_testnet_config

from peaktrade.config import load_config
from peaktrade.errors import ConfigError
from peaktrade.live.readiness import simulator_stand_in
from peaktrade.live.runlog import read_events, read_meta
from peaktrade.live.runner import RAMP_FILE, LiveRunError, RampCheck, ramp_status, run_live_session, start_ramp
from peaktrade.safety import KillSwitch, LiveGateClosed, arm_value, confirm_token, register_readiness_probe
from peaktrade.sim import DEFAULT_SIM_API_KEY, DEFAULT_SIM_API_SECRET, SimExchange, synthetic_feeds

sys.path.insert(0, str(REPO_ROOT / "tests" / "safety"))
from safety_helpers import counting_sim, ledger_with, order, ready_probe  # noqa: E402

sys.path.insert(0, str(REPO_ROOT / "tests" / "alerts"))
from receivers import WebhookReceiver  # noqa: E402

CASH = 10_000.0
RUN = ("live", "run", "--strategy", "ma_crossover", "--symbol", "BTC/USD", "--timeframe", "1m", "--param", "fast=2",
       "--param", "slow=4", "--warmup", "30", "--catch-up", "40", "--max-bars", "40")


@pytest.fixture(scope="module")
def srv():
    """One simulator for the module, every request it answers counted (``srv.requests``; AddOrder: ``arrived``)."""
    ex = SimExchange(keys={DEFAULT_SIM_API_KEY: DEFAULT_SIM_API_SECRET}, feeds=synthetic_feeds(seed=3, n=800),
                     start=time.time(), speed=1 / 60, tier="pro", balances={"ZUSD": CASH})
    with counting_sim(ex) as s:
        yield s


@pytest.fixture(scope="module")
def webhook():
    w = WebhookReceiver()
    yield w
    w.server.shutdown()


@pytest.fixture
def live(srv, webhook, tmp_path, clean_env):
    """Return ``make(enabled=True, arm=True, ramp=None)``: a live config with every limit, live credentials, an alert
    destination (live readiness fails a skipped alert check), this process armed for it, and the simulator standing
    in for the venue; the simulator is reset after the test."""
    clean_env.setenv("KRAKEN_API_KEY", "live-key-not-a-sim-key")
    clean_env.setenv("KRAKEN_API_SECRET", "bGl2ZS1zZWNyZXQ=")
    clean_env.setenv("PEAKTRADE_ALERT_URLS", webhook.url("live-run-token"))
    old_probe = register_readiness_probe(None)

    def make(*, enabled=True, arm=True, ramp=None):
        path = write_testnet_config(tmp_path)
        text = path.read_text().replace("[live]\nenabled = false", f"[live]\nenabled = {str(enabled).lower()}")
        if ramp is not None:
            text += "[live.ramp]\n" + "".join(f"{k} = {v!r}\n" for k, v in ramp.items())
        path.write_text(text)
        clean_env.setenv("PEAK_TRADE_CONFIG_PATH", str(path))
        cfg = load_config(path)
        if arm:
            clean_env.setenv(cfg.live.arm_env, arm_value(cfg))
        else:
            clean_env.delenv(cfg.live.arm_env, raising=False)
        return cfg

    with simulator_stand_in(srv.url, api_key=DEFAULT_SIM_API_KEY, api_secret=DEFAULT_SIM_API_SECRET):
        srv.requests.clear()
        srv.arrived.clear()
        yield make
    register_readiness_probe(old_probe)
    ex = srv.exchange
    ex.call("CancelAll")
    ex.call("CancelAllOrdersAfter", timeout=0)
    ex.set_balances({"XXBT": 0.0, "ZUSD": CASH})


def _venue(srv) -> tuple[float, float]:
    bal = srv.exchange.call("Balance")["result"]
    return float(bal["ZUSD"]), float(bal["XXBT"])


# -- every gate open: real orders at the venue ---------------------------------------------------------------
def test_live_run_when_every_gate_open_then_orders_placed_at_venue_and_ledger_equals_venue(cli, live, srv):
    cfg = live()
    r = cli(*RUN, "--notional", "50", "--confirm", confirm_token(cfg))
    assert r.exit_code == 0, r
    run_dir = r.stdout.strip().splitlines()[-1].split()[-1]
    meta = read_meta(run_dir)
    s = meta["summary"]
    assert meta["environment"] == "live" and meta["executor"] == "exchange:live" and meta["status"] == "completed"
    assert meta["checks"] == ["SafetyGuard", "RiskLimits", "LiveRamp"]
    assert meta["live"]["readiness"]["passed"] and meta["live"]["venue"].startswith("simulator stand-in")
    # every order the session booked reached the venue for real (never validate-only), each once
    assert s["n_orders"] == len(srv.arrived) >= 2 and s["n_fills"] == s["n_orders"]
    assert all("validate" not in a for a in srv.arrived)
    assert len({a["cl_ord_id"] for a in srv.arrived}) == len(srv.arrived)
    cash, btc = _venue(srv)
    assert s["cash"] == pytest.approx(cash, abs=1e-6) and s["position"] == pytest.approx(btc, abs=1e-12)
    assert s["initial_cash"] == CASH  # the ledger starts from the venue's quote balance
    # the ramp started with this first live session and capped it; the dead-man switch was armed before any order
    start = read_events(run_dir).of_type("session")[0]["payload"]
    assert start["ramp"].startswith("ramp day 1 of 14") and start["deadman"]["trigger_time"] not in (None, "0")
    assert account_ramp_started(cfg)
    assert f"live run {meta['run_id']}: completed" in r.stdout


def account_ramp_started(cfg) -> bool:
    data = json.loads((cfg.state_dir / RAMP_FILE).read_text())
    return len(data) == 1 and ramp_status(cfg).started == next(iter(data.values()))


# -- one test per gate: a closed gate sends nothing ----------------------------------------------------------
def _refused(r, gate: str) -> str:
    assert r.exit_code == 2 and r.stdout == "" and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr, r
    assert r.stderr.startswith(f"error: live trading refused: gate '{gate}' is closed: "), r.stderr
    return r.stderr


def test_live_run_when_gate_live_enabled_closed_then_nothing_reaches_the_venue(cli, live, srv):
    cfg = live(enabled=False)
    _refused(cli(*RUN, "--notional", "50", "--confirm", confirm_token(cfg)), "live_enabled")
    assert srv.requests == [] and srv.arrived == []


def test_live_run_when_gate_live_armed_closed_then_nothing_reaches_the_venue(cli, live, srv):
    cfg = live(arm=False)
    _refused(cli(*RUN, "--notional", "50", "--confirm", confirm_token(cfg)), "live_armed")
    assert srv.requests == [] and srv.arrived == []


def test_live_run_when_gate_confirm_token_closed_then_nothing_reaches_the_venue(cli, live, srv):
    live()
    _refused(cli(*RUN, "--notional", "50", "--confirm", "LIVE-00000000"), "confirm_token")
    assert srv.requests == [] and srv.arrived == []


def test_live_run_when_gate_readiness_closed_by_kill_switch_then_nothing_reaches_the_venue(cli, live, srv):
    cfg = live()
    KillSwitch(cfg.state_dir, "live").engage("incident 7", scope="live")
    assert "incident 7" in _refused(cli(*RUN, "--notional", "50", "--confirm", confirm_token(cfg)), "readiness")
    assert srv.requests == [] and srv.arrived == []


def test_live_run_when_readiness_list_fails_and_a_permissive_probe_is_registered_then_no_order_sent(cli, live, srv):
    # an attacker registers a probe that always says ready; the venue holds a position the ledger does not
    cfg = live()
    register_readiness_probe(ready_probe())
    srv.exchange.set_balances({"XXBT": 0.5})
    err = _refused(cli(*RUN, "--notional", "50", "--confirm", confirm_token(cfg)), "readiness")
    assert "readiness_checks: orders_positions: a position of 0.5 BTC the ledger does not hold" in err
    assert srv.arrived == [] and "AddOrder" not in srv.requests  # readiness only read the account
    assert not (cfg.state_dir / RAMP_FILE).exists()


# -- the ramp ---------------------------------------------------------------------------------------------------
def test_live_run_when_notional_above_ramp_cap_then_refused_before_any_request(cli, live, srv):
    cfg = live(ramp={"days": 7, "max_notional": 40.0})
    r = cli(*RUN, "--notional", "50", "--confirm", confirm_token(cfg))
    assert r.exit_code == 2 and "order notional 50.00 exceeds the live ramp cap: ramp day 1 of 7" in r.stderr, r
    assert srv.requests == []


def test_ramp_check_when_order_or_position_above_cap_then_denied_and_reducing_orders_pass(live, srv):
    cfg = live(ramp={"days": 7, "max_notional": 100.0})
    chk = RampCheck(ramp_status(cfg))
    now = datetime.now(UTC)
    assert chk.check(order("buy", 0.9), ledger=ledger_with(), price=100.0, now=now).allowed
    d = chk.check(order("buy", 1.1), ledger=ledger_with(), price=100.0, now=now)
    assert not d.allowed and d.gate == "ramp" and "order 110.00" in d.reason
    held = ledger_with(BTC_USD=(0.8, 100.0))
    assert not chk.check(order("buy", 0.3), ledger=held, price=100.0, now=now).allowed  # position 110 > 100
    assert chk.check(order("sell", 0.8), ledger=ledger_with(BTC_USD=(5.0, 100.0)), price=100.0, now=now).allowed
    assert not chk.check(order("buy", 0.1), ledger=ledger_with(), price=float("nan"), now=now).allowed


def test_ramp_status_when_days_passed_then_over_and_when_record_forged_then_refused(live, srv):
    cfg = live(ramp={"days": 7, "max_notional": 100.0})
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    assert start_ramp(cfg, now=t0).active
    assert ramp_status(cfg, now=t0 + timedelta(days=6, hours=23)).day == 6
    over = ramp_status(cfg, now=t0 + timedelta(days=7))
    assert not over.active and RampCheck(over).check(order("buy", 50.0), ledger=ledger_with(), price=100.0,
                                                     now=t0).allowed
    path = cfg.state_dir / RAMP_FILE
    key = next(iter(json.loads(path.read_text())))
    for forged, why in (({key: "2099-01-01T00:00:00+00:00"}, "starts in the future"), ("[1, 2]", "unreadable"),
                        ({key: "yesterday"}, "invalid start")):
        path.write_text(forged if isinstance(forged, str) else json.dumps(forged))
        with pytest.raises(LiveRunError, match=why):
            ramp_status(cfg)


@pytest.mark.parametrize("var, value", [("PEAKTRADE__LIVE__ENABLED", "true"),
                                        ("PEAKTRADE__LIVE__RAMP", "{days = 0, max_notional = 1e9}")])
def test_load_config_when_environment_overrides_live_enabled_or_ramp_then_refused(live, clean_env, var, value):
    live(enabled=False)
    clean_env.setenv(var, value)
    with pytest.raises(ConfigError, match=f"environment override {var} is refused"):
        load_config()


def test_run_live_session_when_called_directly_with_gates_closed_then_refused_and_nothing_sent(live, srv):
    cfg = live(arm=False)
    with pytest.raises(LiveGateClosed, match="live_armed"):
        run_live_session("ma_crossover", symbol="BTC/USD", timeframe="1m", confirm=confirm_token(cfg),
                         order_notional=50.0, config=cfg, max_bars=1, handle_signals=False)
    assert srv.requests == []


# -- the degrade ladder: cancel all ------------------------------------------------------------------------------
def test_safety_cancel_all_when_orders_rest_at_live_venue_then_cancelled_without_authorization(cli, live, srv):
    live(enabled=False, arm=False)  # every gate closed: cancels still pass, they only take orders away
    ex = srv.exchange
    for _ in range(2):
        assert ex.call("AddOrder", pair="XBTUSD", type="buy", ordertype="limit", price="1000",
                       volume="0.001")["error"] == []
    srv.arrived.clear()  # placed in-process, not by the command
    r = cli("safety", "cancel-all", "--environment", "live")
    assert r.exit_code == 0 and r.stdout.startswith("2 open orders cancelled at simulator stand-in"), r
    assert ex.call("OpenOrders")["result"]["open"] == {}
    assert srv.arrived == [] and srv.requests.count("CancelAll") == 1
    from peaktrade.live.runner import _cancel_only_guard

    g = _cancel_only_guard(load_config(), None)
    assert g.check_endpoint("https://api.kraken.com/0/private/CancelAll").allowed
    for method in ("AddOrder", "EditOrder", "Withdraw"):
        assert not g.check_endpoint(f"https://api.kraken.com/0/private/{method}").allowed, method
    assert not g.check_endpoint("http://api.kraken.com/0/private/CancelAll").allowed  # not TLS
