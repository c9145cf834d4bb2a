"""Simulator credentials are never the live credentials (issue 9, item 2): in kraken-sim mode requests
are signed with PEAKTRADE_SIM_API_* (or the documented defaults), never KRAKEN_API_*, checked on the
wire by a real listener at sim_url; the simulator takes its secret from the environment or a file,
never argv, and never prints the key or the secret (stdout, /_admin/state)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.request

import pytest
from safety_helpers import ALL_LIMITS

from peaktrade.adapters.errors import EndpointDenied
from peaktrade.adapters.kraken import KrakenClient
from peaktrade.safety import SafetyGuard
from peaktrade.sim import DEFAULT_SIM_API_KEY, DEFAULT_SIM_API_SECRET, api_sign

LIVE_KEY = "LIVE-KEY-must-never-leave"
LIVE_SECRET = "TElWRS1TRUNSRVQtbXVzdC1uZXZlci1sZWF2ZS0wMTIzNDU2Nzg5"


@pytest.fixture
def sim_capture():
    """The simulator at sim_url, accepting the sim *and* the live key pair (as a hostile listener would), with
    every private request's path, headers and raw body captured before it is authenticated."""
    from peaktrade.sim import SimExchange, serve_in_thread

    keys = {DEFAULT_SIM_API_KEY: DEFAULT_SIM_API_SECRET, "my-sim-key": MY_SIM_SECRET, LIVE_KEY: LIVE_SECRET}
    ex = SimExchange(keys=keys, seed=3, speed=0.0, tier="pro")
    captured: list[tuple[str, dict, bytes]] = []
    real = ex.authenticate

    def capture(method, uri_path, headers, body):
        captured.append((uri_path, dict(headers), bytes(body)))
        return real(method, uri_path, headers, body)

    ex.authenticate = capture
    with serve_in_thread(ex) as srv:
        srv.captured = captured
        yield srv


MY_SIM_SECRET = "bXktc2ltLXNlY3JldC0wMTIzNDU2Nzg5"


def _signed_with(path: str, headers: dict, body: bytes, secret: str) -> bool:
    text = body.decode()
    nonce = dict(p.split("=", 1) for p in text.split("&") if "=" in p).get("nonce", "")
    h = {k.lower(): v for k, v in headers.items()}
    return h.get("api-sign") == api_sign(path, text, nonce, secret)


@pytest.mark.parametrize("sim_env", [{}, {"PEAKTRADE_SIM_API_KEY": "my-sim-key",
                                          "PEAKTRADE_SIM_API_SECRET": MY_SIM_SECRET}])
def test_kraken_sim_mode_when_live_credentials_set_then_sim_url_never_gets_a_request_signed_with_them(
        cli, make_cfg, clean_env, sim_capture, tmp_path, sim_env):
    clean_env.setenv("KRAKEN_API_KEY", LIVE_KEY)
    clean_env.setenv("KRAKEN_API_SECRET", LIVE_SECRET)
    for k in ("PEAKTRADE_SIM_API_KEY", "PEAKTRADE_SIM_API_SECRET"):
        clean_env.delenv(k, raising=False)
    for k, v in sim_env.items():
        clean_env.setenv(k, v)
    make_cfg(risk=ALL_LIMITS, testnet={"mode": "kraken-sim", "sim_url": sim_capture.url},
             safety={"state_dir": str(tmp_path / "st")})
    r = cli("testnet", "ping")
    assert r.exit_code == 0, r
    assert cli("testnet", "smoke-order").exit_code == 0
    r = cli("testnet", "orchestrate", "--profile", "sma-btc-1m", "--catch-up", "30", "--max-bars", "1",
            "--warmup", "25", "--duration", "5")
    assert r.exit_code == 0 and "testnet run" in r.stdout, r
    methods = {p.rsplit("/", 1)[-1] for p, _, _ in sim_capture.captured}
    assert {"BalanceEx", "AddOrder"} <= methods, (methods, r)
    key = sim_env.get("PEAKTRADE_SIM_API_KEY", DEFAULT_SIM_API_KEY)
    secret = sim_env.get("PEAKTRADE_SIM_API_SECRET", DEFAULT_SIM_API_SECRET)
    for path, headers, body in sim_capture.captured:
        h = {k.lower(): v for k, v in headers.items()}
        assert h.get("api-key") == key != LIVE_KEY
        assert _signed_with(path, headers, body, secret) and not _signed_with(path, headers, body, LIVE_SECRET)


def test_client_when_live_credentials_given_for_simulator_or_non_live_host_then_refused(clean_env):
    clean_env.setenv("KRAKEN_API_KEY", LIVE_KEY)
    clean_env.setenv("KRAKEN_API_SECRET", LIVE_SECRET)
    guard = SafetyGuard("testnet", executor_kind="exchange")
    for kw in ({"simulator": True}, {}):
        with pytest.raises(EndpointDenied, match="live KRAKEN_API_\\* credentials") as ei:
            KrakenClient(guard=guard, base_url="http://127.0.0.1:9", api_key=LIVE_KEY, api_secret=LIVE_SECRET, **kw)
        assert LIVE_SECRET not in str(ei.value) and LIVE_KEY not in str(ei.value)
        with pytest.raises(EndpointDenied):
            KrakenClient(guard=guard, base_url="http://127.0.0.1:9", api_key="other", api_secret=LIVE_SECRET, **kw)
    # the live venue still gets them (validate-only in testnet)
    assert KrakenClient(guard=guard, api_key=LIVE_KEY, api_secret=LIVE_SECRET).validate_only


def test_sim_serve_when_secret_given_on_argv_then_refused_without_echoing_it(cli):
    r = cli("sim-exchange", "serve", "--port", "0", "--api-secret", "c2VjcmV0LW9uLWFyZ3Y=")
    assert r.exit_code == 2 and r.stderr.count("\n") == 1, r
    assert "never goes on the command line" in r.stderr and "c2VjcmV0LW9uLWFyZ3Y=" not in r.stdout + r.stderr


@pytest.mark.parametrize("how", ["env", "file"])
def test_sim_serve_when_running_then_key_and_secret_never_on_stdout_or_admin_state(tmp_path, how):
    key, secret = "sekrit-sim-key-42", "c2Vrcml0LXNpbS1zZWNyZXQtMDEyMzQ1Njc4OQ=="
    env = {k: v for k, v in os.environ.items() if not k.startswith("PEAKTRADE_SIM_")}
    env["PEAKTRADE_SIM_API_KEY"] = key
    args = ["sim-exchange", "serve", "--port", "0", "--bars", "synthetic:n=800", "--speed", "0"]
    if how == "env":
        env["PEAKTRADE_SIM_API_SECRET"] = secret
    else:
        (tmp_path / "secret").write_text(secret + "\n")
        args += ["--api-secret-file", str(tmp_path / "secret")]
    script = "import sys; from peaktrade.cli.main import main; sys.exit(main(sys.argv[1:]))"
    proc = subprocess.Popen([sys.executable, "-c", script, *args], stdout=subprocess.PIPE, text=True, env=env)
    try:
        lines = [proc.stdout.readline() for _ in range(3)]
        url = re.search(r"http://127\.0\.0\.1:\d+", lines[0]).group(0)
        import ccxt

        k = ccxt.kraken({"apiKey": key, "secret": secret, "enableRateLimit": False,
                         "urls": {"api": {"public": url, "private": url}}})
        assert "ZUSD" in k.private_post_balance()["result"]  # the simulator verifies with the secret it was given
        with urllib.request.urlopen(url + "/_admin/state", timeout=10) as r:
            state = r.read().decode()
        assert len(json.loads(state)["counters"]) == 1  # the key's counters are there, under a label
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        rest = proc.stdout.read()
        proc.stdout.close()
    shown = "".join(lines) + rest
    assert "ccxt.kraken(" in shown
    for value in (key, secret):
        assert value not in shown and value not in state
    assert secret not in " ".join(args)


def test_build_client_when_validate_mode_points_elsewhere_then_live_credentials_stay_home(make_cfg, clean_env):
    from peaktrade.live.testnet import build_client

    clean_env.setenv("KRAKEN_API_KEY", LIVE_KEY)
    clean_env.setenv("KRAKEN_API_SECRET", LIVE_SECRET)
    cfg = make_cfg(risk=ALL_LIMITS)
    assert cfg.secrets.kraken_api_secret.get_secret_value() == LIVE_SECRET
    guard = SafetyGuard("testnet", executor_kind="exchange")
    assert "credentials=none" in repr(build_client(cfg, guard=guard, mode="kraken-validate",
                                                   base_url="http://127.0.0.1:9"))
    assert "credentials=set" in repr(build_client(cfg, guard=guard, mode="kraken-validate"))  # Kraken itself


def test_client_when_live_credentials_come_from_the_project_dotenv_then_refused_for_a_simulator(tmp_path, clean_env):
    """``load_config`` reads KRAKEN_API_* from the project's ``.env`` too: a simulator client built by hand
    with them (``cfg.secrets``) is refused just as with the process environment's."""
    from peaktrade.config import load_config

    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.toml").write_text("", encoding="utf-8")
    (tmp_path / "pyproject.toml").write_text("", encoding="utf-8")
    (tmp_path / ".env").write_text(f"KRAKEN_API_KEY={LIVE_KEY}\nKRAKEN_API_SECRET='{LIVE_SECRET}'\n", encoding="utf-8")
    clean_env.chdir(tmp_path)
    cfg = load_config()
    assert cfg.secrets.kraken_api_secret.get_secret_value() == LIVE_SECRET
    with pytest.raises(EndpointDenied, match="live KRAKEN_API_\\* credentials") as ei:
        KrakenClient(guard=SafetyGuard("testnet", executor_kind="exchange"), base_url="http://127.0.0.1:9",
                     simulator=True, api_key=cfg.secrets.kraken_api_key, api_secret=cfg.secrets.kraken_api_secret)
    assert LIVE_SECRET not in str(ei.value) and LIVE_KEY not in str(ei.value)
