"""Orchestrator: a profile runs as a testnet session through the pipeline, within budget, with a run
log and an MLflow run; dry runs send nothing; the safety layer fails closed."""

from __future__ import annotations

import pytest
from testnet_helpers import FakeCcxtKraken, write_testnet_config, zigzag_bars

from peaktrade.config import load_config
from peaktrade.errors import ConfigError
from peaktrade.live.runlog import read_events, read_meta
from peaktrade.live.testnet import TestnetError, budget_from_config, run_testnet_session


@pytest.fixture
def tcfg(tmp_path, clean_env):
    def make(**kw):
        path = write_testnet_config(tmp_path, **kw)
        clean_env.setenv("PEAK_TRADE_CONFIG_PATH", str(path))
        return load_config()
    return make


def _fake(n=60):
    fake = FakeCcxtKraken(price=100.0, fee_rate=0.001, cash=1000.0)
    zigzag_bars(fake, n)
    return fake


def test_orchestrate_when_sim_mode_then_orders_placed_booked_and_ledger_equals_venue(tcfg):
    cfg = tcfg()
    fake = _fake()
    res = run_testnet_session("fast", config=cfg, mode="kraken-sim", exchange=fake, warmup=10, catch_up=40,
                              max_bars=40, handle_signals=False)
    assert res.status == "completed" and res.summary["bars"] == 40
    placed = [c for c in fake.calls if c[0] == "create_order"]
    assert res.summary["n_orders"] == len(placed) >= 2
    assert all("validate" not in c[2]["params"] for c in placed)
    cids = [o["clientOrderId"] for o in fake.orders.values()]
    assert len(cids) == len(set(cids)) == res.summary["n_fills"]
    assert res.ledger.cash == pytest.approx(fake.balances["USD"])
    assert res.ledger.position("BTC/USD") == pytest.approx(fake.balances["BTC"])
    meta = read_meta(res.run_dir)
    assert meta["environment"] == "testnet" and meta["executor"] == "exchange:kraken-sim"
    assert meta["testnet_summary"]["budget"]["run_trades"] == len(placed)
    assert [c for c in meta["checks"]] == ["SafetyGuard", "RiskLimits", "TestnetBudget"]
    assert len(read_events(res.run_dir).of_type("fill")) == len(placed)


def test_orchestrate_when_validate_mode_then_every_order_validated_and_fills_simulated(tcfg):
    cfg = tcfg()
    fake = _fake()
    res = run_testnet_session("fast", config=cfg, mode="kraken-validate", exchange=fake, warmup=10, catch_up=40,
                              max_bars=40, handle_signals=False)
    placed = [c for c in fake.calls if c[0] == "create_order"]
    assert placed and all(c[2]["params"]["validate"] == "true" for c in placed)
    assert fake.orders == {} and res.summary["n_fills"] == len(placed)
    assert fake.count("fetch_balance") == 0


def test_orchestrate_when_budget_small_then_orders_past_it_denied_and_never_sent(tcfg):
    cfg = tcfg(profiles={"tiny": {"strategy": "ma_crossover", "parameters": {"fast": 2, "slow": 4},
                                  "symbol": "BTC/USD", "timeframe": "1m", "duration": 60.0,
                                  "max_notional": 5000.0, "max_trades": 1}})
    fake = _fake()
    res = run_testnet_session("tiny", config=cfg, mode="kraken-sim", exchange=fake, warmup=10, catch_up=40,
                              max_bars=40, handle_signals=False)
    sides = [c[1][2] for c in fake.calls if c[0] == "create_order"]
    assert sides == ["buy", "sell"]  # one entry; its exit passes past the budget (never trap a position)
    denials = read_events(res.run_dir).of_type("denial")
    assert denials and all(d["payload"]["gate"] == "max_run_trades" and d["payload"]["side"] == "buy"
                           for d in denials)
    rows = budget_from_config(cfg).rows()
    assert [r["status"] for r in rows] == ["reserved", "forced_exit"]


def test_orchestrate_when_dry_run_then_nothing_sent_and_no_run_log(tcfg):
    cfg = tcfg()
    fake = _fake()
    res = run_testnet_session("fast", config=cfg, mode="kraken-sim", exchange=fake, dry_run=True)
    assert res.status == "dry-run" and res.run_dir is None and fake.calls == []
    assert not cfg.runs_dir.exists() or not any(p.name != "state" for p in cfg.runs_dir.iterdir())


def test_orchestrate_when_risk_limits_unset_then_refuses_to_start(tcfg):
    cfg = tcfg()
    cfg = cfg.model_copy(update={"risk": cfg.risk.model_copy(update={"max_order_notional": None})})
    with pytest.raises(ConfigError, match="max_order_notional"):
        run_testnet_session("fast", config=cfg, mode="kraken-sim", exchange=_fake())


def test_orchestrate_when_profile_unknown_or_symbol_not_allowed_then_one_line_error(tcfg):
    cfg = tcfg(profiles={"doge": {"strategy": "ma_crossover", "symbol": "DOGE/USD", "timeframe": "1m"}})
    with pytest.raises(TestnetError, match="one of doge"):
        run_testnet_session("nope", config=cfg)
    with pytest.raises(TestnetError, match="not in \\[testnet\\] symbols"):
        run_testnet_session("doge", config=cfg)


def test_log_testnet_run_when_caller_logs_the_result_then_mlflow_run_recorded(tcfg):
    from peaktrade.tracking import recent_runs
    from peaktrade.tracking.session_runs import log_testnet_run

    cfg = tcfg()
    res = run_testnet_session("fast", config=cfg, mode="kraken-sim", exchange=_fake(), warmup=10, catch_up=20,
                              max_bars=20, handle_signals=False)
    mlflow_id = log_testnet_run(res, config=cfg)
    assert mlflow_id
    runs = recent_runs(config=cfg)
    assert any(str(getattr(r, "run_id", r.get("run_id") if isinstance(r, dict) else "")) == mlflow_id
               for r in (runs.to_dict("records") if hasattr(runs, "to_dict") else runs))


def test_log_testnet_run_when_dry_run_then_nothing_logged(tcfg):
    from peaktrade.tracking.session_runs import log_testnet_run

    cfg = tcfg()
    res = run_testnet_session("fast", config=cfg, mode="kraken-sim", exchange=_fake(), dry_run=True)
    assert log_testnet_run(res, config=cfg) is None


def test_budget_when_two_runs_then_shared_daily_budget_counts_both(tcfg):
    cfg = tcfg(testnet={"max_daily_trades": 3})
    f1, f2 = _fake(), _fake()
    run_testnet_session("fast", config=cfg, mode="kraken-sim", exchange=f1, warmup=10, catch_up=40, max_bars=40,
                        handle_signals=False)
    try:
        run_testnet_session("fast", config=cfg, mode="kraken-sim", exchange=f2, warmup=10, catch_up=40,
                            max_bars=40, handle_signals=False)
    except TestnetError as e:
        assert "budget is spent" in str(e)
    total = f1.count("create_order") + f2.count("create_order")
    assert total <= 3 and budget_from_config(cfg).usage()["daily_trades"] == total


def test_orchestrators_when_two_run_at_once_then_daily_budget_never_overspent(tcfg):
    import threading

    from pydantic import SecretStr

    cfg = tcfg(testnet={"max_daily_trades": 5})
    fakes = [_fake(), _fake()]
    errors: list[BaseException] = []
    unexpected: list[BaseException] = []
    go = threading.Barrier(2, timeout=60)
    # two accounts: one account runs one instance per strategy and symbol (the session lock); the day's
    # testnet budget is shared by both
    cfgs = {id(f): cfg.model_copy(update={"secrets": cfg.secrets.model_copy(
        update={"kraken_api_key": SecretStr(f"account-{i}")})}) for i, f in enumerate(fakes)}

    def run(fake):
        try:
            go.wait()
            run_testnet_session("fast", config=cfgs[id(fake)], mode="kraken-sim", exchange=fake, warmup=10,
                                catch_up=40, max_bars=40, handle_signals=False)
        except TestnetError as e:  # the other run may have spent the day before this one started
            errors.append(e)
        except BaseException as e:  # noqa: BLE001 — reported by the assertion below
            unexpected.append(e)

    ts = [threading.Thread(target=run, args=(f,)) for f in fakes]
    for t in ts:
        t.start()
    for t in ts:
        t.join(timeout=120)
    assert not unexpected and not any(t.is_alive() for t in ts), unexpected
    sent = sum(f.count("create_order") for f in fakes)
    rows = budget_from_config(cfg).rows()
    forced = sum(r["status"] == "forced_exit" for r in rows)
    assert len(rows) == sent  # every order sent is counted, none twice
    assert sent - forced <= 5  # entries never exceed the day's trades; only closing exits may pass past it


def test_venue_clock_when_simulator_runs_ahead_then_milliseconds_follow_it():
    from peaktrade.adapters.kraken import KrakenClient

    fake = FakeCcxtKraken()
    ahead = {"ms": 0}
    fake.milliseconds = lambda: 1_000_000  # local clock
    fake.fetch_time = lambda: 1_000_000 + ahead["ms"]
    c = KrakenClient(exchange=fake, base_url="http://127.0.0.1:9")
    ahead["ms"] = 600_000
    assert c.milliseconds() == 1_600_000
    ahead["ms"] = 900
    c.clock_refresh = 0.0
    assert c.milliseconds() == 1_000_000  # within Kraken's one-second resolution: no offset


def test_orchestrate_when_duration_elapses_while_polling_then_run_ends_completed(tcfg):
    import time as _time

    cfg = tcfg()
    fake = _fake()
    t0 = _time.monotonic()
    res = run_testnet_session("fast", config=cfg, mode="kraken-sim", exchange=fake, warmup=10, duration=0.5,
                              poll_interval=0.05, handle_signals=False)
    assert res.status == "completed" and res.summary["bars"] == 0
    assert _time.monotonic() - t0 < 10 and fake.count("fetch_ohlcv") >= 2  # it polled until the timer fired


def test_budget_check_when_run_older_than_max_seconds_then_entries_denied_exits_pass(tmp_path):
    import pandas as pd

    from peaktrade.execution.ledger import Ledger
    from peaktrade.live.budget import BudgetCheck, BudgetLimits, TestnetBudget
    from peaktrade.orders.model import OrderFill, OrderRequest

    lim = BudgetLimits(1000.0, 10, 1000.0, 10, ("BTC/USD",), max_run_seconds=60.0)
    clock = {"t": 0.0}
    check = BudgetCheck(TestnetBudget(tmp_path / "b.sqlite", lim), run_id="r", monotonic=lambda: clock["t"])
    ledger = Ledger(1000.0)
    now = pd.Timestamp("2026-01-01", tz="UTC")
    assert check.check(OrderRequest("BTC/USD", "buy", 1.0), ledger=ledger, price=10.0, now=now).allowed
    ledger.apply(OrderFill("x", "BTC/USD", "buy", 1.0, 10.0, 0.0, now))
    clock["t"] = 61.0
    d = check.check(OrderRequest("BTC/USD", "buy", 1.0), ledger=ledger, price=10.0, now=now)
    assert not d.allowed and d.gate == "max_run_seconds"
    assert check.check(OrderRequest("BTC/USD", "sell", 1.0), ledger=ledger, price=10.0, now=now).allowed


@pytest.mark.parametrize("env", ["live", "paper"])
def test_orchestrate_when_client_handed_in_is_not_guarded_for_testnet_then_refused_before_any_order(tcfg, env):
    from peaktrade.adapters.kraken.client import KrakenClient
    from peaktrade.safety import SafetyGuard

    cfg = tcfg()
    fake = _fake()
    kind = "exchange" if env == "live" else "paper"
    client = KrakenClient(guard=SafetyGuard(env, executor_kind=kind), exchange=fake)
    with pytest.raises(TestnetError, match=f"guarded for {env}"):
        run_testnet_session("fast", config=cfg, mode="kraken-sim", client=client)
    assert client.sent_orders == 0


def test_orchestrate_when_an_order_outcome_is_unknown_then_the_run_log_says_so(tcfg):
    # the venue took the order, then every answer about it was lost: the executor's unknown outcome
    # must reach the operator's run log, not stay in memory
    import ccxt

    cfg = tcfg()
    fake = _fake()
    fake.accept_then_fail = [ccxt.RequestTimeout("kraken POST AddOrder timed out")]
    lost = [ccxt.NetworkError("kraken lookup timed out") for _ in range(400)]
    for method in ("fetch_open_orders", "fetch_closed_orders", "fetch_order"):
        fake.faults[method] = list(lost)
    orig, first = fake.fetch_open_orders, [True]

    def start_check_answered(*a, **kw):  # the session's start-up check of open orders gets its answer
        if first.pop() if first else False:
            q = fake.faults.pop("fetch_open_orders")
            try:
                return orig(*a, **kw)
            finally:
                fake.faults["fetch_open_orders"] = q
        return orig(*a, **kw)

    fake.fetch_open_orders = start_check_answered
    res = run_testnet_session("fast", config=cfg, mode="kraken-sim", exchange=fake, warmup=10, catch_up=40,
                              max_bars=40, handle_signals=False)
    venue = [e["payload"] for e in read_events(res.run_dir).of_type("session")
             if e["payload"].get("event") == "outcome_unknown"]
    assert len(venue) == 1 and venue[0]["client_order_id"].startswith("pt-") and "timed out" in venue[0]["error"]


def test_orchestrate_when_config_object_given_without_env_then_run_loop_uses_it(tmp_path, clean_env):
    cfg = load_config(write_testnet_config(tmp_path))  # no PEAK_TRADE_CONFIG_PATH: the cwd has no config
    cfg.monitor.heartbeat_seconds = 7.0
    clean_env.chdir(tmp_path / "..")
    res = run_testnet_session("fast", config=cfg, mode="kraken-sim", exchange=_fake(), warmup=10, catch_up=5,
                              max_bars=5, handle_signals=False)
    assert read_meta(res.run_dir)["heartbeat_seconds"] == 7.0


def test_orchestrate_when_client_guard_has_no_collar_or_placing_client_no_deadman_then_refused(tcfg, tmp_path):
    from types import SimpleNamespace

    from peaktrade.adapters.kraken import KrakenClient
    from peaktrade.safety import KillSwitch, SafetyGuard

    cfg = tcfg()
    fake = _fake()
    guard = SafetyGuard("testnet", executor_kind="exchange", kill_switch=KillSwitch(tmp_path / "ks", "testnet"),
                        max_price_deviation=None)
    bare = KrakenClient(guard=guard, exchange=fake, base_url="http://127.0.0.1:9", simulator=True, rate_limit=False)
    with pytest.raises(TestnetError, match="guard without a price collar \\(max_price_deviation=None\\)"):
        run_testnet_session("fast", config=cfg, mode="kraken-sim", client=bare, max_bars=1, handle_signals=False)
    # a unit-test stand-in: a placing client whose venue has no dead-man switch
    guard.max_price_deviation = 0.05
    no_switch = SimpleNamespace(guard=guard, validate_only=False,
                                capabilities=SimpleNamespace(dead_man_switch=False))
    with pytest.raises(TestnetError, match="places orders but has no dead-man switch"):
        run_testnet_session("fast", config=cfg, mode="kraken-sim", client=no_switch, max_bars=1,
                            handle_signals=False)
    assert fake.count("create_order") == 0
