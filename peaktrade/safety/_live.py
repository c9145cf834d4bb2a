"""Live gates: live trading needs every one of them open, evaluated in this order.

1. ``live_enabled``  — ``[live] enabled = true`` in the config.
2. ``live_armed``    — the variable named by ``[live] arm_env`` (default ``PEAKTRADE_LIVE_ARMED``) is set
   in this process's environment (``os.environ``, not ``.env``, never a mapping a caller hands in) to
   the config hash (:func:`arm_value`), so a variable left in a shell from another config cannot arm
   this one.
3. ``confirm_token`` — ``--confirm LIVE-<first 8 of the config hash>`` (:func:`confirm_token`) on the
   command line.
4. ``readiness``     — kill switch off (the config's own persisted switch), every risk limit set, and
   the registered exchange readiness probe (:func:`register_readiness_probe`; ``peaktrade live run``
   registers the full ``peaktrade live readiness`` check list, :mod:`peaktrade.live.runner`), run here,
   saying the exchange is reachable, the clock skew is within ``[live] max_clock_skew_seconds``, balances
   are readable and, when the probe ran the check list, that none of its checks failed. A readiness report built by a caller is
   never accepted. The probe is run only when gates 1–3 are open and the local items passed (it
   touches the private API).

A gate that cannot be evaluated (an exception, a missing input) is closed. Every gate result is
recorded in the decision log.

An authorization cannot be forged or rebound: :func:`assert_live_allowed` registers each one it grants
under a random token, with the config hash it was granted for, and :func:`authorization_valid` (asked
again at use by the guard, for every private request and every order on the wire) accepts only a
registered token whose registered hash equals both the authorization's and the config's current hash.
A hand-built :class:`LiveAuthorization`, or one copied with ``dataclasses.replace(auth, config_hash=…)``,
is refused.

A **reduce-only** authorization (``assert_live_allowed(..., reduce_only=True)``: ``peaktrade safety flatten``) is
granted without requiring the kill switch off (flattening is what an engaged switch is for) and is registered as
reduce-only: every :class:`~peaktrade.safety.SafetyGuard` holding it enforces reduce-only on every order, in the
pipeline and at the wire, whatever else it was built with, and copying it with ``reduce_only=False`` invalidates it.
"""

from __future__ import annotations

import hashlib
import math
import os
import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from peaktrade.safety._audit import Clock, DecisionLog, iso, wall_clock
from peaktrade.safety._errors import LiveGateClosed

if TYPE_CHECKING:
    from peaktrade.config import Config
    from peaktrade.safety._kill_switch import KillSwitch

LIVE_GATES = ("live_enabled", "live_armed", "confirm_token", "readiness")
#: Items a readiness report must hold, all passed. The first two are evaluated locally.
READINESS_ITEMS = ("kill_switch_off", "risk_limits_configured", "exchange_reachable", "clock_skew",
                   "balances_readable")
#: Readiness checks a live gate passes when skipped: the venue cannot report them (Kraken does not say whether a key
#: may withdraw; the operator checks that in its web UI). Any other skipped check (no alerting, no dead-man switch…)
#: fails live readiness.
SKIP_ALLOWED = frozenset({"withdrawal_permission"})


@dataclass(frozen=True)
class _Grant:
    config_hash: str
    state_dir: str
    reduce_only: bool
    full: bool
    venue_host: str


#: token → what every authorization granted in this process was granted for (see the module docstring).
_GRANTED: dict[str, _Grant] = {}
_GRANTED_LOCK = threading.Lock()


@dataclass(frozen=True)
class GateResult:
    """One live gate: its name, whether it is open, and why (never a secret)."""

    name: str
    open: bool
    detail: str


@dataclass(frozen=True)
class ProbeResult:
    """Facts an exchange probe gathered; ``None`` means not measured (the item fails).

    The safety layer judges them: reachable must be True, ``|clock_skew_seconds|`` at most
    ``[live] max_clock_skew_seconds``, ``balances`` a mapping of finite numbers.
    """

    reachable: bool | None = None
    clock_skew_seconds: float | None = None
    balances: Mapping[str, float] | None = None
    detail: str = ""
    #: The full readiness check list (``(name, status, reason)``; ``peaktrade live readiness``), when the probe
    #: ran it: then any ``fail``, and any ``skip`` outside :data:`SKIP_ALLOWED`, fails the ``readiness_checks`` item.
    checks: tuple[tuple[str, str, str], ...] | None = None
    #: The venue URL the probe judged: the authorization is bound to its host (None: bound to no host, every live
    #: request is refused).
    venue: str | None = None


#: A readiness probe: called with the config, returns what it measured on the exchange.
ReadinessProbe = Callable[[Any], ProbeResult]


@dataclass(frozen=True)
class ReadinessItem:
    name: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class ReadinessReport:
    """Readiness items; :attr:`passed` only when every required item is present and ok."""

    items: tuple[ReadinessItem, ...] = ()

    def first_failure(self) -> ReadinessItem | None:
        """Return the first failed or missing required item (None when the report passed)."""
        names = {i.name for i in self.items}
        for name in READINESS_ITEMS:
            if name not in names:
                return ReadinessItem(name, False, "not evaluated")
        for item in self.items:
            if not item.ok:
                return item
        return None

    @property
    def passed(self) -> bool:
        return self.first_failure() is None

    def merged(self, other: ReadinessReport) -> ReadinessReport:
        return ReadinessReport(self.items + other.items)


@dataclass(frozen=True)
class LiveAuthorization:
    """Proof that every live gate was open for one config; only :func:`assert_live_allowed` makes one."""

    config_hash: str
    granted_at: str
    gates: tuple[GateResult, ...]
    token: str = field(default="", repr=False, compare=False)
    #: Granted for exposure-reducing orders only (``peaktrade safety flatten``): a guard holding it enforces it.
    reduce_only: bool = False
    #: The resolved absolute state dir (kill switch, ramp, session lock) the gates read.
    state_dir: str = ""
    #: The venue host readiness judged: the guard sends to no other host.
    venue_host: str = ""
    #: Whether the full readiness check list passed (``peaktrade live run``); otherwise the authorization is
    #: reduce-only whatever else it says.
    full: bool = False


def _grant(auth: LiveAuthorization | None) -> _Grant | None:
    if not isinstance(auth, LiveAuthorization) or not isinstance(auth.token, str):
        return None
    with _GRANTED_LOCK:
        return _GRANTED.get(auth.token)


def resolved_state_dir(config: Config) -> str:
    """Return the absolute, resolved state dir of ``config`` (``[safety] state_dir`` or the environment's)."""
    return str(Path(config.state_dir).expanduser().resolve())


def authorization_valid(auth: LiveAuthorization | None, config_hash: str | None, *,
                        state_dir: str | None = None) -> bool:
    """Return whether ``auth`` was granted by :func:`assert_live_allowed` in this process for ``config_hash`` (and,
    when given, for the resolved ``state_dir``: a moved state dir holds another kill switch and ramp)."""
    granted = _grant(auth)
    if granted is None or not config_hash:
        return False
    assert isinstance(auth, LiveAuthorization)
    return (granted.config_hash == auth.config_hash == config_hash
            and granted.reduce_only is (auth.reduce_only is True) and granted.full is (auth.full is True)
            and granted.state_dir == auth.state_dir and granted.venue_host == auth.venue_host
            and (state_dir is None or granted.state_dir == state_dir)
            and len(auth.gates) == len(LIVE_GATES) and all(g.open for g in auth.gates))


def authorization_reduce_only(auth: LiveAuthorization | None) -> bool:
    """Return whether ``auth`` is good for exposure-reducing orders only: granted reduce-only, or granted without the
    full readiness check list passing (unknown token: True, fail closed)."""
    if not isinstance(auth, LiveAuthorization):
        return False  # no authorization at all: nothing live passes anyway
    granted = _grant(auth)
    return granted is None or granted.reduce_only or not granted.full or auth.reduce_only is not False


def authorization_venue(auth: LiveAuthorization | None) -> str | None:
    """Return the venue host ``auth`` was granted for (None: unknown token or no host: nothing is reachable)."""
    granted = _grant(auth)
    return granted.venue_host or None if granted is not None else None


def live_binding(config: Config) -> str:
    """Return what arming and confirming bind to: the config hash and the resolved state dir (the kill switch, ramp
    and session lock the gates read), so a state dir moved by an environment variable closes gates 2 and 3."""
    return hashlib.sha256(f"{config.config_hash()}\0{resolved_state_dir(config)}".encode()).hexdigest()


def arm_value(config: Config) -> str:
    """Return the value the arming variable must hold for ``config``: :func:`live_binding` (config hash and state
    dir)."""
    return live_binding(config)


def confirm_token(config: Config) -> str:
    """Return the ``--confirm`` token for ``config``: ``LIVE-`` and the first 8 characters of :func:`live_binding`."""
    return f"LIVE-{live_binding(config)[:8]}"


_PROBE: dict[str, ReadinessProbe | None] = {"probe": None}


def register_readiness_probe(probe: ReadinessProbe | None) -> ReadinessProbe | None:
    """Set the probe the CLI hands to the readiness gate (an exchange adapter registers one); return the old."""
    old, _PROBE["probe"] = _PROBE["probe"], probe
    return old


def current_readiness_probe() -> ReadinessProbe | None:
    """Return the registered readiness probe (None: no live exchange adapter, readiness stays closed)."""
    return _PROBE["probe"]


def local_readiness(config: Config, *, kill_switch: KillSwitch | None = None,
                    reduce_only: bool = False) -> ReadinessReport:
    """Return the readiness items decided without the exchange: kill switch off, risk limits set.

    ``reduce_only`` (flatten): the kill switch may be engaged (the item passes, saying its state)."""
    from peaktrade.safety._kill_switch import KillSwitch

    items = []
    try:
        ks = kill_switch or KillSwitch(config.state_dir, "live")
        st = ks.status()
        if reduce_only:
            items.append(ReadinessItem("kill_switch_off", True, f"{st.describe()} (reduce-only: not required off)"))
        else:
            items.append(ReadinessItem("kill_switch_off", not st.engaged, st.describe()))
    except Exception as e:  # noqa: BLE001
        items.append(ReadinessItem("kill_switch_off", False, f"could not be read: {type(e).__name__}: {e}"))
    try:
        missing = config.risk.missing_limits()
        items.append(ReadinessItem("risk_limits_configured", not missing,
                                   f"[risk] {', '.join(missing)} not set" if missing else "all risk limits set"))
    except Exception as e:  # noqa: BLE001
        items.append(ReadinessItem("risk_limits_configured", False, f"could not be read: {type(e).__name__}: {e}"))
    return ReadinessReport(tuple(items))


def probe_readiness(config: Config, probe: ReadinessProbe) -> ReadinessReport:
    """Run ``probe`` and judge what it measured; a probe that raises fails every exchange item."""
    return _probe_readiness(config, probe)[0]


def _probe_readiness(config: Config, probe: ReadinessProbe) -> tuple[ReadinessReport, ProbeResult | None]:
    names = ("exchange_reachable", "clock_skew", "balances_readable")
    try:
        res = probe(config)
        if not isinstance(res, ProbeResult):
            raise TypeError(f"probe returned {type(res).__name__}, expected ProbeResult")
    except Exception as e:  # noqa: BLE001 — a probe that cannot answer fails readiness
        why = f"probe failed: {type(e).__name__}: {e}"
        return ReadinessReport(tuple(ReadinessItem(n, False, why) for n in names)), None
    extra = f" ({res.detail})" if res.detail else ""
    if res.reachable is True:
        reach = ReadinessItem("exchange_reachable", True, "exchange reachable")
    else:
        reach = ReadinessItem("exchange_reachable", False,
                              ("not measured" if res.reachable is None else "exchange not reachable") + extra)
    limit = float(config.live.max_clock_skew_seconds)
    skew = res.clock_skew_seconds
    if skew is None or isinstance(skew, bool) or not isinstance(skew, (int, float)) or not math.isfinite(skew):
        clock = ReadinessItem("clock_skew", False, f"clock skew not measured ({skew!r}){extra}")
    else:
        clock = ReadinessItem("clock_skew", abs(skew) <= limit,
                              f"{abs(skew):.2f} s {'≤' if abs(skew) <= limit else '>'} {limit:.2f} s")
    bal = res.balances
    ok_bal = isinstance(bal, Mapping) and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in bal.values())
    balances = ReadinessItem("balances_readable", ok_bal,
                             f"{len(bal)} balances read" if ok_bal else f"balances not readable{extra}")
    items = [reach, clock, balances]
    if res.checks is not None:
        try:
            # live: a skipped check is not a passed one (no alerting, no dead-man switch), except the few the
            # venue cannot report (SKIP_ALLOWED)
            failed = [f"{name}: {'skipped: ' if status == 'skip' else ''}{reason}"
                      for name, status, reason in res.checks
                      if status != "pass" and not (status == "skip" and name in SKIP_ALLOWED)]
            ok = bool(res.checks) and not failed
            why = (f"{len(res.checks)} readiness checks, none failed" if ok
                   else "; ".join(failed) or "no readiness check ran")
        except Exception as e:  # noqa: BLE001 — a list that cannot be read fails
            ok, why = False, f"readiness checks unreadable: {type(e).__name__}: {e}"
        items.append(ReadinessItem("readiness_checks", ok, why))
    return ReadinessReport(tuple(items)), res


class GateInputRefused(LiveGateClosed, TypeError):
    """A caller handed in a gate input (``env=``, ``readiness=``, ``kill_switch=``) that only the gates may read.

    Both a closed gate (:class:`LiveGateClosed`, so the CLI prints one line) and a ``TypeError`` (the
    call is wrong): earlier versions took these arguments, and a forged one must never open a gate.
    """


_NOT_GIVEN: Any = object()


def _refuse_handed_in(env: Any, readiness: Any, kill_switch: Any) -> None:
    if env is not _NOT_GIVEN:
        raise GateInputRefused("live_armed", "env= is not accepted: the arming variable is read from this "
                                             "process's environment (os.environ) only")
    if readiness is not _NOT_GIVEN or kill_switch is not _NOT_GIVEN:
        what = "readiness=" if readiness is not _NOT_GIVEN else "kill_switch="
        raise GateInputRefused("readiness", f"{what} is not accepted: readiness is decided by the gate itself "
                                            "(the config's persisted kill switch, its risk limits and the "
                                            "registered exchange probe, run here)")


def live_gates(config: Config, *, confirm: str | None, log: DecisionLog | None = None, env: Any = _NOT_GIVEN,
               readiness: Any = _NOT_GIVEN, kill_switch: Any = _NOT_GIVEN, reduce_only: bool = False,
               _facts: dict[str, Any] | None = None) -> list[GateResult]:
    """Evaluate every live gate in order and record each result.

    The inputs a caller could fake are not parameters: the arming variable is read from this process's
    environment, the kill switch from ``[safety] state_dir``, and readiness from the registered probe
    (:func:`current_readiness_probe`), run here.

    Parameters
    ----------
    config
        The loaded config the session would trade with.
    confirm
        The ``--confirm`` token given on the command line (None: not given).
    log
        Where to record the results.
    env, readiness, kill_switch
        Never accepted: handing any of them in raises :class:`GateInputRefused` (a closed gate and a
        ``TypeError``).
    reduce_only
        For exposure-reducing orders only (flatten): readiness does not require the kill switch off.
    """
    _refuse_handed_in(env, readiness, kill_switch)
    env = os.environ
    readiness = current_readiness_probe()
    results: list[GateResult] = []

    def gate(name: str, fn: Callable[[], tuple[bool, str]]) -> None:
        try:
            is_open, detail = fn()
            results.append(GateResult(name, bool(is_open) is True, str(detail)))
        except Exception as e:  # noqa: BLE001 — a gate that cannot be evaluated is closed
            results.append(GateResult(name, False, f"could not be evaluated: {type(e).__name__}: {e}"))

    def enabled() -> tuple[bool, str]:
        on = config.live.enabled is True
        return on, (f"[live] enabled = true in {config.source}" if on
                    else f"[live] enabled is false in {config.source}")

    def armed() -> tuple[bool, str]:
        var = config.live.arm_env
        val = env.get(var)
        if val is None or val == "":
            return False, f"{var} is not set for this process (see `peaktrade live gates`)"
        if val != arm_value(config):
            return False, (f"{var} is set but not to this config's hash and state dir {resolved_state_dir(config)} "
                           "(armed for another config or state dir? see `peaktrade live gates`)")
        return True, f"{var} matches this config's hash and state dir"

    def confirmed() -> tuple[bool, str]:
        if confirm is None or confirm == "":
            return False, "no --confirm token given (see `peaktrade live gates`)"
        if confirm != confirm_token(config):
            return False, (f"--confirm token does not match this config and state dir {resolved_state_dir(config)} "
                           "(see `peaktrade live gates`)")
        return True, "--confirm token matches this config and state dir"

    def ready() -> tuple[bool, str]:
        report = local_readiness(config, reduce_only=reduce_only)
        bad = next((i for i in report.items if not i.ok), None)
        if bad is not None:
            return False, f"{bad.name}: {bad.detail}"  # decided locally: the exchange is not probed
        closed = [r.name for r in results if not r.open]
        if closed:
            return False, f"exchange probe not run: gate '{closed[0]}' is closed"
        if readiness is None:
            missing = "no readiness probe: the live exchange adapter is not available"
            report = report.merged(ReadinessReport(tuple(
                ReadinessItem(n, False, missing) for n in ("exchange_reachable", "clock_skew", "balances_readable"))))
        elif callable(readiness):
            probed, res = _probe_readiness(config, readiness)
            report = report.merged(probed)
            if _facts is not None and res is not None:  # what the authorization is bound to (assert_live_allowed)
                _facts["venue"] = res.venue
                _facts["full"] = any(i.name == "readiness_checks" and i.ok for i in probed.items)
        else:
            raise TypeError(f"the registered readiness probe {readiness!r} is not callable")
        bad = report.first_failure()
        if bad is not None:
            return False, f"{bad.name}: {bad.detail}"
        return True, f"{len(report.items)} readiness checks passed"

    gate("live_enabled", enabled)
    gate("live_armed", armed)
    gate("confirm_token", confirmed)
    gate("readiness", ready)
    if log is not None:
        for r in results:
            log.record(component="live_gates", kind="live_gate", allowed=r.open, gate=r.name, reason=r.detail,
                       environment="live", subject={"config_hash": config.config_hash()})
    return results


def assert_live_allowed(config: Config, *, confirm: str | None, log: DecisionLog | None = None,
                        clock: Clock | None = None, env: Any = _NOT_GIVEN, readiness: Any = _NOT_GIVEN,
                        kill_switch: Any = _NOT_GIVEN, reduce_only: bool = False) -> LiveAuthorization:
    """Return a :class:`LiveAuthorization` for ``config`` when every live gate is open (see :func:`live_gates`).

    The authorization is registered under a random token with the config hash it was granted for;
    only :func:`authorization_valid` with that same hash accepts it. ``reduce_only`` (flatten): the kill switch
    need not be off, and the authorization is registered as reduce-only (every guard holding it enforces it).

    Raises
    ------
    LiveGateClosed
        Naming the first closed gate (also when the decisions could not be written to the audit file).
    GateInputRefused
        When ``env``, ``readiness`` or ``kill_switch`` is handed in (never accepted; see :func:`live_gates`).
    """
    _refuse_handed_in(env, readiness, kill_switch)
    config_hash = config.config_hash()
    state_dir = resolved_state_dir(config)
    reduce_only = reduce_only is True
    facts: dict[str, Any] = {}
    results = live_gates(config, confirm=confirm, log=log, reduce_only=reduce_only, _facts=facts)
    for r in results:
        if not r.open:
            raise LiveGateClosed(r.name, r.detail)
    if log is not None and log.error:
        raise LiveGateClosed("audit", log.error)
    if config.config_hash() != config_hash or resolved_state_dir(config) != state_dir:
        raise LiveGateClosed("config", "the config or its state dir changed while the live gates were evaluated")
    from peaktrade.adapters.hosts import url_host

    venue = facts.get("venue")
    venue_host = (url_host(venue) or "") if isinstance(venue, str) and venue else ""
    full = facts.get("full") is True and not reduce_only
    token = secrets.token_hex(32)
    with _GRANTED_LOCK:
        _GRANTED[token] = _Grant(config_hash, state_dir, reduce_only, full, venue_host)
    return LiveAuthorization(config_hash, iso((clock or wall_clock)()) or "", tuple(results), token, reduce_only,
                             state_dir, venue_host, full)
