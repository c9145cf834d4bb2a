"""Testnet can never become live: live hosts come from the adapter's capabilities; a config naming one
as a testnet host or simulator URL does not load; the same rule holds at the request boundary for code
that skips config validation; a base URL with ``?`` / ``#`` cannot hide a private request (issue 9, 1 & 11)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from safety_helpers import ALL_LIMITS
from wire_helpers import CLI_WITH_LOOKUP_LOG, record_lookups, start_listener, stop_listener

from peaktrade import config as config_mod
from peaktrade.adapters.errors import EndpointDenied
from peaktrade.adapters.hosts import live_venue_of, sim_url_problem
from peaktrade.adapters.kraken import KRAKEN_CAPABILITIES, KrakenClient
from peaktrade.config import Config, load_config
from peaktrade.errors import ConfigError
from peaktrade.live.testnet import build_client
from peaktrade.safety import SafetyGuard

LIVE_KEY = "LIVE-KEY-must-never-leave"
LIVE_SECRET = "TElWRS1TRUNSRVQtbXVzdC1uZXZlci1sZWF2ZS0wMTIzNDU2Nzg5"  # base64
OVERRIDES = {
    "PEAKTRADE__SAFETY__TESTNET_HOSTS": ('["api.kraken.com"]', "safety.testnet_hosts = 'api.kraken.com'"),
    "PEAKTRADE__TESTNET__MODE": ("kraken-sim", None),
    "PEAKTRADE__TESTNET__SIM_URL": ("https://api.kraken.com", "testnet.sim_url = 'https://api.kraken.com'"),
}


@pytest.fixture
def listener():
    lst = start_listener()
    yield lst
    stop_listener(lst)


def test_capabilities_when_asked_then_kraken_live_hosts_cover_api_futures_and_subdomains():
    assert set(KRAKEN_CAPABILITIES.live_hosts) >= {"api.kraken.com", "futures.kraken.com", "*.kraken.com"}
    for host in ("api.kraken.com", "futures.kraken.com", "demo-futures.kraken.com", "API.Kraken.com.", "kraken.com"):
        assert live_venue_of(host) == "kraken", host
    for host in ("127.0.0.1", "localhost", "kraken.com.evil.example", "notkraken.com"):
        assert live_venue_of(host) is None, host


@pytest.mark.parametrize("var", ["PEAKTRADE__SAFETY__TESTNET_HOSTS", "PEAKTRADE__TESTNET__SIM_URL"])
def test_load_config_when_env_override_names_a_live_host_then_one_line_error_naming_key_and_value(make_cfg,
                                                                                                   clean_env, var):
    make_cfg(risk=ALL_LIMITS)
    value, named = OVERRIDES[var]
    clean_env.setenv(var, value)
    with pytest.raises(ConfigError) as ei:
        load_config()
    msg = str(ei.value)
    assert "\n" not in msg and named in msg and "live" in msg and "environment" in msg, msg


@pytest.mark.parametrize("section, line, named", [
    ("safety", 'testnet_hosts = ["127.0.0.1", "api.kraken.com"]', "safety.testnet_hosts = 'api.kraken.com'"),
    ("safety", 'testnet_hosts = ["futures.kraken.com"]', "safety.testnet_hosts = 'futures.kraken.com'"),
    ("testnet", 'sim_url = "https://api.kraken.com"', "testnet.sim_url = 'https://api.kraken.com'"),
    ("testnet", 'sim_url = "http://ws-auth.kraken.com:80"', "testnet.sim_url = 'http://ws-auth.kraken.com:80'"),
    ("testnet", 'sim_url = "http://10.1.2.3:8765"', "testnet.sim_url = 'http://10.1.2.3:8765'"),
    ("testnet", 'sim_url = "http://127.0.0.1:8765?x=/0/private/"', "testnet.sim_url = "),
    ("testnet", 'sim_url = "http://127.0.0.1:8765#frag"', "testnet.sim_url = "),
    ("testnet", 'sim_hosts = ["api.kraken.com"]\nsim_url = "https://api.kraken.com"',
     "testnet.sim_hosts = 'api.kraken.com'"),
])
def test_load_config_when_file_names_live_or_unsafe_endpoint_then_one_line_error(tmp_path, clean_env, section, line,
                                                                                 named):
    path = tmp_path / "cfg.toml"
    path.write_text(f"[{section}]\n{line}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as ei:
        load_config(path)
    msg = str(ei.value)
    assert "\n" not in msg and named in msg and str(path) in msg, msg


def test_load_config_when_sim_host_named_explicitly_and_not_live_then_non_loopback_sim_allowed(tmp_path, clean_env):
    path = tmp_path / "cfg.toml"
    path.write_text('[testnet]\nsim_hosts = ["sim.lab.internal"]\nsim_url = "http://sim.lab.internal:8765"\n')
    cfg = load_config(path)
    assert cfg.testnet.sim_url == "http://sim.lab.internal:8765"
    assert SafetyGuard.from_config("testnet", cfg, executor_kind="exchange").check_endpoint(
        "http://sim.lab.internal:8765/0/private/Balance").allowed
    for url in ("http://127.0.0.1:1", "http://[::1]:2", "http://localhost:3", "http://127.9.9.9:4"):
        assert sim_url_problem(url) is None, url


def test_config_when_constructed_in_python_then_same_rules_apply():
    with pytest.raises(ValueError, match="testnet.sim_url = 'https://api.kraken.com' is refused"):
        config_mod.TestnetConfig(sim_url="https://api.kraken.com")
    cfg = Config()
    with pytest.raises(ValueError, match="safety.testnet_hosts = 'api.kraken.com' is refused"):
        cfg.safety.testnet_hosts = ["api.kraken.com"]
    with pytest.raises(ValueError, match="is refused"):
        cfg.testnet.sim_url = "https://api.kraken.com"


def test_orchestrate_cli_when_three_overrides_point_testnet_at_kraken_then_refused_and_nothing_sent(
        make_cfg, clean_env, tmp_path):
    """The issue's attack, as a user runs it: a separate process, the real CLI, real credentials set.
    The child records every name lookup (and resolves none but loopback, so nothing can leave)."""
    make_cfg(risk=ALL_LIMITS)
    env = dict(os.environ)
    env.update({k: v for k, (v, _) in OVERRIDES.items()})
    env.update({"KRAKEN_API_KEY": LIVE_KEY, "KRAKEN_API_SECRET": LIVE_SECRET, "LOOKUP_LOG": str(tmp_path / "dns"),
                "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/m.db"})
    r = subprocess.run([sys.executable, "-c", CLI_WITH_LOOKUP_LOG, "testnet", "orchestrate", "--profile",
                        "sma-btc-1m", "--catch-up", "3", "--max-bars", "1", "--warmup", "30", "--duration", "5"],
                       env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr, r.stderr
    assert "safety.testnet_hosts = 'api.kraken.com' is refused" in r.stderr
    lookups = (tmp_path / "dns").read_text().split() if (tmp_path / "dns").exists() else []
    assert not [h for h in lookups if "kraken" in h], lookups  # not one attempt to reach Kraken
    assert LIVE_SECRET not in r.stdout + r.stderr and LIVE_KEY not in r.stdout + r.stderr


def test_build_client_when_config_validation_bypassed_then_refused_at_construction(make_cfg, clean_env):
    cfg = make_cfg(risk=ALL_LIMITS)
    bypass = cfg.model_copy(update={"testnet": cfg.testnet.model_copy(
        update={"mode": "kraken-sim", "sim_url": "https://api.kraken.com"})})  # model_copy does not validate
    guard = SafetyGuard("testnet", executor_kind="exchange", testnet_hosts=["api.kraken.com"])
    with pytest.raises(EndpointDenied, match="api.kraken.com is a live kraken host"):
        build_client(bypass, guard=guard, mode="kraken-sim")


def test_request_boundary_when_guard_built_with_live_testnet_host_then_kraken_gets_no_private_call(clean_env):
    """Skip config validation altogether: a guard told api.kraken.com is a testnet host, a client at Kraken's
    URL with live credentials. Nothing but validate-only orders may leave, whichever code path builds them."""
    lookups = record_lookups(clean_env)
    guard = SafetyGuard("testnet", executor_kind="exchange", testnet_hosts=["api.kraken.com", "127.0.0.1"])
    c = KrakenClient(guard=guard, api_key=LIVE_KEY, api_secret=LIVE_SECRET, rate_limit=False, timeout_ms=2000)
    assert c.validate_only  # a live host is never a testnet host
    # raw ccxt calls (no markets needed, so no public request either): no validate flag, not via create_order
    for call in (c.fetch_balance, c.fetch_open_orders,
                 lambda: c._ex.private_post_addorder({"pair": "XXBTZUSD", "type": "buy", "ordertype": "market",
                                                      "volume": "0.001"}),
                 lambda: c._ex.private_post_balanceex()):
        with pytest.raises(EndpointDenied, match="refused before sending"):
            call()
    assert lookups == []  # refused before any connection was even attempted
    denied = [d for d in guard.decisions if not d.allowed]
    assert denied and all("api.kraken.com" in d.reason or "validate" in d.reason for d in denied)


@pytest.mark.parametrize("suffix", ["?", "?x=1", "#", "#/0/public/Time", "?a#b"])
def test_client_when_base_url_has_query_or_fragment_then_refused_at_construction(suffix):
    with pytest.raises(EndpointDenied, match=r"contains '\?' or '#'"):
        KrakenClient(guard=SafetyGuard("testnet", executor_kind="exchange"), base_url="http://127.0.0.1:9" + suffix)


@pytest.mark.parametrize("suffix", ["?x=", "#"])
def test_transport_when_private_url_hides_behind_query_or_fragment_then_checked_and_refused(clean_env, listener,
                                                                                            suffix):
    """A base URL changed after construction (ccxt's urls are plain dicts): the private path now sits after
    ``?`` / ``#``; the transport still sees a private request and refuses it before sending."""
    guard = SafetyGuard("paper", executor_kind="paper")  # paper: no private request may leave at all
    c = KrakenClient(guard=guard, base_url=listener.url, api_key="k", api_secret="c2VjcmV0", rate_limit=False)
    c._ex.urls["api"]["private"] = listener.url + suffix
    c._ex.urls["api"]["public"] = listener.url + suffix
    with pytest.raises(EndpointDenied):
        c._ex.fetch_balance()
    with pytest.raises(EndpointDenied):
        c._ex.private_post_addorder({"pair": "XXBTZUSD", "type": "buy", "ordertype": "market", "volume": "1"})
    assert listener.requests == []
    assert any(not d.allowed and d.kind == "endpoint" for d in guard.decisions)


def test_load_config_when_a_configured_live_host_is_also_a_testnet_or_sim_host_then_refused(tmp_path, clean_env):
    path = tmp_path / "cfg.toml"
    path.write_text('[live]\nhosts = ["api.kraken.com", "gw.example.net"]\n'
                    '[safety]\ntestnet_hosts = ["127.0.0.1", "gw.example.net"]\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="safety.testnet_hosts = 'gw.example.net' is refused: .*\\[live\\] hosts"):
        load_config(path)
    guard = SafetyGuard("testnet", executor_kind="exchange", testnet_hosts=["gw.example.net"],
                        live_hosts=["gw.example.net"])
    assert not guard.check_endpoint("https://gw.example.net/0/private/BalanceEx").allowed


@pytest.mark.parametrize("host", ["api%2ekraken.com", "%61pi%2Ekraken%2Ecom", "ａｐｉ。ｋｒａｋｅｎ。ｃｏｍ", "API.KRAKEN.COM."])
def test_live_venue_of_when_host_is_percent_encoded_or_unicode_then_still_the_live_host(host):
    """HTTP clients decode %-escapes in a host (requests sends https://api%2ekraken.com to api.kraken.com)."""
    assert live_venue_of(host) == "kraken"


@pytest.mark.parametrize("line, named", [
    ('[testnet]\nsim_hosts = ["api%2ekraken%2ecom"]\nsim_url = "https://api%2ekraken%2ecom"',
     "testnet.sim_hosts = 'api%2ekraken%2ecom'"),
    ('[safety]\ntestnet_hosts = ["127.0.0.1", "api%2ekraken%2ecom"]', "safety.testnet_hosts = 'api%2ekraken%2ecom'"),
    ('[testnet]\nsim_hosts = ["sim.lab"]\nsim_url = "http://sim%2elab:8765"', "testnet.sim_url = 'http://sim%2elab:8765'"),
])
def test_load_config_when_a_live_host_is_percent_encoded_then_refused_naming_key_and_value(tmp_path, clean_env, line,
                                                                                           named):
    path = tmp_path / "cfg.toml"
    path.write_text(line + "\n", encoding="utf-8")
    with pytest.raises(ConfigError) as ei:
        load_config(path)
    assert "\n" not in str(ei.value) and named in str(ei.value), str(ei.value)


def test_request_boundary_when_base_url_percent_encodes_kraken_then_no_order_leaves(clean_env, listener):
    """Code that skips config validation: a guard told ``api%2ekraken.com`` is a testnet host, a client whose
    base URL spells Kraken with a %-escape. requests would send it to api.kraken.com, so it is refused at
    construction, and at the transport for a URL changed afterwards."""
    lookups = record_lookups(clean_env)
    guard = SafetyGuard("testnet", executor_kind="exchange", testnet_hosts=["127.0.0.1", "api%2ekraken.com"])
    with pytest.raises(EndpointDenied, match="percent-encoded"):
        KrakenClient(guard=guard, base_url="https://api%2ekraken.com", api_key="k", api_secret="c2VjcmV0")
    c = KrakenClient(guard=guard, base_url=listener.url, api_key="k", api_secret="c2VjcmV0", rate_limit=False)
    assert not c.validate_only
    c._ex.urls["api"]["private"] = "https://api%2ekraken.com"
    with pytest.raises(EndpointDenied, match="api.kraken.com is a live kraken host"):
        c._ex.private_post_addorder({"pair": "XXBTZUSD", "type": "buy", "ordertype": "market", "volume": "1"})
    assert not [h for h in lookups if "kraken" in h], lookups


@pytest.mark.parametrize("var", ["PEAKTRADE__SAFETY__TESTNET_HOSTS", "PEAKTRADE__TESTNET__SIM_URL"])
def test_load_config_when_env_override_names_a_live_host_then_error_names_the_variable(make_cfg, clean_env, var):
    """The one line says which variable to unset, not only which key it set."""
    make_cfg(risk=ALL_LIMITS)
    clean_env.setenv(var, OVERRIDES[var][0])
    with pytest.raises(ConfigError) as ei:
        load_config()
    assert var in str(ei.value) and "\n" not in str(ei.value), str(ei.value)
