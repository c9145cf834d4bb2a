"""``peaktrade live readiness``: the preliminary check list of a live session (docs/safety.md).

Every check passes, fails or is skipped, with a reason; readiness passes when none fails. The checks read the
live account through a :class:`~peaktrade.safety.ReadOnlyGuard` client (reads and the dead-man switch only:
it can never place an order) with the live credentials, at the venue's own URL: there is no setting that
points it elsewhere. A test stands the local simulator in for the venue with :func:`simulator_stand_in`, a
context manager that only code in the process can enter (no config key, no environment variable); the
stand-in must be a loopback URL, gets the simulator's credentials (never the live ones) and is named in every
report.

The steps shared with ``peaktrade testnet smoke`` (clock skew, the dead-man switch, a test alert, the
pass/fail/skip runner) are defined here once.
"""

from __future__ import annotations

import math
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from peaktrade.errors import PeakTradeError

if TYPE_CHECKING:
    from peaktrade.config import Config

#: The checks, in the order they run.
CHECKS = ("config", "credentials", "withdrawal_permission", "venue", "clock_skew", "account", "orders_positions",
          "dead_man_switch", "kill_switch", "state_writable", "session_lock", "alert", "fresh_data", "shadow_parity")
#: Recent completed bars fetched for the data and shadow checks.
RECENT_BARS = 300


class ReadinessError(PeakTradeError):
    """A readiness check failed (the message says why)."""


class Skip(Exception):  # noqa: N818 — a control-flow signal, not an error
    """A check that does not apply here (its reason is the message)."""


@dataclass(frozen=True)
class CheckResult:
    """One check (or smoke step): ``status`` is ``pass``, ``fail`` or ``skip``; ``reason`` says why."""

    name: str
    status: str
    reason: str


def run_check(name: str, fn: Callable[[], str]) -> CheckResult:
    """Run ``fn``: its return is the pass reason; :class:`Skip` skips; any other exception fails (never raises)."""
    try:
        return CheckResult(name, "pass", fn())
    except Skip as e:
        return CheckResult(name, "skip", str(e))
    except Exception as e:  # noqa: BLE001 — every check is reported; the next one still runs
        return CheckResult(name, "fail", f"{type(e).__name__}: {e}" if not isinstance(e, ReadinessError) else str(e))


# -- steps shared with `peaktrade testnet smoke` -----------------------------------------------------------
def clock_skew(client: Any) -> float:
    """Return venue clock minus ours, in seconds (Kraken reports whole seconds)."""
    t0 = time.time()
    server = client.fetch_time() / 1000.0
    return server - (t0 + time.time()) / 2


def arm_dead_man_switch(client: Any, timeout: float) -> str:
    """Arm the venue's dead-man switch for ``timeout`` seconds; :class:`Skip` when the venue has none."""
    from peaktrade.safety import DeadManSwitch

    if not DeadManSwitch.supported(client):
        raise Skip("the venue has no dead-man switch")
    res = client.cancel_all_orders_after(timeout)
    if res.get("trigger_time") in (None, "0"):
        raise ReadinessError(f"not armed: the venue answered {res}")
    return f"armed for {timeout:g} s (trigger {res['trigger_time']})"


def send_test_alert(config: Config) -> str:
    """Send the test alert of ``peaktrade alerts test`` to every destination; :class:`Skip` when none is set."""
    from peaktrade.alerts import destinations_from_config, send_test

    dests = destinations_from_config(config)
    if not dests:
        raise Skip("no alert destinations: PEAKTRADE_ALERT_URLS is not set (see docs/monitoring.md)")
    results = send_test(dests, timeout=config.alerts.timeout_seconds)
    bad = [r for r in results if not r.ok]
    if bad:
        raise ReadinessError("test alert not delivered to " + "; ".join(f"{r.destination}: {r.error}" for r in bad))
    return f"test alert delivered to {', '.join(r.destination for r in results)}"


# -- the venue: the live URL, or a simulator stood in by code (tests) ------------------------------------
@dataclass(frozen=True)
class _StandIn:
    url: str
    api_key: str
    api_secret: str


_STAND_IN: dict[str, _StandIn] = {}
_STAND_IN_LOCK = threading.Lock()


@contextmanager
def simulator_stand_in(url: str, *, api_key: str, api_secret: str) -> Iterator[None]:
    """Test only: for the ``with`` block, readiness reads the simulator at ``url`` instead of the live venue.

    Only code can enter it (no config key or environment variable reaches it). ``url`` must be a loopback
    URL (never a live host, whatever ``[testnet] sim_hosts`` says); the client is a simulator client with
    these (simulator) credentials, so the live credentials never leave for it, and its guard can reach no
    other host. Every check reports against ``simulator stand-in <url>``.
    """
    from peaktrade.adapters.hosts import sim_url_problem

    bad = sim_url_problem(url)
    if bad is not None:
        raise ValueError(f"stand-in url {url!r} is invalid: {bad}")
    with _STAND_IN_LOCK:
        if _STAND_IN:
            raise RuntimeError("a simulator already stands in for the venue")
        _STAND_IN["kraken"] = _StandIn(url.rstrip("/"), api_key, api_secret)
    try:
        yield
    finally:
        with _STAND_IN_LOCK:
            _STAND_IN.clear()


def stand_in_venue() -> _StandIn | None:
    """Return the simulator standing in for the venue (url, simulator credentials), None outside the test block."""
    with _STAND_IN_LOCK:
        return _STAND_IN.get("kraken")


def venue_client(config: Config) -> tuple[Any, str]:
    """Return ``(client, where)``: a read-only client of the live venue (or of the stand-in) and a label."""
    from peaktrade.adapters.hosts import url_host
    from peaktrade.adapters.kraken import KrakenClient
    from peaktrade.safety import ReadOnlyGuard

    stand = stand_in_venue()
    if stand is not None:
        guard = ReadOnlyGuard(config, stand_in_host=url_host(stand.url))
        client = KrakenClient(guard=guard, base_url=stand.url, api_key=stand.api_key, api_secret=stand.api_secret,
                              simulator=True, rate_limit=False)
        return client, f"simulator stand-in {stand.url} (test only)"
    client = KrakenClient(guard=ReadOnlyGuard(config), api_key=config.secrets.kraken_api_key,
                          api_secret=config.secrets.kraken_api_secret)
    return client, f"live venue {client.base_url}"


# -- the checks ----------------------------------------------------------------------------------------
@dataclass
class ReadinessReport:
    """What :func:`live_readiness` found: where it looked and every check."""

    venue: str
    checks: list[CheckResult]

    @property
    def passed(self) -> bool:
        return not any(c.status == "fail" for c in self.checks)

    def to_dict(self) -> dict[str, Any]:
        return {"venue": self.venue, "passed": self.passed, "checks": [c.__dict__ for c in self.checks]}


def _writable(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile(prefix=".readiness-", dir=directory):  # created and removed: a probe, not a file
        pass


def live_readiness(config: Config, *, strategy: str, symbol: str, timeframe: str,
                   client: Any = None, resuming: Any = None) -> ReadinessReport:
    """Run every readiness check of a live session of ``strategy`` on ``symbol`` ``timeframe``.

    ``client`` (tests of this function only) must be a :class:`~peaktrade.safety.ReadOnlyGuard` client;
    default :func:`venue_client`. Venue checks that depend on a failed one are skipped, naming it.
    ``resuming``: the :class:`~peaktrade.live.resume.RunState` of a crashed live run being resumed: its ledger is
    not flat, so the position is left to the resume's reconcile (books against the venue's balances, fail closed,
    before any order) and only open orders that are not the run's fail ``orders_positions``.
    """
    import pandas as pd

    from peaktrade.safety import ReadOnlyGuard, SessionLock, TradingEnvironment, read_holder
    from peaktrade.safety._limits import account_id
    from peaktrade.safety._live import local_readiness
    from peaktrade.safety._lock import describe_holder
    from peaktrade.strategies.registry import get_strategy

    where = "venue not built"
    build_error: str | None = None
    if client is None:
        try:
            client, where = venue_client(config)
        except Exception as e:  # noqa: BLE001 — reported by the venue check
            build_error = f"{type(e).__name__}: {e}"
    elif not isinstance(getattr(client, "guard", None), ReadOnlyGuard):
        raise ReadinessError("the client given to live_readiness has no ReadOnlyGuard: readiness never trades")
    else:
        where = f"client {client.base_url}"
    local = {i.name: i for i in local_readiness(config).items}
    facts: dict[str, Any] = {}
    results: list[CheckResult] = []

    def status(name: str) -> str | None:
        return next((c.status for c in results if c.name == name), None)

    def needs(*names: str) -> None:
        for n in names:
            if status(n) != "pass":
                raise Skip(f"not checked: {n} did not pass")

    def config_check() -> str:
        item = local["risk_limits_configured"]
        if not item.ok:
            raise ReadinessError(f"{config.source}: {item.detail}")
        return f"{config.source} valid (hash {config.config_hash()[:8]}), {item.detail}"

    def credentials() -> str:
        key, secret = config.secrets.kraken_api_key, config.secrets.kraken_api_secret
        missing = [n for n, v in (("KRAKEN_API_KEY", key), ("KRAKEN_API_SECRET", secret))
                   if v is None or not v.get_secret_value()]
        if missing:
            raise ReadinessError(f"{', '.join(missing)} not set (environment or the project's .env)")
        return "KRAKEN_API_KEY and KRAKEN_API_SECRET set"

    def withdrawal() -> str:
        venue = getattr(getattr(client, "capabilities", None), "venue", "the venue")
        raise Skip(f"{venue}'s API does not report a key's permissions: check in the {venue} web UI that the key "
                   "has no withdrawal permission")

    def venue() -> str:
        if build_error is not None:
            raise ReadinessError(f"client not built: {build_error}")
        st = client.fetch_status().get("status")
        if st not in (None, "ok"):
            raise ReadinessError(f"{where}: venue status is {st!r}")
        return f"{where}: status {st or 'ok'}"

    def skew() -> str:
        needs("venue")
        s = clock_skew(client)
        limit = float(config.live.max_clock_skew_seconds)
        if not abs(s) <= limit:
            raise ReadinessError(f"clock skew {s:+.2f} s exceeds [live] max_clock_skew_seconds {limit:g}")
        return f"clock skew {s:+.2f} s within {limit:g} s"

    def account() -> str:
        needs("venue", "credentials")
        markets = client.load_markets()
        market = markets.get(symbol)
        if market is None:
            raise ReadinessError(f"the venue lists no market {symbol}")
        bal = client.fetch_balance()
        orders = client.fetch_open_orders()
        facts.update(market=market, balance=bal, open_orders=orders)
        return f"{len(markets)} markets ({symbol} listed), {len(bal.total)} balances, {len(orders)} open orders read"

    def orders_positions() -> str:
        needs("account")
        # the ledger of a live session that starts now is flat with no order: whatever the account holds in
        # this market would be traded around blindly
        mkt, orders = facts["market"], facts["open_orders"]
        held = float(facts["balance"].total.get(mkt.base, 0.0) or 0.0)
        dust = float(mkt.amount_min or 0.0)
        if resuming is not None:  # the run's own orders and position: its reconcile checks them against its books
            orders = [o for o in orders if o.client_order_id not in resuming.orders]
            if orders:
                ids = ", ".join(str(o.client_order_id or o.id) for o in orders[:3])
                raise ReadinessError(f"{len(orders)} open order(s) run {resuming.run_id} did not place ({ids})")
            return (f"no open orders but run {resuming.run_id}'s; {mkt.base} {held:g}: checked against its books "
                    "before any order")
        problems = []
        if orders:
            ids = ", ".join(str(o.client_order_id or o.id) for o in orders[:3])
            problems.append(f"{len(orders)} open order(s) the ledger does not hold ({ids})")
        if abs(held) > dust:
            problems.append(f"a position of {held:g} {mkt.base} the ledger does not hold (ledger flat)")
        if problems:
            raise ReadinessError("; ".join(problems))
        return f"no open orders; {mkt.base} {held:g} (≤ {dust:g} dust): matches the flat ledger"

    def deadman() -> str:
        needs("venue", "credentials")
        return arm_dead_man_switch(client, config.safety.deadman_timeout)

    def kill_switch() -> str:
        item = local["kill_switch_off"]
        if not item.ok:
            raise ReadinessError(f"kill switch {item.detail}")
        return f"kill switch {item.detail}"

    def state_writable() -> str:
        if not config.safety.audit:
            raise ReadinessError("[safety] audit = false: a live session needs its audit trail")
        for d in (config.state_dir, config.state_dir / "locks", config.runs_dir):
            _writable(Path(d))
        from peaktrade.safety._audit import AUDIT_FILE

        with open(config.state_dir / AUDIT_FILE, "a", encoding="utf-8"):
            pass
        return f"state dir {config.state_dir} (kill switch, locks, audit), runs dir {config.runs_dir} writable"

    def session_lock() -> str:
        name = get_strategy(strategy, config=config).name
        facts["strategy"] = name
        path = SessionLock.path_for(config.state_dir, environment="live",
                                    account=account_id(config, TradingEnvironment.LIVE), strategy=name, symbol=symbol)
        try:
            holder = read_holder(path)
        except NotADirectoryError:
            holder = None  # no lock can exist there (state_writable reports the directory)
        if holder is not None:
            raise ReadinessError(f"another instance holds the session lock ({describe_holder(holder)}): {path}")
        return f"no instance holds {path.name}"

    def alert() -> str:
        return send_test_alert(config)

    def fresh_data() -> str:
        from peaktrade.live.feeds import bars_frame

        needs("venue")
        tf = pd.Timedelta(timeframe)
        now_ms = client.fetch_time()
        rows = client.fetch_ohlcv(symbol, timeframe, limit=RECENT_BARS + 1)
        done = [r for r in rows if r[0] + tf / pd.Timedelta(milliseconds=1) <= now_ms]
        if not done:
            raise ReadinessError(f"the venue returned no completed {symbol} {timeframe} bar")
        bars = bars_frame(done)
        facts["bars"] = bars
        age = (now_ms - done[-1][0]) / 1000.0 - tf.total_seconds()
        if age > 2 * tf.total_seconds():
            raise ReadinessError(f"last completed {timeframe} bar closed {age:.0f} s ago (> 2 bars): data is stale")
        mid = client.fetch_ticker(symbol).mid
        limit = config.risk.max_price_deviation
        close = float(bars["close"].iloc[-1])
        if limit is None or not mid or not math.isfinite(mid):
            raise ReadinessError(f"no collar to check against (max_price_deviation {limit}, mid {mid})")
        dev = abs(close / mid - 1.0)
        if dev > limit:
            raise ReadinessError(f"last close {close:g} deviates {dev:.2%} from the venue's mid {mid:g} "
                                 f"> [risk] max_price_deviation {limit:.2%}")
        return (f"{len(bars)} completed bars, last closed {age:.0f} s ago; close {close:g} within {dev:.2%} of mid "
                f"{mid:g} (collar {limit:.2%})")

    def shadow_parity() -> str:
        from peaktrade.backtest import run
        from peaktrade.backtest.engine import resolve_params
        from peaktrade.live.replay import paper_replay
        from peaktrade.strategies.stepping import RollingSignalStepper

        needs("fresh_data")
        bars = facts["bars"]
        strat = get_strategy(strategy, config=config)
        bt = run(strat, bars, config=config)
        # signals as a live or shadow session makes them: each completed bar pushed to the rolling stepper
        resolved, _stops = resolve_params(strat, {})
        warm = len(bars) // 2
        stepper = RollingSignalStepper(strat, resolved, history=bars.iloc[:warm])
        diff = []
        for i, (ts, row) in enumerate(bars.iloc[warm:].iterrows(), start=warm):
            e, x, _f = stepper.push(ts, row["open"], row["high"], row["low"], row["close"], row["volume"])
            if (e, x) != (bool(bt.entries.iloc[i]), bool(bt.exits.iloc[i])):
                diff.append(ts)
        if diff:
            raise ReadinessError(f"the shadow run's signals differ from the backtest's on {len(diff)} of "
                                 f"{len(bars) - warm} recent bars (first {diff[0]:%Y-%m-%d %H:%M}): the strategy "
                                 "does not trade live as it tests (lookahead?)")
        # and orders through the execution pipeline as the backtest fills them
        pr = paper_replay(strat, bars, config=config)
        a, b = bt.trades, pr.trades
        same = len(a) == len(b) and all((a[c].to_numpy() == b[c].to_numpy()).all()
                                         for c in ("direction", "entry_idx", "exit_idx"))
        ea, eb = float(bt.equity.iloc[-1]), float(pr.equity.iloc[-1])
        if not same or not math.isclose(ea, eb, rel_tol=1e-9):
            raise ReadinessError(f"the paper replay made {len(b)} trades (equity {eb:,.6f}), the backtest {len(a)} "
                                 f"(equity {ea:,.6f})")
        return (f"signals identical on {len(bars) - warm} recent bars stepped as live; {len(a)} trades and equity "
                f"{ea:,.2f} identical to the backtest")

    for name, fn in (("config", config_check), ("credentials", credentials), ("withdrawal_permission", withdrawal),
                     ("venue", venue), ("clock_skew", skew), ("account", account),
                     ("orders_positions", orders_positions), ("dead_man_switch", deadman),
                     ("kill_switch", kill_switch), ("state_writable", state_writable), ("session_lock", session_lock),
                     ("alert", alert), ("fresh_data", fresh_data), ("shadow_parity", shadow_parity)):
        results.append(run_check(name, fn))
    return ReadinessReport(where, results)


__all__ = ["CHECKS", "CheckResult", "ReadinessError", "ReadinessReport", "Skip", "arm_dead_man_switch", "clock_skew",
           "live_readiness", "run_check", "send_test_alert", "simulator_stand_in", "stand_in_venue",
           "venue_client"]
