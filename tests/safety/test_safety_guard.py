"""SafetyGuard: executor kind vs environment, endpoint allow-lists, trading states, decision records."""

from __future__ import annotations

import json

import pytest
from safety_helpers import ALL_LIMITS, T0, ledger_with, order

from peaktrade.errors import ConfigError
from peaktrade.safety import (
    KillSwitch,
    RiskLimits,
    SafetyError,
    SafetyGuard,
    TradingEnvironment,
    TradingState,
    build_checks,
)


def guard(env="paper", kind="paper", **kw):
    return SafetyGuard(env, executor_kind=kind, **kw)


def decide(g, req, led=None):
    return g.check(req, ledger=led or ledger_with(), price=100.0, now=T0)


def test_environment_when_not_given_then_paper():
    assert TradingEnvironment.default() is TradingEnvironment.PAPER
    assert SafetyGuard(executor_kind="paper").environment is TradingEnvironment.PAPER
    with pytest.raises(SafetyError, match="environment='prod' is invalid"):
        TradingEnvironment.parse("prod")
    with pytest.raises(SafetyError, match="executor_kind='kraken' is invalid"):
        guard(kind="kraken")


@pytest.mark.parametrize("env", ["paper", "shadow"])
def test_guard_when_simulated_environment_has_exchange_executor_then_denies(env):
    d = decide(guard(env, "exchange"), order())
    assert not d.allowed and d.gate == "environment"
    assert f"exchange executor in {env}" in d.reason and "never reaches an exchange's private API" in d.reason
    assert decide(guard(env, "paper"), order()).allowed


@pytest.mark.parametrize("env", ["testnet", "live"])
def test_guard_when_exchange_environment_has_paper_executor_then_denies(env):
    d = decide(guard(env, "paper"), order())
    assert not d.allowed and d.gate == "environment" and "would fake it" in d.reason


def test_allows_private_api_when_asked_then_only_outside_paper_and_shadow():
    assert not guard("paper").allows_private_api()
    assert not guard("shadow").allows_private_api()
    assert guard("testnet", "exchange").allows_private_api()
    assert not guard("live", "exchange").allows_private_api()  # no authorization


def test_guard_live_when_no_authorization_then_denies_orders():
    d = decide(guard("live", "exchange"), order())
    assert not d.allowed and d.gate == "live_authorization"


@pytest.mark.parametrize("url", ["http://127.0.0.1:8765/0/private/AddOrder", "http://localhost:9000/x",
                                 "http://[::1]:8080/0/private/Balance", "ws://LOCALHOST./ws"])
def test_check_endpoint_testnet_when_loopback_then_allowed(url):
    assert guard("testnet", "exchange").check_endpoint(url).allowed


@pytest.mark.parametrize("url", ["https://api.kraken.com/0/private/AddOrder", "https://futures.kraken.com/x",
                                 "http://127.0.0.1@api.kraken.com/0/private/AddOrder",
                                 "http://localhost.evil.example/x", "http://127.0.0.2/x", "not a url",
                                 "file:///etc/passwd", "http://127.0.0.1:99999/x"])
def test_check_endpoint_testnet_when_not_a_testnet_host_then_denied(url):
    d = guard("testnet", "exchange").check_endpoint(url)
    assert not d.allowed and d.gate in ("testnet_endpoint", "endpoint")


def test_check_endpoint_testnet_when_validate_only_then_validate_host_allowed():
    g = guard("testnet", "exchange")
    d = g.check_endpoint("https://api.kraken.com/0/private/AddOrder")
    assert not d.allowed and "validate-only requests only" in d.reason
    assert g.check_endpoint("https://api.kraken.com/0/private/AddOrder", validate_only=True).allowed
    assert not g.check_endpoint("https://api.binance.com/api/v3/order", validate_only=True).allowed


@pytest.mark.parametrize("env", ["paper", "shadow"])
def test_check_endpoint_simulated_when_private_then_denied_even_loopback(env):
    g = guard(env)
    for url in ("http://127.0.0.1:8765/0/private/AddOrder", "https://api.kraken.com/0/private/Balance"):
        d = g.check_endpoint(url)
        assert not d.allowed and d.gate == "environment"
    assert g.check_endpoint("https://api.kraken.com/0/public/OHLC", private=False).allowed


def test_check_endpoint_live_when_plain_http_or_other_host_or_unauthorized_then_denied():
    g = guard("live", "exchange")
    assert "not encrypted" in g.check_endpoint("http://api.kraken.com/0/public/Time", private=False).reason
    assert "not in [live] hosts" in g.check_endpoint("https://127.0.0.1/0/private/AddOrder").reason
    assert g.check_endpoint("https://api.kraken.com/0/public/Time", private=False).allowed
    assert g.check_endpoint("https://api.kraken.com/0/private/AddOrder").gate == "live_authorization"


def test_check_endpoint_when_decided_then_recorded():
    g = guard("testnet", "exchange")
    g.check_endpoint("http://127.0.0.1/x")
    g.check_endpoint("https://api.kraken.com/x")
    assert [(r.kind, r.allowed) for r in g.decisions] == [("endpoint", True), ("endpoint", False)]
    assert g.decisions[1].subject["url"] == "https://api.kraken.com/x"


# -- trading states ------------------------------------------------------------------------------
def reducing_guard():
    ks = KillSwitch(None, "paper")
    ks.engage("wind down", state="reducing")
    return guard(kill_switch=ks)


@pytest.mark.parametrize("side, qty, reduce_only", [("sell", 0.4, False), ("sell", 1.0, True), ("sell", 1.0, False)])
def test_reducing_when_order_reduces_long_then_allowed(side, qty, reduce_only):
    g = reducing_guard()
    assert g.state is TradingState.REDUCING
    d = decide(g, order(side, qty, reduce_only=reduce_only), ledger_with(BTC_USD=(1.0, 100.0)))
    assert d.allowed, d


def test_reducing_when_order_reduces_short_then_allowed():
    assert decide(reducing_guard(), order("buy", 0.5), ledger_with(BTC_USD=(-2.0, 100.0))).allowed


@pytest.mark.parametrize("side, qty, pos, word", [
    ("buy", 0.1, 1.0, "increase"),   # adds to a long
    ("buy", 0.1, 0.0, "increase"),   # opens from flat
    ("sell", 1.5, 1.0, "flip"),      # flips long → short
    ("buy", 3.0, -2.0, "flip"),      # flips short → long
])
def test_reducing_when_order_increases_or_flips_then_denied(side, qty, pos, word):
    d = decide(reducing_guard(), order(side, qty), ledger_with(BTC_USD=(pos, 100.0)))
    assert not d.allowed and d.gate == "reducing" and f"would {word} position" in d.reason


def test_reducing_when_reduce_only_flag_on_a_flipping_order_then_still_denied():
    d = decide(reducing_guard(), order("sell", 1.5, reduce_only=True), ledger_with(BTC_USD=(1.0, 100.0)))
    assert not d.allowed and d.gate == "reducing"


@pytest.mark.parametrize("side, qty, pos, reduce_only", [
    ("sell", 0.5, 1.0, True), ("sell", 1.0, 1.0, False), ("buy", 1.0, 0.0, False), ("buy", 1.0, -1.0, True)])
def test_halted_when_any_order_then_denied(side, qty, pos, reduce_only):
    ks = KillSwitch(None, "paper")
    ks.engage("stop everything")
    d = decide(guard(kill_switch=ks), order(side, qty, reduce_only=reduce_only), ledger_with(BTC_USD=(pos, 100.0)))
    assert not d.allowed and d.gate == "halted" and "stop everything" in d.reason and "cancels still pass" in d.reason


def test_active_when_reduce_only_order_would_flip_then_denied():
    g = guard()
    d = decide(g, order("sell", 2.0, reduce_only=True), ledger_with(BTC_USD=(1.0, 100.0)))
    assert not d.allowed and d.gate == "reduce_only" and "would flip position 1 → -1" in d.reason
    assert decide(g, order("sell", 1.0, reduce_only=True), ledger_with(BTC_USD=(1.0, 100.0))).allowed


def test_guard_when_kill_switch_engaged_by_another_process_then_next_order_denied(tmp_path):
    g = guard(kill_switch=KillSwitch(tmp_path, "paper"))
    assert decide(g, order()).allowed
    KillSwitch(tmp_path).engage("from the CLI", scope="all")  # another process writes the file
    assert decide(g, order()).gate == "halted"


def test_guard_when_deciding_then_every_decision_recorded_with_order_fields():
    g = guard("paper", "exchange")
    decide(g, order(client_order_id="pt-1"))
    g2 = guard()
    decide(g2, order(client_order_id="pt-2"))
    [rec] = g.decisions
    assert not rec.allowed and rec.gate == "environment" and rec.subject["client_order_id"] == "pt-1"
    assert rec.market_time == T0.isoformat() and rec.environment == "paper"
    assert g2.decisions[0].allowed


def test_guard_when_a_dependency_raises_then_denies_and_records():
    class Broken:
        def position(self, symbol):
            raise RuntimeError("books unavailable")

    g = guard()
    d = g.check(order(), ledger=Broken(), price=1.0, now=T0)
    assert not d.allowed and "check failed: RuntimeError: books unavailable" in d.reason
    assert not g.decisions[-1].allowed


# -- build_checks ------------------------------------------------------------------------------
def test_build_checks_when_paper_then_guard_and_limits_sharing_one_log_and_audit_file(make_cfg, tmp_path):
    cfg = make_cfg(safety={"state_dir": str(tmp_path / "st")}, risk={"max_order_notional": 50.0})
    g, lim = build_checks(config=cfg, executor_kind="paper")
    assert isinstance(g, SafetyGuard) and isinstance(lim, RiskLimits) and g.log is lim.log
    assert g.environment is TradingEnvironment.PAPER and not g.allows_private_api()
    led = ledger_with()
    assert g.check(order(qty=1.0), ledger=led, price=100.0, now=T0).allowed
    assert not lim.check(order(qty=1.0), ledger=led, price=100.0, now=T0).allowed
    lines = [json.loads(x) for x in (tmp_path / "st" / "audit.jsonl").read_text().splitlines()]
    assert [(x["component"], x["allowed"], x["gate"]) for x in lines] == [
        ("SafetyGuard", True, "SafetyGuard"), ("RiskLimits", False, "max_order_notional")]


@pytest.mark.parametrize("env, kind", [("paper", "exchange"), ("shadow", "exchange"), ("testnet", "paper")])
def test_build_checks_when_executor_kind_mismatches_environment_then_refuses(make_cfg, env, kind):
    cfg = make_cfg(risk=ALL_LIMITS)
    with pytest.raises(SafetyError, match=f"does not match the {env} environment"):
        build_checks(env, config=cfg, executor_kind=kind)


def test_build_checks_when_testnet_without_limits_then_refuses_at_startup(make_cfg):
    with pytest.raises(ConfigError, match="testnet environment refuses to start"):
        build_checks("testnet", config=make_cfg(), executor_kind="exchange")
    g, _ = build_checks("testnet", config=make_cfg(risk=ALL_LIMITS), executor_kind="exchange")
    assert g.check_endpoint("http://127.0.0.1:8000/0/private/AddOrder").allowed


def test_guard_when_audit_file_cannot_be_written_then_allowed_order_is_denied(make_cfg, tmp_path):
    (tmp_path / "st" / "audit.jsonl").mkdir(parents=True)  # a directory where the file should be
    cfg = make_cfg(safety={"state_dir": str(tmp_path / "st")})
    g, _ = build_checks(config=cfg, executor_kind="paper")
    d = g.check(order(), ledger=ledger_with(), price=100.0, now=T0)
    assert not d.allowed and d.gate == "audit" and "cannot append to audit file" in d.reason
    assert g.decisions[-1].gate == "audit" and not g.decisions[-1].allowed


def test_guard_when_built_by_hand_and_user_kill_switch_engaged_then_orders_denied(isolated_state_dir):
    from peaktrade.config import default_state_dir

    assert default_state_dir() == isolated_state_dir
    g = guard()  # no kill_switch= given: the user's persisted switch, not an in-memory one
    assert decide(g, order()).allowed
    KillSwitch(default_state_dir()).engage("operator stop", scope="all")  # what `peaktrade kill-switch on` does
    d = decide(g, order())
    assert not d.allowed and "halted" in d.reason
