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

import math
import os
import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
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
#: token → (config hash, reduce-only) of every authorization granted in this process (see the module docstring).
_GRANTED: dict[str, tuple[str, bool]] = {}
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
    #: ran it: then any ``fail`` among them fails the ``readiness_checks`` item.
    checks: tuple[tuple[str, str, str], ...] | None = None


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


def authorization_valid(auth: LiveAuthorization | None, config_hash: str | None) -> bool:
    """Return whether ``auth`` was granted by :func:`assert_live_allowed` in this process for ``config_hash``."""
    if not isinstance(auth, LiveAuthorization) or not isinstance(auth.token, str) or not config_hash:
        return False
    with _GRANTED_LOCK:
        granted = _GRANTED.get(auth.token)
    return (granted is not None and granted[0] == auth.config_hash == config_hash
            and granted[1] is (auth.reduce_only is True)
            and len(auth.gates) == len(LIVE_GATES) and all(g.open for g in auth.gates))


def authorization_reduce_only(auth: LiveAuthorization | None) -> bool:
    """Return whether ``auth`` was granted for exposure-reducing orders only (unknown token: True, fail closed)."""
    if not isinstance(auth, LiveAuthorization):
        return False  # no authorization at all: nothing live passes anyway
    with _GRANTED_LOCK:
        granted = _GRANTED.get(auth.token) if isinstance(auth.token, str) else None
    return True if granted is None else granted[1] or auth.reduce_only is not False


def arm_value(config: Config) -> str:
    """Return the value the arming variable must hold for ``config``: its full config hash."""
    return config.config_hash()


def confirm_token(config: Config) -> str:
    """Return the ``--confirm`` token for ``config``: ``LIVE-`` and the first 8 characters of its hash."""
    return f"LIVE-{config.config_hash()[:8]}"


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
    names = ("exchange_reachable", "clock_skew", "balances_readable")
    try:
        res = probe(config)
        if not isinstance(res, ProbeResult):
            raise TypeError(f"probe returned {type(res).__name__}, expected ProbeResult")
    except Exception as e:  # noqa: BLE001 — a probe that cannot answer fails readiness
        why = f"probe failed: {type(e).__name__}: {e}"
        return ReadinessReport(tuple(ReadinessItem(n, False, why) for n in names))
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
            failed = [f"{name}: {reason}" for name, status, reason in res.checks if status != "pass" and
                      status != "skip"]
            ok = bool(res.checks) and not failed
            why = (f"{len(res.checks)} readiness checks, none failed" if ok
                   else "; ".join(failed) or "no readiness check ran")
        except Exception as e:  # noqa: BLE001 — a list that cannot be read fails
            ok, why = False, f"readiness checks unreadable: {type(e).__name__}: {e}"
        items.append(ReadinessItem("readiness_checks", ok, why))
    return ReadinessReport(tuple(items))


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
               readiness: Any = _NOT_GIVEN, kill_switch: Any = _NOT_GIVEN, reduce_only: bool = False) -> list[GateResult]:
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
            return False, f"{var} is set but not to this config's hash (armed for another config?)"
        return True, f"{var} matches this config's hash"

    def confirmed() -> tuple[bool, str]:
        if confirm is None or confirm == "":
            return False, "no --confirm token given (see `peaktrade live gates`)"
        if confirm != confirm_token(config):
            return False, "--confirm token does not match this config (see `peaktrade live gates`)"
        return True, "--confirm token matches this config"

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
            report = report.merged(probe_readiness(config, readiness))
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
    reduce_only = reduce_only is True
    results = live_gates(config, confirm=confirm, log=log, reduce_only=reduce_only)
    for r in results:
        if not r.open:
            raise LiveGateClosed(r.name, r.detail)
    if log is not None and log.error:
        raise LiveGateClosed("audit", log.error)
    if config.config_hash() != config_hash:
        raise LiveGateClosed("config", "the config changed while the live gates were evaluated")
    token = secrets.token_hex(32)
    with _GRANTED_LOCK:
        _GRANTED[token] = (config_hash, reduce_only)
    return LiveAuthorization(config_hash, iso((clock or wall_clock)()) or "", tuple(results), token, reduce_only)
