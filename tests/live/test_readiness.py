"""`peaktrade live readiness` (issue 17, item 1): every check against the real simulator standing in for the live
venue (a test-only, code-only mapping), all passing on a healthy setup and each one failing in turn with the rest
healthy; the live venue cannot be redirected by config or environment, and readiness can never trade."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest
from testnet_helpers import REPO_ROOT, write_testnet_config

from peaktrade.config import load_config
from peaktrade.live.readiness import CHECKS, simulator_stand_in, venue_client
from peaktrade.safety import KillSwitch, ReadOnlyGuard, SessionLock
from peaktrade.sim import DEFAULT_SIM_API_KEY, DEFAULT_SIM_API_SECRET, SimExchange, serve_in_thread, synthetic_feeds
from peaktrade.sim._faults import Fault

sys.path.insert(0, str(REPO_ROOT / "tests" / "alerts"))
from receivers import WebhookReceiver  # noqa: E402

ARGS = ("live", "readiness", "--strategy", "ma_crossover", "--symbol", "BTC/USD", "--timeframe", "1m")
#: A strategy whose entries peek at the next bar: its backtest sees the future, a shadow run cannot.
PEEK = '''
from peaktrade.strategies import PandasStrategy, Param


class Peek(PandasStrategy):
    name = "peek"
    summary = "buys when the next close is higher (lookahead)"
    params = (Param("hold", "int", 3, low=1, high=50, help="bars held"),)
    warmup = 1

    def signals(self, bars, *, hold):
        up = bars["close"].shift(-1) > bars["close"]
        return up, up.shift(hold, fill_value=False)
'''


@pytest.fixture(scope="module")
def srv():
    # 400 1m bars of history before now, 400 after; the simulator's clock is the wall clock (no skew)
    ex = SimExchange(keys={DEFAULT_SIM_API_KEY: DEFAULT_SIM_API_SECRET}, feeds=synthetic_feeds(seed=3, n=800),
                     start=time.time(), speed=1 / 60, tier="pro", balances={"ZUSD": 100_000.0})
    with serve_in_thread(ex) as s:
        yield s


@pytest.fixture(scope="module")
def webhook():
    w = WebhookReceiver()
    yield w
    w.server.shutdown()


@pytest.fixture
def healthy(srv, webhook, tmp_path, clean_env):
    """A config with every limit, live credentials set, an alert destination; the simulator reset after."""
    clean_env.setenv("KRAKEN_API_KEY", "live-key-not-a-sim-key")
    clean_env.setenv("KRAKEN_API_SECRET", "bGl2ZS1zZWNyZXQ=")
    clean_env.setenv("PEAKTRADE_ALERT_URLS", webhook.url("readiness-token"))
    (tmp_path / "strategies").mkdir()
    (tmp_path / "strategies" / "peek.py").write_text(PEEK)
    path = write_testnet_config(tmp_path)
    path.write_text(path.read_text() + f'[strategies]\npaths = ["{tmp_path / "strategies"}"]\n')
    with simulator_stand_in(srv.url, api_key=DEFAULT_SIM_API_KEY, api_secret=DEFAULT_SIM_API_SECRET):
        yield path
    srv.exchange.faults.clear()
    srv.exchange.set_status("online")
    srv.exchange.set_balances({"XXBT": 0.0})


def _statuses(r) -> dict[str, str]:
    return {c["name"]: c["status"] for c in json.loads(r.stdout)["checks"]}


def test_readiness_when_everything_is_healthy_then_every_check_passes_and_exit_0(cli, healthy, srv, webhook):
    n0 = len(webhook.received)
    r = cli("--config", str(healthy), *ARGS, "--json")
    assert r.exit_code == 0, r.stdout + r.stderr
    out = json.loads(r.stdout)
    assert out["passed"] is True and out["venue"].startswith(f"simulator stand-in {srv.url}")
    assert [c["name"] for c in out["checks"]] == list(CHECKS)
    assert all(c["reason"] for c in out["checks"])
    st = {c["name"]: c["status"] for c in out["checks"]}
    assert st.pop("withdrawal_permission") == "skip"  # Kraken's API cannot tell: said so
    assert set(st.values()) == {"pass"}, out["checks"]
    assert webhook.wait_for(n0 + 1)[n0]["body"]["title"] == "[peaktrade] test alert"
    assert srv.exchange.deadman_trigger is not None and not srv.exchange.orders  # armed, nothing placed


def _break(case: str, *, srv, path: Path, tmp_path: Path, monkeypatch, cleanup: list) -> tuple[str, ...]:
    """Break one condition; return extra CLI args."""
    ex = srv.exchange
    if case == "config":
        path.write_text("".join(ln for ln in path.read_text().splitlines(True) if not ln.startswith("max_order_notional")))
    elif case == "credentials":
        monkeypatch.delenv("KRAKEN_API_SECRET")
    elif case == "venue":
        ex.set_status("maintenance")
    elif case == "clock_skew":
        monkeypatch.setattr(ex, "_anchor_sim", ex._anchor_sim - 600)
    elif case == "account":
        ex.faults.add(Fault("http_error", frozenset({"BalanceEx", "Balance"}), count=8, status=403))
    elif case == "orders_positions":
        ex.set_balances({"XXBT": 0.5})
    elif case == "dead_man_switch":
        ex.faults.add(Fault("http_error", frozenset({"CancelAllOrdersAfter"}), count=8, status=403))
    elif case == "kill_switch":
        KillSwitch(load_config(path).state_dir, "live").engage("incident drill")
    elif case == "state_writable":
        (tmp_path / "blocked").write_text("a file, not a directory")
        text = path.read_text()
        path.write_text(text.replace(f'dir = "{tmp_path / "runs"}"\n', f'dir = "{tmp_path / "blocked" / "runs"}"\n'))
    elif case == "session_lock":
        lock = SessionLock.for_session(load_config(path), "live", strategy="ma_crossover", symbol="BTC/USD",
                                       run_id="the-other-run")
        cleanup.append(lock.release)
    elif case == "alert":
        monkeypatch.setenv("PEAKTRADE_ALERT_URLS", "json://127.0.0.1:9/dead")
    elif case == "fresh_data":
        ex.faults.add(Fault("http_error", frozenset({"OHLC"}), count=8, status=403))
    elif case == "shadow_parity":
        return ("--strategy", "peek")
    return ()


#: Checks that do not run (skip, naming the failed one) when the broken check fails.
DEPENDENTS = {"account": {"orders_positions"},
              "venue": {"clock_skew", "account", "orders_positions", "dead_man_switch", "fresh_data", "shadow_parity"}, "fresh_data": {"shadow_parity"},
              "credentials": {"account", "orders_positions", "dead_man_switch"}}
BROKEN = [c for c in CHECKS if c != "withdrawal_permission"]


@pytest.mark.parametrize("case", BROKEN)
def test_readiness_when_one_condition_is_broken_then_only_its_check_fails_and_exit_1(cli, healthy, srv, tmp_path,
                                                                                     monkeypatch, request, case):
    cleanup: list = []
    extra = _break(case, srv=srv, path=healthy, tmp_path=tmp_path, monkeypatch=monkeypatch, cleanup=cleanup)
    for fn in cleanup:
        request.addfinalizer(fn)
    args = list(ARGS)
    if extra:
        args[args.index("--strategy") + 1] = extra[1]
    r = cli("--config", str(healthy), *args, "--json")
    assert r.exit_code == 1, r.stdout + r.stderr
    st = _statuses(r)
    assert [n for n, s in st.items() if s == "fail"] == [case], json.loads(r.stdout)["checks"]
    skipped = {n for n, s in st.items() if s == "skip"} - {"withdrawal_permission"}
    assert skipped == DEPENDENTS.get(case, set())
    assert not srv.exchange.orders


def test_readiness_text_when_a_check_fails_then_one_line_per_check_and_not_ready(cli, healthy, srv):
    srv.exchange.set_status("maintenance")
    r = cli("--config", str(healthy), *ARGS)
    assert r.exit_code == 1
    lines = r.stdout.splitlines()
    assert lines[0].startswith("live readiness of ma_crossover on BTC/USD 1m against the simulator stand-in")
    assert any(ln.split()[:2] == ["venue", "FAIL"] and "maintenance" in ln for ln in lines)
    assert lines[-1] == "NOT READY: venue"


def test_venue_client_when_config_and_env_point_elsewhere_then_still_the_live_venue(tmp_path, clean_env):
    # an attacker's config and environment: loopback as a live host and a simulator URL; no stand-in entered
    clean_env.setenv("PEAKTRADE__TESTNET__SIM_URL", "http://127.0.0.1:9")
    path = write_testnet_config(tmp_path, testnet={"sim_url": "http://127.0.0.1:9", "sim_hosts": ["sim.example"]})
    clean_env.setenv("PEAKTRADE__LIVE__HOSTS", '["evil.example", "api.kraken.com"]')
    cfg = load_config(path)
    assert "evil.example" in cfg.live.hosts
    client, where = venue_client(cfg)
    assert client.base_url == "https://api.kraken.com" and where == "live venue https://api.kraken.com"
    assert not client.simulator


def test_read_only_guard_when_any_order_or_unlisted_private_call_then_denied(tmp_path, clean_env):
    cfg = load_config(write_testnet_config(tmp_path))
    g = ReadOnlyGuard(cfg)
    assert g.check_endpoint("https://api.kraken.com/0/private/BalanceEx").allowed
    assert g.check_endpoint("https://api.kraken.com/0/private/CancelAllOrdersAfter").allowed
    for method in ("AddOrder", "EditOrder", "Withdraw", "CancelAll"):
        assert not g.check_endpoint(f"https://api.kraken.com/0/private/{method}").allowed, method
    assert not g.check_endpoint("http://api.kraken.com/0/private/BalanceEx").allowed  # not TLS
    assert not g.check_endpoint("https://127.0.0.1/0/private/BalanceEx").allowed
    assert not g.check_wire("AddOrder", symbol="BTC/USD", side="buy", amount=1.0).allowed
    with pytest.raises(ValueError, match="loopback"):
        ReadOnlyGuard(cfg, stand_in_host="api.kraken.com")


@pytest.mark.parametrize("url", ["https://api.kraken.com", "http://10.0.0.5:8080", "http://127.0.0.1:1/?x=1"])
def test_simulator_stand_in_when_url_is_not_loopback_then_refused(url):
    with pytest.raises(ValueError, match="stand-in url"), simulator_stand_in(url, api_key="k", api_secret="s"):
        pass


# -- `peaktrade testnet smoke`: its alert step is the readiness alert check (item 2) -------------------------
def test_testnet_smoke_when_alert_urls_set_then_alert_step_delivers_a_test_alert(cli, srv, webhook, tmp_path,
                                                                                clean_env):
    clean_env.setenv("PEAKTRADE_ALERT_URLS", webhook.url("smoke-token"))
    cfg = write_testnet_config(tmp_path, testnet={"sim_url": srv.url})
    n0 = len(webhook.received)
    r = cli("--config", str(cfg), "testnet", "smoke", "--json")
    assert r.exit_code == 0, r.stdout + r.stderr
    alert = json.loads(r.stdout)["steps"][-1]
    assert alert == {"name": "alert", "status": "pass",
                     "reason": f"test alert delivered to json://127.0.0.1:{webhook.port}"}
    got = webhook.wait_for(n0 + 1)[n0]
    assert got["body"]["title"] == "[peaktrade] test alert" and got["path"] == "/hook/smoke-token"
    assert "smoke-token" not in r.stdout


def test_testnet_smoke_when_alert_destination_dead_then_alert_step_fails_and_exit_1(cli, srv, tmp_path, clean_env):
    clean_env.setenv("PEAKTRADE_ALERT_URLS", "json://127.0.0.1:9/dead-token")
    cfg = write_testnet_config(tmp_path, testnet={"sim_url": srv.url})
    r = cli("--config", str(cfg), "testnet", "smoke")
    assert r.exit_code == 1
    lines = {ln.split()[0]: ln for ln in r.stdout.splitlines() if ln.strip()}
    assert lines["alert"].split()[1] == "FAIL" and "json://127.0.0.1:9" in lines["alert"]
    assert lines["ping"].split()[1] == "PASS" and "dead-token" not in r.stdout


def test_readiness_client_when_an_order_is_attempted_then_refused_before_sending(healthy, srv):
    from peaktrade.adapters.errors import ExchangeError

    client, _where = venue_client(load_config(healthy))
    with pytest.raises(ExchangeError, match="read_only|readiness never trades"):
        client.create_order("BTC/USD", "buy", "market", 0.001, client_order_id="pt-readiness-1")
    assert client.sent_orders == 0 and not srv.exchange.orders
