"""The kill switch: a persisted trading state, per environment and for all environments at once.

State files live in ``[safety] state_dir``: ``kill_switch.json`` (scope ``all``: every environment)
and ``kill_switch.<environment>.json``. The effective state of an environment is the most
restrictive of the two. A missing file means the switch was never engaged (active); a file that
cannot be read or does not hold a valid state counts as HALTED (fail closed) until it is reset.
Files are replaced atomically, and re-read on every order check, so ``peaktrade kill-switch on`` in
another process stops a running session at its next order.

Tightening (active → reducing → halted) needs nothing; loosening (any step back towards active)
needs ``confirm=True`` — the CLI's ``--confirm``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from peaktrade._files import atomic_write_json
from peaktrade.safety._audit import Clock, DecisionLog, iso, wall_clock
from peaktrade.safety._environment import TradingEnvironment, TradingState
from peaktrade.safety._errors import SafetyError

#: Scopes of kill-switch files: ``all`` applies to every environment.
SCOPES = ("all", *(e.value for e in TradingEnvironment))
_VERSION = 1


@dataclass(frozen=True)
class SwitchState:
    """The state of one kill-switch scope (or the effective state of an environment)."""

    scope: str
    state: TradingState = TradingState.ACTIVE
    reason: str = ""
    since: str | None = None
    source: str = ""
    path: str | None = None
    error: str | None = None  # set when the state file could not be read (then state is HALTED)

    @property
    def engaged(self) -> bool:
        return self.state is not TradingState.ACTIVE

    def describe(self) -> str:
        """Return a one-line description: state, scope, since when, why."""
        if self.error:
            return f"{self.state} (scope {self.scope}): {self.error}"
        if not self.engaged:
            return f"active (scope {self.scope})"
        since = f" since {self.since}" if self.since else ""
        by = f" by {self.source}" if self.source else ""
        return f"{self.state} (scope {self.scope}){since}{by}: {self.reason or 'no reason given'}"


def parse_scope(scope: str | TradingEnvironment) -> str:
    """Return ``scope`` if it names a kill-switch scope; raise :class:`SafetyError` otherwise."""
    s = str(getattr(scope, "value", scope)).strip().lower()
    if s not in SCOPES:
        raise SafetyError(f"scope={scope!r} is invalid: expected one of {', '.join(SCOPES)}")
    return s


class KillSwitch:
    """Read and change the persisted trading state of one environment.

    Parameters
    ----------
    state_dir
        Where the state files live; ``None`` keeps the state in memory only (tests, research).
    environment
        The environment whose effective state :meth:`status` reports; ``None`` = scope ``all`` only.
    clock
        Wall clock for timestamps of command-line changes (breaches pass their market time).
    log
        Where engagements and resets are recorded.
    """

    def __init__(self, state_dir: Path | str | None, environment: TradingEnvironment | str | None = None, *,
                 clock: Clock | None = None, log: DecisionLog | None = None) -> None:
        self.state_dir = Path(state_dir) if state_dir is not None else None
        self.environment = TradingEnvironment.parse(environment) if environment is not None else None
        self.clock = clock or wall_clock
        self.log = log if log is not None else DecisionLog(clock=self.clock)
        self._memory: dict[str, SwitchState] = {}  # the store without a state_dir
        self._latched: dict[str, SwitchState] = {}  # engagements that could not be persisted

    # -- reading -----------------------------------------------------------------------------
    def path_for(self, scope: str) -> Path | None:
        """Return the state file of ``scope`` (None without a state_dir)."""
        scope = parse_scope(scope)
        if self.state_dir is None:
            return None
        return self.state_dir / ("kill_switch.json" if scope == "all" else f"kill_switch.{scope}.json")

    def read(self, scope: str) -> SwitchState:
        """Return the persisted state of ``scope``; an unreadable or invalid file reads as HALTED."""
        scope = parse_scope(scope)
        path = self.path_for(scope)
        if path is None:
            st = self._memory.get(scope, SwitchState(scope))
        else:
            st = _read_file(path, scope)
        latched = self._latched.get(scope)
        return latched if latched is not None and latched.state.rank > st.state.rank else st

    def scopes(self) -> list[str]:
        """Return the scopes that govern this switch's environment (``all`` first)."""
        return ["all"] if self.environment is None else ["all", self.environment.value]

    def status(self) -> SwitchState:
        """Return the effective state: the most restrictive of the governing scopes."""
        states = [self.read(s) for s in self.scopes()]
        return max(states, key=lambda s: s.state.rank)

    @property
    def state(self) -> TradingState:
        return self.status().state

    # -- changing ----------------------------------------------------------------------------
    def _default_scope(self, scope: str | None) -> str:
        if scope is not None:
            return parse_scope(scope)
        return self.environment.value if self.environment is not None else "all"

    def engage(self, reason: str, *, state: TradingState | str = TradingState.HALTED, scope: str | None = None,
               source: str = "command", at: Any = None, confirm: bool = False) -> SwitchState:
        """Set ``scope`` (default: this environment, else ``all``) to ``state`` (halted or reducing).

        Moving to a less restrictive state than the persisted one (halted → reducing) needs
        ``confirm=True``. When the file cannot be written the state is still held in memory for this
        process, and :class:`SafetyError` is raised so the caller knows it is not persisted.
        """
        state = TradingState(state)
        if state is TradingState.ACTIVE:
            raise SafetyError("engage(state='active') is invalid: use reset(confirm=True) to release the switch")
        scope = self._default_scope(scope)
        current = self.read(scope)
        if state.rank < current.state.rank and not confirm:
            raise SafetyError(f"kill switch (scope {scope}) is {current.state}; moving it to {state} lets more "
                              "orders through and needs confirmation (--confirm)")
        new = SwitchState(scope, state, reason, iso(at if at is not None else self.clock()), source,
                          str(self.path_for(scope)) if self.state_dir is not None else None)
        self._write(new, action="engage")
        return new

    def reset(self, *, confirm: bool, scope: str | None = None, reason: str = "") -> SwitchState:
        """Release ``scope`` (default: this environment, else ``all``) back to active; needs ``confirm=True``."""
        scope = self._default_scope(scope)
        if not confirm:
            raise SafetyError(f"resetting the kill switch (scope {scope}) lets orders through again: "
                              "it needs explicit confirmation (peaktrade kill-switch off --confirm)")
        new = SwitchState(scope, TradingState.ACTIVE, reason or "reset", iso(self.clock()), "reset",
                          str(self.path_for(scope)) if self.state_dir is not None else None)
        self._write(new, action="reset")
        self._latched.pop(scope, None)
        return new

    def _write(self, new: SwitchState, *, action: str) -> None:
        env = self.environment.value if self.environment is not None else "all"
        subject = {"scope": new.scope, "state": new.state.value, "source": new.source, "action": action}
        path = self.path_for(new.scope)
        if path is None:
            self._memory[new.scope] = new
            self.log.record(component="kill_switch", kind="state", allowed=not new.engaged, gate="kill_switch",
                            reason=new.describe(), environment=env, market_time=new.since, subject=subject)
            return
        try:
            _atomic_write_json(path, {
                "version": _VERSION, "scope": new.scope, "state": new.state.value, "reason": new.reason,
                "since": new.since, "source": new.source, "recorded_at": iso(self.clock()),
            })
        except OSError as e:
            msg = f"cannot write kill-switch state file {path}: {e.strerror or e}"
            if new.engaged:  # hold the engagement in memory for this process: fail closed
                self._latched[new.scope] = replace(new, error=f"not persisted ({msg})")
            self.log.record(component="kill_switch", kind="state", allowed=False, gate="kill_switch",
                            reason=msg, environment=env, market_time=new.since, subject=subject)
            raise SafetyError(msg + (" — engaged in memory for this process only" if new.engaged else "")) from None
        self.log.record(component="kill_switch", kind="state", allowed=not new.engaged, gate="kill_switch",
                        reason=new.describe(), environment=env, market_time=new.since, subject=subject)


def _corrupt(path: Path, scope: str, why: str) -> SwitchState:
    return SwitchState(scope, TradingState.HALTED, "", None, "unreadable_state_file", str(path),
                       error=f"state file {path} is unreadable ({why}): counted as engaged (fail closed); "
                             f"inspect it, then reset with `peaktrade kill-switch off --scope {scope} --confirm`")


def _read_file(path: Path, scope: str) -> SwitchState:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return SwitchState(scope, path=str(path))
    except (OSError, UnicodeDecodeError) as e:
        return _corrupt(path, scope, f"{type(e).__name__}: {getattr(e, 'strerror', None) or e}")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        return _corrupt(path, scope, f"not valid JSON: {e.msg} at line {e.lineno}")
    if not isinstance(data, dict):
        return _corrupt(path, scope, "not a JSON object")
    if data.get("version") != _VERSION:
        return _corrupt(path, scope, f"version {data.get('version')!r}, expected {_VERSION}")
    if data.get("scope") != scope:
        return _corrupt(path, scope, f"scope {data.get('scope')!r}, expected {scope!r}")
    try:
        state = TradingState(data.get("state"))
    except ValueError:
        return _corrupt(path, scope, f"state {data.get('state')!r} is not one of active, reducing, halted")
    return SwitchState(scope, state, str(data.get("reason") or ""), data.get("since"), str(data.get("source") or ""),
                       str(path))


def _atomic_write_json(path: Path, data: dict[str, Any]) -> None:
    """Write a safety state file (kill switch, daily limits) through :func:`peaktrade._files.atomic_write_json`.

    The policy of these files, in one place: owner-only (they gate real orders), sorted keys.
    """
    atomic_write_json(path, data, sort_keys=True, mode=0o600)
