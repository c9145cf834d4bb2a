"""RiskLimits: each limit denies just over and allows just under, names itself and the numbers."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from safety_helpers import ALL_LIMITS, MIDNIGHT, T0, ledger_with, order

from peaktrade.config import RiskConfig
from peaktrade.errors import ConfigError
from peaktrade.safety import KillSwitch, RiskLimits, TradingState, require_limits_for


def limits(**kw):
    return RiskLimits(RiskConfig(**kw))


def check(lim, req, led=None, price=10_000.0, now=T0):
    return lim.check(req, ledger=led if led is not None else ledger_with(cash=100_000.0), price=price, now=now)


def test_limits_when_none_set_then_everything_passes():
    lim = limits()
    assert check(lim, order(qty=1e6), price=float("nan"), now=None).allowed


@pytest.mark.parametrize("qty, allowed", [(1.0001, False), (0.9999, True), (1.0, True)])
def test_max_order_notional_when_just_over_then_denied_just_under_allowed(qty, allowed):
    d = check(limits(max_order_notional=10_000.0), order(qty=qty))
    assert d.allowed is allowed
    if not allowed:
        assert d.gate == "max_order_notional"
        assert d.reason.startswith("max_order_notional: 10,001.00 > 10,000.00 (buy 1.0001 BTC/USD at 10,000.00)")


def test_max_order_notional_when_limit_order_above_market_then_valued_at_its_limit():
    lim = limits(max_order_notional=10_000.0)
    d = check(lim, order(qty=1.0, type="limit", limit_price=10_500.0))
    assert not d.allowed and "10,500.00 > 10,000.00" in d.reason
    assert check(lim, order(qty=1.0, type="limit", limit_price=9_000.0)).allowed


@pytest.mark.parametrize("qty, allowed", [(0.5001, False), (0.4999, True)])
def test_max_position_notional_when_just_over_then_denied_just_under_allowed(qty, allowed):
    led = ledger_with(cash=100_000.0, BTC_USD=(0.5, 9_000.0))
    d = check(limits(max_position_notional=10_000.0), order(qty=qty), led)
    assert d.allowed is allowed
    if not allowed:
        assert d.gate == "max_position_notional" and "BTC/USD 10,001.00 > 10,000.00" in d.reason


@pytest.mark.parametrize("qty, allowed", [(1.0001, False), (0.9999, True)])
def test_max_total_exposure_when_just_over_then_denied_just_under_allowed(qty, allowed):
    led = ledger_with(cash=100_000.0, ETH_USD=(-10.0, 500.0))  # 5,000 of exposure marked at its entry
    d = check(limits(max_total_exposure=15_000.0), order(qty=qty), led)
    assert d.allowed is allowed
    if not allowed:
        assert d.gate == "max_total_exposure" and "15,001.00 > 15,000.00" in d.reason


def test_max_total_exposure_when_other_symbol_priced_later_then_uses_last_seen_price():
    lim = limits(max_total_exposure=15_000.0)
    led = ledger_with(cash=100_000.0, ETH_USD=(10.0, 500.0))
    assert check(lim, order(qty=0.1, symbol="ETH/USD"), led, price=600.0).allowed  # ETH now marked 600
    assert not check(lim, order(qty=0.9999), led).allowed  # 6,000 + 9,999 > 15,000


@pytest.mark.parametrize("others, allowed", [(1, True), (2, False)])
def test_max_open_positions_when_one_more_than_allowed_then_denied(others, allowed):
    pos = {"ETH_USD": (1.0, 100.0), "SOL_USD": (1.0, 10.0)}
    led = ledger_with(cash=100_000.0, **dict(list(pos.items())[:others]))
    d = check(limits(max_open_positions=2), order(qty=0.1), led)
    assert d.allowed is allowed
    if not allowed:
        assert d.gate == "max_open_positions" and d.reason.startswith("max_open_positions: 3 > 2")


def test_max_open_positions_when_adding_to_an_open_position_then_not_counted_again():
    led = ledger_with(cash=100_000.0, BTC_USD=(0.1, 100.0), ETH_USD=(1.0, 100.0))
    assert check(limits(max_open_positions=2), order(qty=0.1), led).allowed


def _day_limits(**kw):
    lim = limits(**kw)
    lim.on_equity(MIDNIGHT, 10_000.0, ledger=ledger_with(cash=10_000.0))  # start-of-day equity 10,000
    return lim


@pytest.mark.parametrize("price, allowed", [(9_499.0, False), (9_501.0, True)])
def test_max_daily_loss_when_just_over_then_denied_just_under_allowed(price, allowed):
    lim = _day_limits(max_daily_loss=500.0)
    led = ledger_with(cash=0.0, BTC_USD=(1.0, 10_000.0))  # equity = price
    d = check(lim, order(qty=0.01), led, price=price)
    assert d.allowed is allowed
    if not allowed:
        assert d.gate == "max_daily_loss"
        assert d.reason.startswith("max_daily_loss: loss 501.00 > 500.00 (start-of-day equity 10,000.00, "
                                   "equity 9,499.00, UTC day 2024-01-02)")


@pytest.mark.parametrize("price, allowed", [(9_499.0, False), (9_501.0, True)])
def test_max_daily_loss_pct_when_just_over_then_denied_just_under_allowed(price, allowed):
    lim = _day_limits(max_daily_loss_pct=5.0)
    d = check(lim, order(qty=0.01), ledger_with(cash=0.0, BTC_USD=(1.0, 10_000.0)), price=price)
    assert d.allowed is allowed
    if not allowed:
        assert d.gate == "max_daily_loss_pct" and d.reason.startswith("max_daily_loss_pct: loss 5.01% > 5.00%")


def test_max_daily_loss_when_breached_then_holds_for_the_day_and_a_new_utc_day_starts_fresh():
    lim = _day_limits(max_daily_loss=500.0)
    led = ledger_with(cash=0.0, BTC_USD=(1.0, 10_000.0))
    lim.on_equity(T0, 9_400.0, ledger=led)
    assert lim.check(order(qty=0.01), ledger=led, price=9_900.0, now=T0).gate == "max_daily_loss"  # recovered, still
    next_day = pd.Timestamp("2024-01-03 00:00", tz="UTC")
    lim.on_equity(next_day, 9_900.0, ledger=led)
    assert lim.start_of_day_equity == 9_900.0
    assert lim.check(order(qty=0.01), ledger=led, price=9_900.0, now=next_day + pd.Timedelta("1h")).allowed


def test_start_of_day_equity_when_session_spans_midnight_then_equity_as_of_midnight():
    lim = limits(max_daily_loss=1e9)
    led = ledger_with()
    lim.on_equity(pd.Timestamp("2024-01-01 22:00", tz="UTC"), 100.0, ledger=led)
    lim.on_equity(pd.Timestamp("2024-01-01 23:00", tz="UTC"), 90.0, ledger=led)
    lim.on_equity(pd.Timestamp("2024-01-02 01:00", tz="UTC"), 80.0, ledger=led)  # no bar at 00:00
    assert lim.start_of_day_equity == 90.0
    lim.on_equity(pd.Timestamp("2024-01-03 00:00", tz="UTC"), 70.0, ledger=led)  # a bar closing at midnight
    assert lim.start_of_day_equity == 70.0


def test_max_daily_loss_when_breached_then_kill_switch_engaged_in_the_environment_scope(tmp_path):
    ks = KillSwitch(tmp_path, "shadow")
    lim = RiskLimits(RiskConfig(max_daily_loss=500.0), environment="shadow", kill_switch=ks, log=ks.log)
    lim.on_equity(MIDNIGHT, 10_000.0, ledger=ledger_with())
    lim.on_equity(T0, 9_400.0, ledger=ledger_with())
    st = ks.read("shadow")
    assert st.state is TradingState.HALTED and st.source == "max_daily_loss" and "loss 600.00 > 500.00" in st.reason
    assert st.since == T0.isoformat()  # market time of the breach
    assert ks.read("all").state is TradingState.ACTIVE  # other environments are not stopped
    lim.on_equity(T0 + pd.Timedelta("1h"), 9_300.0, ledger=ledger_with())  # still breached: recorded once
    assert [(r.component, r.gate) for r in lim.decisions] == [("RiskLimits", "max_daily_loss"),
                                                              ("kill_switch", "kill_switch")]


def test_max_daily_loss_when_on_daily_loss_is_reduce_then_switch_goes_reducing(tmp_path):
    ks = KillSwitch(tmp_path, "paper")
    lim = RiskLimits(RiskConfig(max_daily_loss_pct=1.0, on_daily_loss="reduce"), kill_switch=ks)
    lim.on_equity(MIDNIGHT, 1_000.0, ledger=ledger_with())
    lim.on_equity(T0, 980.0, ledger=ledger_with())
    assert ks.state is TradingState.REDUCING


def test_max_daily_loss_when_equity_event_unusable_then_increasing_orders_denied():
    lim = _day_limits(max_daily_loss=500.0)
    lim.on_equity(T0, float("nan"), ledger=ledger_with())
    d = check(lim, order(qty=0.01), ledger_with(cash=10_000.0))
    assert not d.allowed and d.gate == "max_daily_loss" and "could not be evaluated" in d.reason


def test_max_orders_per_minute_when_counted_then_uses_market_time_not_wall_clock():
    lim = limits(max_orders_per_minute=3)
    sec = pd.Timedelta(seconds=1)
    for s in (0, 20, 40):
        assert check(lim, order(), now=T0 + s * sec).allowed
    d = check(lim, order(), now=T0 + 59 * sec)  # just over: a 4th order inside the minute
    assert not d.allowed and d.gate == "max_orders_per_minute"
    assert d.reason == f"max_orders_per_minute: 4 > 3 in the minute to {(T0 + 59 * sec).isoformat()} (market time)"
    assert check(lim, order(), now=T0 + 60 * sec).allowed  # just under: the first order left the window
    # hours of market time checked within a split second of wall time: none is denied
    slow = limits(max_orders_per_minute=1)
    assert all(check(slow, order(), now=T0 + pd.Timedelta(hours=h)).allowed for h in range(10))


def test_max_orders_per_minute_when_market_time_goes_backwards_then_denied():
    lim = limits(max_orders_per_minute=10)
    assert check(lim, order(), now=T0).allowed
    d = check(lim, order(), now=T0 - pd.Timedelta(seconds=1))
    assert not d.allowed and "cannot evaluate" in d.reason


@pytest.mark.parametrize("kw", [{"max_order_notional": 1.0}, {"max_position_notional": 1.0},
                                {"max_total_exposure": 1.0}, {"max_open_positions": 1},
                                {"max_orders_per_minute": 1}])
def test_limits_when_order_reduces_exposure_then_never_denied(kw):
    lim = limits(**kw)
    led = ledger_with(cash=0.0, BTC_USD=(5.0, 10_000.0), ETH_USD=(5.0, 100.0))
    for i in range(3):
        assert check(lim, order("sell", 1.0), led, now=T0 + pd.Timedelta(seconds=i)).allowed


def test_limits_when_daily_loss_breached_then_reducing_orders_still_pass_risk_limits():
    lim = _day_limits(max_daily_loss=1.0)
    led = ledger_with(cash=0.0, BTC_USD=(1.0, 10_000.0))
    assert not check(lim, order("buy", 0.1), led, price=9_000.0).allowed
    assert check(lim, order("sell", 1.0), led, price=9_000.0).allowed  # closing is the state's (guard's) call


@pytest.mark.parametrize("kw, price, now, gate", [
    ({"max_order_notional": 10.0}, float("nan"), T0, "max_order_notional"),
    ({"max_total_exposure": 10.0}, 0.0, T0, "max_total_exposure"),
    ({"max_orders_per_minute": 5}, 1.0, None, "max_orders_per_minute"),
    ({"max_daily_loss": 5.0}, 1.0, pd.NaT, "max_daily_loss"),
])
def test_limits_when_input_missing_then_cannot_decide_and_deny_naming_the_limit(kw, price, now, gate):
    d = limits(**kw).check(order(), ledger=ledger_with(), price=price, now=now)
    assert not d.allowed and d.gate == gate and d.reason.startswith(f"{gate}: cannot evaluate")


def test_limits_when_other_position_has_no_price_at_all_then_exposure_cannot_be_decided():
    led = ledger_with(ETH_USD=(1.0, math.nan))
    d = check(limits(max_total_exposure=1e9), order(qty=0.001), led)
    assert not d.allowed and "no price known for ETH/USD" in d.reason


def test_require_limits_for_when_testnet_or_live_then_every_limit_required(make_cfg):
    cfg = make_cfg()
    require_limits_for("paper", cfg)
    require_limits_for("shadow", cfg)
    for env in ("testnet", "live"):
        with pytest.raises(ConfigError) as ei:
            require_limits_for(env, cfg)
        msg = str(ei.value)
        for name in ("max_order_notional", "max_position_notional", "max_total_exposure", "max_open_positions",
                     "max_orders_per_minute", "max_daily_loss or max_daily_loss_pct"):
            assert name in msg
    pct_only = {k: v for k, v in ALL_LIMITS.items() if k != "max_daily_loss"} | {"max_daily_loss_pct": 3.0}
    require_limits_for("live", make_cfg(risk=pct_only))


@pytest.mark.parametrize("key, value", [("max_order_notional", 0.0), ("max_open_positions", 0),
                                        ("max_daily_loss_pct", 150.0), ("on_daily_loss", "pause")])
def test_risk_config_when_value_invalid_then_config_error_names_it(make_cfg, key, value):
    with pytest.raises(ConfigError, match=f"risk.{key}"):
        make_cfg(risk={key: value})
