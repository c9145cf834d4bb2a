"""``peaktrade testnet ...`` in-process: budget, orchestrate --list/--budget/--dry-run/--profile, ping,
smoke-order (against the simulator over HTTP)."""

from __future__ import annotations

import pytest
from testnet_helpers import write_testnet_config

from peaktrade.sim import DEFAULT_SIM_API_KEY as SIM_API_KEY
from peaktrade.sim import DEFAULT_SIM_API_SECRET as SIM_API_SECRET


@pytest.fixture
def tcli(cli, tmp_path, clean_env):
    """The CLI with the testnet group (registered here until cli/main.py wires it) and a testnet config."""
    from peaktrade.cli import main, testnet_cmd

    if not any(g.name == "testnet" for g in main.app.registered_groups):
        testnet_cmd.register(main.app)

    def run(*argv: str, **cfg_kw):
        path = write_testnet_config(tmp_path, **cfg_kw)
        clean_env.setenv("PEAK_TRADE_CONFIG_PATH", str(path))
        return cli(*argv)

    return run


@pytest.fixture
def sim_server():
    import peaktrade.sim as sim
    ex = sim.SimExchange(keys={SIM_API_KEY: SIM_API_SECRET}, seed=5, speed=0.0, tier="pro")
    with sim.serve_in_thread(ex) as srv:
        yield srv


def test_budget_when_fresh_then_everything_left(tcli):
    r = tcli("testnet", "budget")
    assert r.exit_code == 0, r.stderr
    assert "daily trades                0 used of 100 (100 left)" in r.stdout and "BTC/USD, ETH/USD" in r.stdout


def test_orchestrate_when_list_and_budget_then_profiles_and_budget_shown(tcli):
    r = tcli("testnet", "orchestrate", "--list", "--budget")
    assert r.exit_code == 0, r.stderr
    assert r.stdout.startswith("fast ") and "ma_crossover fast=2 slow=4 on BTC/USD 1m" in r.stdout
    assert "testnet budget for" in r.stdout


def test_orchestrate_when_no_action_then_one_line_error(tcli):
    r = tcli("testnet", "orchestrate")
    assert r.exit_code == 2 and "--list, --budget or --profile" in r.stderr


def test_orchestrate_when_dry_run_then_plan_shown_nothing_sent(tcli, sim_server):
    r = tcli("testnet", "orchestrate", "--profile", "fast", "--dry-run",
             testnet={"mode": "kraken-sim", "sim_url": sim_server.url})
    assert r.exit_code == 0, r.stderr
    assert "dry run: profile fast (kraken-sim)" in r.stdout and "nothing was sent" in r.stdout
    assert sim_server.exchange.orders == {}


def test_orchestrate_when_profile_against_simulator_then_orders_fill_and_ledger_matches(tcli, sim_server, tmp_path):
    r = tcli("testnet", "orchestrate", "--profile", "fast", "--warmup", "10", "--catch-up", "60", "--max-bars", "60",
             testnet={"mode": "kraken-sim", "sim_url": sim_server.url})
    assert r.exit_code == 0, r.stderr + r.stdout
    assert ": completed" in r.stdout and "run log" in r.stdout
    orders = list(sim_server.exchange.orders.values())
    assert orders and len({o.cl_ord_id for o in orders}) == len(orders)
    assert f"orders / fills / denials  {len(orders)} / {len(orders)} /" in r.stdout


def test_ping_when_simulator_then_public_and_private_round_trip(tcli, sim_server):
    r = tcli("testnet", "ping", testnet={"mode": "kraken-sim", "sim_url": sim_server.url})
    assert r.exit_code == 0, r.stderr + r.stdout
    for step in ("system status", "time", "ticker", "private balance"):
        assert f"  {step}" in r.stdout
    assert "FAIL" not in r.stdout and "clock skew" in r.stdout and SIM_API_SECRET not in r.stdout


def test_ping_when_validate_mode_then_private_balance_refused_by_the_guard(tcli, monkeypatch):
    import peaktrade.adapters.kraken.client as kc

    real_policy = kc.RetryPolicy
    monkeypatch.setattr(kc, "KRAKEN_API_URL", "http://127.0.0.2:1")  # offline: nothing listens there
    monkeypatch.setattr(kc, "RetryPolicy", lambda: real_policy(max_attempts=1))
    r = tcli("testnet", "ping", "--mode", "kraken-validate")
    assert r.exit_code == 1
    line = next(x for x in r.stdout.splitlines() if "private balance" in x)
    assert "FAIL" in line and "EndpointDenied" in line and "not a testnet host" in line


def test_smoke_order_when_simulator_then_validate_only_description_printed(tcli, sim_server):
    r = tcli("testnet", "smoke-order", testnet={"mode": "kraken-sim", "sim_url": sim_server.url})
    assert r.exit_code == 0, r.stderr + r.stdout
    assert "venue description: buy 0.00010000 XBTUSD @ market" in r.stdout
    assert "placed: no (validated only)" in r.stdout and sim_server.exchange.orders == {}


def test_smoke_order_when_risk_limit_denies_then_one_line_error_and_nothing_reaches_the_venue(tcli, sim_server):
    # the smoke order goes through the pipeline's pre-trade checks (RiskLimits here), not straight to the client
    arrived: list[dict] = []
    real = sim_server.exchange._priv_AddOrder

    def counting(params, ks):
        arrived.append(dict(params))
        return real(params, ks)

    sim_server.exchange._priv_AddOrder = counting
    r = tcli("testnet", "smoke-order", testnet={"mode": "kraken-sim", "sim_url": sim_server.url},
             risk={"max_order_notional": 0.5})
    assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr, r.stderr
    assert "smoke order denied by" in r.stderr and "max_order_notional" in r.stderr, r.stderr
    assert arrived == []
    r = tcli("testnet", "smoke-order", testnet={"mode": "kraken-sim", "sim_url": sim_server.url})
    assert r.exit_code == 0 and "checks passed" in r.stdout and len(arrived) == 1, r.stderr + r.stdout
    assert arrived[0].get("validate") == "true"


def test_budget_when_database_is_corrupt_then_one_line_error_and_file_kept(tcli, tmp_path):
    db = tmp_path / "budget.sqlite"
    junk = b"not a sqlite database, a half-copied file\n" * 100
    db.write_bytes(junk)
    for argv in (("testnet", "budget"), ("testnet", "orchestrate", "--budget")):
        r = tcli(*argv)
        assert r.exit_code == 2, r.stdout + r.stderr
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
        assert "budget database" in lines[0] and "budget.sqlite" in lines[0] and "move it aside" in lines[0]
        assert db.read_bytes() == junk


def test_smoke_order_when_venue_gives_no_validation_answer_then_error_not_a_passed_check(tmp_path, clean_env,
                                                                                          sim_server):
    # an unknown outcome (a timeout on the validate-only AddOrder) is not "checks passed"
    from peaktrade.adapters.errors import OutcomeUnknown
    from peaktrade.config import load_config
    from peaktrade.live.testnet import TestnetError, build_client, smoke_order, testnet_guard

    cfg = load_config(write_testnet_config(tmp_path, testnet={"mode": "kraken-sim", "sim_url": sim_server.url}))
    _, guard = testnet_guard(cfg)
    client = build_client(cfg, guard=guard, validate_only=True)

    def unknown(*a, **k):
        raise OutcomeUnknown("create_order: RequestTimeout: no answer", operation="create_order")

    client.create_order = unknown
    with pytest.raises(TestnetError, match="not confirmed: the venue gave no validation answer"):
        smoke_order(cfg, client=client)
    assert sim_server.exchange.orders == {}


def test_smoke_order_when_client_guarded_for_another_environment_then_refused(tmp_path, clean_env, sim_server):
    from peaktrade.adapters.kraken import KrakenClient
    from peaktrade.config import load_config
    from peaktrade.live.testnet import TestnetError, smoke_order

    cfg = load_config(write_testnet_config(tmp_path, testnet={"mode": "kraken-sim", "sim_url": sim_server.url}))
    client = KrakenClient(guard=None, base_url=sim_server.url, validate_only=True, simulator=True)
    with pytest.raises(TestnetError, match="guarded for no environment"):
        smoke_order(cfg, client=client)
