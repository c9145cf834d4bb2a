"""SafetyGuard: the first pre-trade check. Environment, executor kind, live authorization, trading state.

The guard answers three questions for every order, in this order, and records every answer:

1. Does the executor match the environment? paper and shadow only run simulated executors (they
   never reach an exchange's private API); testnet and live only run exchange executors (a live
   session is never faked with simulated fills).
2. In live: was the session authorized by :func:`~peaktrade.safety.assert_live_allowed`?
3. What does the kill switch allow? ``active``: everything; ``reducing``: only orders that move a
   position toward zero without flipping; ``halted``: no orders at all. Cancels do not pass through
   the checks, so they are possible in every state.

A **reduce-only** guard (:meth:`SafetyGuard.restrict_to_reducing`, or any guard holding a reduce-only live
authorization: ``peaktrade safety flatten``) lets through only orders that provably move a position toward zero
without flipping it, in the pipeline and again at the wire (an unknown position counts as increasing: fail closed),
in every kill-switch state: ``halted`` stops what might add exposure, and such a guard sends nothing else.

Endpoints are checked with :meth:`SafetyGuard.check_endpoint` by the adapter before any request, and
every order-placing request asks :meth:`SafetyGuard.check_wire` at the adapter's transport, right
before it is sent (the kill switch is read there again: the pipeline is not the only way to an order).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pandas as pd

from peaktrade.adapters.hosts import live_venue_of, normalize_host
from peaktrade.config import MAX_PRICE_DEVIATION_CAP, RiskConfig
from peaktrade.execution.ledger import Ledger
from peaktrade.execution.pipeline import Decision
from peaktrade.orders.model import OrderRequest
from peaktrade.safety._audit import Clock, DecisionLog, DecisionRecord
from peaktrade.safety._environment import TradingEnvironment, TradingState, parse_executor_kind
from peaktrade.safety._kill_switch import KillSwitch
from peaktrade.safety._live import (
    LiveAuthorization,
    authorization_reduce_only,
    authorization_valid,
    authorization_venue,
    resolved_state_dir,
)
from peaktrade.safety._orders import exposure_change, fmt_money, fmt_qty, order_subject, post_position

if TYPE_CHECKING:
    from peaktrade.config import Config

_SCHEMES = ("http", "https", "ws", "wss")
_SECURE = ("https", "wss")
#: Venue operations that only take orders away: they pass in every kill-switch state.
_CANCELS = frozenset({"CancelOrder", "CancelOrderBatch", "CancelAll", "CancelAllOrdersAfter", "cancel_order"})
_EPS = 1e-9
#: The price collar of a guard built without a config: the config's own default.
DEFAULT_MAX_PRICE_DEVIATION: float | None = RiskConfig.model_fields["max_price_deviation"].default


def _positive(x: object) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and x > 0


def _hosts(hosts: Iterable[str]) -> frozenset[str]:
    return frozenset(h.strip().lower().rstrip(".") for h in hosts)


def endpoint_host(url: str) -> tuple[str, str] | None:
    """Return ``(scheme, host)`` of ``url`` (host lower-cased, IPv6 without brackets), None if it has none."""
    try:
        parts = urlsplit(str(url).strip())
        host = parts.hostname
        parts.port  # noqa: B018 — raises ValueError on a malformed port
    except ValueError:
        return None
    if not host:
        return None
    return parts.scheme.lower(), normalize_host(host)  # as reached on the wire (%-escapes, IDNA)


class SafetyGuard:
    """Pre-trade gate of one session (implements the pipeline's ``OrderCheck``).

    Parameters
    ----------
    environment
        ``paper`` | ``shadow`` | ``testnet`` | ``live`` (default paper).
    executor_kind
        ``"paper"`` (simulated fills) or ``"exchange"`` (an exchange adapter); must match the environment.
    kill_switch
        The persisted trading state; default: the per-user switch in
        :func:`~peaktrade.config.default_state_dir` (the one ``peaktrade kill-switch`` sets).
    log
        Where decisions are recorded (shared with RiskLimits by :func:`build_checks`).
    authorization
        Live only: what :func:`~peaktrade.safety.assert_live_allowed` returned for this config.
    config_hash
        Live only: the hash of the config the session runs with (must match the authorization).
    testnet_hosts, validate_hosts, live_hosts
        Endpoint allow-lists (see :meth:`check_endpoint`).
    max_price_deviation
        The price collar checked at the wire (:meth:`check_wire`): an order whose price deviates from
        the reference mid by more than this fraction is denied (default ``[risk]``'s default, 5 %;
        None: no collar — only a hand-built guard can have none, the config's testnet/live need one).
    """

    name = "SafetyGuard"

    def __init__(self, environment: TradingEnvironment | str = TradingEnvironment.PAPER, *, executor_kind: str,
                 kill_switch: KillSwitch | None = None, log: DecisionLog | None = None,
                 authorization: LiveAuthorization | None = None, config_hash: str | None = None,
                 testnet_hosts: Iterable[str] = ("127.0.0.1", "localhost", "::1"),
                 validate_hosts: Iterable[str] = ("api.kraken.com",), live_hosts: Iterable[str] = ("api.kraken.com",),
                 clock: Clock | None = None, max_price_deviation: float | None = DEFAULT_MAX_PRICE_DEVIATION) -> None:
        self.environment = TradingEnvironment.parse(environment)
        self.executor_kind = parse_executor_kind(executor_kind)
        self.log = log if log is not None else DecisionLog(clock=clock)
        if kill_switch is None:  # the user's persisted switch: `peaktrade kill-switch on` stops a hand-built guard too
            from peaktrade.config import default_state_dir

            kill_switch = KillSwitch(default_state_dir(), self.environment, clock=clock, log=self.log)
        self.kill_switch = kill_switch
        self.authorization = authorization
        self.config_hash = config_hash
        self._config: Config | None = None  # from_config: the config, re-hashed at use (live)
        self._approved_reducing: dict[str, tuple[str, str, float]] = {}  # cid -> (symbol, side, qty)
        self.testnet_hosts = _hosts(testnet_hosts)
        self.validate_hosts = _hosts(validate_hosts)
        self.live_hosts = _hosts(live_hosts)
        if max_price_deviation is not None and not (isinstance(max_price_deviation, (int, float))
                                                    and 0 < max_price_deviation <= MAX_PRICE_DEVIATION_CAP):
            raise ValueError(f"max_price_deviation={max_price_deviation!r} is invalid: expected a fraction in "
                             f"(0, {MAX_PRICE_DEVIATION_CAP}]")
        self.max_price_deviation = None if max_price_deviation is None else float(max_price_deviation)
        self.deadman: Any = None  # require_deadman: a switch the session relies on
        self._reduce_only = False  # restrict_to_reducing: one way, never back

    def restrict_to_reducing(self) -> None:
        """From now on let through only orders that provably reduce a position without flipping it, in the
        pipeline and at the wire, in every kill-switch state (one way: there is no way back)."""
        self._reduce_only = True

    @property
    def reduce_only(self) -> bool:
        """Whether this guard passes exposure-reducing orders only (restricted, or holding a reduce-only
        live authorization)."""
        return self._reduce_only or authorization_reduce_only(self.authorization)

    def require_deadman(self, switch: Any) -> None:
        """Rely on ``switch`` (a :class:`~peaktrade.safety.DeadManSwitch`): from now on every order-placing
        request is denied at the wire unless the switch is confirmed armed (``switch.is_armed()``); cancels
        still pass. Fail closed: a switch that stops re-arming stops the orders, not only the first arm."""
        self.deadman = switch

    @classmethod
    def from_config(cls, environment: TradingEnvironment | str, config: Config, *, executor_kind: str,
                    kill_switch: KillSwitch | None = None, log: DecisionLog | None = None,
                    authorization: LiveAuthorization | None = None, clock: Clock | None = None) -> SafetyGuard:
        """Return a guard configured from ``config`` ([safety], [live]) with the persisted kill switch."""
        env = TradingEnvironment.parse(environment)
        state_dir = config.state_dir
        if log is None:
            log = DecisionLog.from_config(config, clock=clock)
        if kill_switch is None:
            kill_switch = KillSwitch(state_dir, env, clock=clock, log=log)
        guard = cls(env, executor_kind=executor_kind, kill_switch=kill_switch, log=log, authorization=authorization,
                    config_hash=config.config_hash(),
                    testnet_hosts=[*config.safety.testnet_hosts, *config.testnet.sim_hosts],
                    validate_hosts=config.safety.validate_hosts, live_hosts=config.live.hosts, clock=clock,
                    max_price_deviation=config.risk.max_price_deviation)
        guard._config = config
        return guard

    # -- state -------------------------------------------------------------------------------
    @property
    def decisions(self) -> list[DecisionRecord]:
        """Every decision recorded so far (allow and deny), oldest first."""
        return self.log.records

    @property
    def state(self) -> TradingState:
        """Return the effective trading state (from the kill switch, re-read now)."""
        return self.kill_switch.status().state

    def _live_authorized(self) -> bool:
        """Check the authorization again, at use: granted for this config and its resolved state dir, the config still
        hashes the same and still resolves to that state dir."""
        state_dir = None
        if self._config is not None:
            try:
                if self._config.config_hash() != self.config_hash:
                    return False  # the config changed after the guard (and its authorization) were made
                state_dir = resolved_state_dir(self._config)  # re-resolved: an environment variable may have moved it
            except Exception:  # noqa: BLE001 — cannot tell: not authorized
                return False
        return authorization_valid(self.authorization, self.config_hash, state_dir=state_dir)

    def _venue_refusal(self, host: str) -> Decision | None:
        """Live: a request to any host but the venue the authorization's readiness judged is refused."""
        if self.authorization is None:
            return None  # nothing authorized: the private API stays closed (allows_private_api)
        venue = authorization_venue(self.authorization)
        if venue is None or host != venue:
            return Decision(False, "live_venue", f"live_venue: host {host} is not the venue readiness judged for "
                                                 f"this authorization ({venue or 'none'})")
        return None

    def allows_private_api(self) -> bool:
        """Return whether this session may call an exchange's private API at all.

        False in paper and shadow; True in testnet (its endpoints are still allow-listed); in live,
        True only with a valid authorization.
        """
        if self.environment.simulated:
            return False
        if self.environment is TradingEnvironment.LIVE:
            return self._live_authorized()
        return True

    # -- endpoints ---------------------------------------------------------------------------
    def check_endpoint(self, url: str, *, private: bool = True, validate_only: bool = False) -> Decision:
        """Decide whether the session may send a request to ``url``; record the decision.

        ``private`` (default True: when in doubt, a request is private) marks authenticated calls;
        ``validate_only`` marks requests the venue only validates (Kraken ``validate=true``), which
        the adapter must enforce. Rules: paper/shadow deny every private request (public market
        data may come from anywhere); testnet allows only ``testnet_hosts``, and ``validate_hosts``
        for validate-only requests; live allows only ``live_hosts`` over TLS, private requests only
        when authorized.
        """
        try:
            decision = self._endpoint(url, private, validate_only)
        except Exception as e:  # noqa: BLE001 — a check that cannot decide denies
            decision = Decision(False, "endpoint", f"endpoint: check failed: {type(e).__name__}: {e}")
        self.log.record(component=self.name, kind="endpoint", allowed=decision.allowed, gate=decision.gate,
                        reason=decision.reason, environment=self.environment.value,
                        subject={"url": str(url), "private": private, "validate_only": validate_only})
        return decision

    def _endpoint(self, url: str, private: bool, validate_only: bool) -> Decision:
        env = self.environment
        parsed = endpoint_host(url)
        if parsed is None or parsed[0] not in _SCHEMES:
            return Decision(False, "endpoint", f"endpoint: {url!r} is not an http(s)/ws(s) URL with a host")
        scheme, host = parsed
        if env.simulated:
            if private:
                return Decision(False, "environment",
                                f"environment: {env} never reaches an exchange's private API ({host})")
            return Decision(True, "endpoint", f"public endpoint {host}")
        if env is TradingEnvironment.TESTNET:
            venue = live_venue_of(host) or ("[live] hosts" if host in self.live_hosts else None)
            if venue is not None:
                # a live venue host is never a testnet host, whatever testnet_hosts says
                if host in self.validate_hosts and validate_only:
                    return Decision(True, "testnet_endpoint", f"validate-only request to {host}")
                return Decision(False, "testnet_endpoint",
                                f"testnet_endpoint: host {host} is a live {venue} host, never a testnet host "
                                f"({'validate-only requests only' if host in self.validate_hosts else 'not in [safety] validate_hosts'})")
            if host in self.testnet_hosts:
                return Decision(True, "testnet_endpoint", f"testnet host {host}")
            if host in self.validate_hosts and validate_only:
                return Decision(True, "testnet_endpoint", f"validate-only request to {host}")
            allowed = ", ".join(sorted(self.testnet_hosts)) or "none"
            extra = (" (validate-only requests only)" if host in self.validate_hosts else "")
            return Decision(False, "testnet_endpoint",
                            f"testnet_endpoint: host {host} is not a testnet host{extra}; allowed: {allowed}")
        if host not in self.live_hosts:
            return Decision(False, "live_endpoint", f"live_endpoint: host {host} is not in [live] hosts")
        refused = self._venue_refusal(host)
        if refused is not None:
            return refused
        if scheme not in _SECURE:
            return Decision(False, "live_endpoint", f"live_endpoint: {scheme}:// is not encrypted; use https/wss")
        if private and not self._live_authorized():
            return Decision(False, "live_authorization",
                            "live_authorization: this session holds no valid live authorization")
        return Decision(True, "live_endpoint", f"live host {host}")

    # -- the wire ----------------------------------------------------------------------------
    def check_wire(self, operation: str, *, client_order_id: str | None = None, symbol: str | None = None,
                   side: str | None = None, amount: float | None = None, position: float | None = None,
                   price: float | None = None, reference: float | None = None,
                   reference_error: str | None = None) -> Decision:
        """Decide whether an order request may go on the wire now; record the decision. Never raises.

        Called by the adapter at its transport for every order-placing request (each attempt), whoever
        built it. Cancels always pass. Otherwise: paper/shadow never send orders; live needs a valid
        authorization (checked again here); the kill switch is read now: ``halted`` denies, ``reducing``
        allows only an order that provably reduces the position — given as ``position``, or approved as
        reducing by :meth:`check` under the same client order id — and treats anything unknown as
        increasing. Last, the price collar (``max_price_deviation``): ``price`` (the order's price: a
        limit order's limit, a market order's touch) against ``reference`` (the venue's mid, fetched by
        the adapter right before sending); a missing or unusable price or mid denies (``reference_error``
        says why the mid is missing).
        """
        try:
            decision = self._wire(operation, client_order_id, symbol, side, amount, position)
            if decision.allowed and operation not in _CANCELS and self.max_price_deviation is not None:
                decision = self._collar(decision, symbol, side, price, reference, reference_error)
        except Exception as e:  # noqa: BLE001 — a check that cannot decide denies
            decision = Decision(False, "wire", f"wire: check failed: {type(e).__name__}: {e}")
        subject = {"operation": operation, "client_order_id": client_order_id, "symbol": symbol, "side": side,
                   "amount": amount, "position": position, "price": price, "reference_mid": reference}
        ok = self.log.record(component=self.name, kind="wire", allowed=decision.allowed, gate=decision.gate,
                             reason=decision.reason, environment=self.environment.value, subject=subject)
        if decision.allowed and not ok:
            decision = self.log.deny_last(f"audit: {self.log.error}: an order that cannot be recorded is denied")
        return decision

    def _wire(self, operation: str, cid: str | None, symbol: str | None, side: str | None, amount: float | None,
              position: float | None) -> Decision:
        if operation in _CANCELS:
            return Decision(True, "wire", f"{operation}: cancels always pass")
        env = self.environment
        if env.simulated:
            return Decision(False, "environment", f"environment: {env} never sends orders to an exchange")
        if env is TradingEnvironment.LIVE and not self._live_authorized():
            return Decision(False, "live_authorization",
                            "live_authorization: no valid live authorization for this config at the wire")
        if env is TradingEnvironment.LIVE and self.deadman is None and not self.reduce_only:
            return Decision(False, "deadman", f"deadman: no dead-man switch is attached to this live guard: "
                                              f"{operation} not sent (only reduce-only orders pass without one)")
        if self.deadman is not None and not self.deadman.is_armed():
            return Decision(False, "deadman", f"deadman: the dead-man switch this session relies on is not "
                                              f"confirmed armed ({self.deadman.describe()}): {operation} not sent "
                                              "(cancels still pass)")
        st = self.kill_switch.status()
        what = f"{operation} {side or '?'} {fmt_qty(amount) if amount is not None else '?'} {symbol or '?'}"
        if self.reduce_only:  # checked before the kill switch: a reduce-only guard passes reducing orders only
            if not self._wire_reduces(cid, symbol, side, amount, position):
                known = "position unknown" if position is None else f"position {fmt_qty(position)}"
                return Decision(False, "reduce_only", f"reduce_only: {what} ({known}) is not provably "
                                                      "exposure-reducing; this guard sends nothing else (fail closed)")
            return Decision(True, "wire", f"reduce_only ({st.state}): {what} reduces the position")
        if st.state is TradingState.HALTED:
            return Decision(False, "halted", f"halted: kill switch {st.describe()}; {what} not sent "
                                             f"(cancels still pass; release: peaktrade kill-switch off "
                                             f"--scope {st.scope} --confirm)")
        if st.state is TradingState.REDUCING and not self._wire_reduces(cid, symbol, side, amount, position):
            known = "position unknown" if position is None else f"position {fmt_qty(position)}"
            return Decision(False, "reducing", f"reducing: {what} ({known}) is not provably exposure-reducing; "
                                               f"only exposure-reducing orders pass (kill switch {st.describe()})")
        return Decision(True, "wire", f"{st.state}: {what}")

    def _collar(self, allowed: Decision, symbol: str | None, side: str | None, price: float | None,
                reference: float | None, reference_error: str | None) -> Decision:
        """Deny an order priced more than ``max_price_deviation`` away from the reference mid (fail closed)."""
        limit = self.max_price_deviation
        assert limit is not None
        what = f"{side or '?'} {symbol or '?'}"
        if not _positive(reference):
            why = f" ({reference_error})" if reference_error else ""
            return Decision(False, "price_collar", f"price_collar: no reference mid for {what}{why}: an order "
                                                   "whose price cannot be checked is not sent (fail closed)")
        if not _positive(price):
            return Decision(False, "price_collar", f"price_collar: {what} has no usable price ({price!r}) to "
                                                   f"check against the reference mid {fmt_money(reference)}")
        dev = abs(float(price) / float(reference) - 1.0)
        if dev > limit:
            return Decision(False, "price_collar",
                            f"price_collar: {what} at {fmt_money(price)} deviates {dev:.2%} from the reference "
                            f"mid {fmt_money(reference)} > max_price_deviation {limit:.2%}")
        return Decision(True, allowed.gate, f"{allowed.reason}; price {fmt_money(price)} within {limit:.2%} of "
                                            f"mid {fmt_money(reference)}")

    def _wire_reduces(self, cid: str | None, symbol: str | None, side: str | None, amount: float | None,
                      position: float | None) -> bool:
        """Return whether the order provably reduces exposure (anything unknown: False)."""
        if side not in ("buy", "sell") or amount is None or not amount > 0:
            return False
        if position is not None:
            signed = amount if side == "buy" else -amount
            return position != 0.0 and (signed > 0) != (position > 0) and amount <= abs(position) * (1.0 + _EPS)
        approved = self._approved_reducing.get(str(cid)) if cid else None
        return (approved is not None and approved[0] == symbol and approved[1] == side
                and amount <= approved[2] * (1.0 + _EPS))

    # -- orders ------------------------------------------------------------------------------
    def check(self, request: OrderRequest, *, ledger: Ledger, price: float, now: pd.Timestamp) -> Decision:
        """Decide on ``request`` (see the module docs); record the decision. Never raises."""
        position: float | None = None
        try:
            position = ledger.position(request.symbol)
            decision = self._decide(request, position)
        except Exception as e:  # noqa: BLE001 — a check that cannot decide denies
            decision = Decision(False, self.name, f"{self.name}: check failed: {type(e).__name__}: {e}")
        ok = self.log.record(component=self.name, kind="order", allowed=decision.allowed, gate=decision.gate,
                             reason=decision.reason, environment=self.environment.value, market_time=now,
                             subject=order_subject(request, position))
        if decision.allowed and not ok:
            decision = self.log.deny_last(f"audit: {self.log.error}: an order that cannot be recorded is denied")
        if decision.allowed and position is not None and exposure_change(request, position) == "reduce":
            # the wire check (check_wire) recognizes this order as reducing by its client order id
            self._approved_reducing[request.client_order_id] = (request.symbol, request.side, request.quantity)
            while len(self._approved_reducing) > 4096:  # client order ids are single-use: drop the oldest
                self._approved_reducing.pop(next(iter(self._approved_reducing)))
        return decision

    def _decide(self, request: OrderRequest, position: float) -> Decision:
        env = self.environment
        if self.executor_kind != env.executor_kind:
            if env.simulated:
                why = f"{env} never reaches an exchange's private API: only a simulated (paper) executor may run"
            else:
                why = f"{env} runs orders through an exchange executor: a simulated executor would fake it"
            return Decision(False, "environment", f"environment: {self.executor_kind} executor in {env}: {why}")
        if env is TradingEnvironment.LIVE and not self._live_authorized():
            return Decision(False, "live_authorization",
                            "live_authorization: no valid live authorization for this config "
                            "(assert_live_allowed must pass first)")
        st = self.kill_switch.status()
        change = exposure_change(request, position)
        post = post_position(request, position)
        move = (f"{request.side} {fmt_qty(request.quantity)} {request.symbol} would {change} position "
                f"{fmt_qty(position)} → {fmt_qty(post)}")
        if self.reduce_only:  # flatten: only reducing orders, and those in every kill-switch state
            if request.reduce_only is not True or change != "reduce":
                return Decision(False, "reduce_only", f"reduce_only: {move}; this guard passes only reduce-only "
                                                      "orders that reduce a position without flipping it")
            return Decision(True, self.name, f"reduce_only ({st.state}): {change}")
        if st.state is TradingState.HALTED:
            return Decision(False, "halted", f"halted: kill switch {st.describe()}; orders are denied "
                                             f"(cancels still pass; release: peaktrade kill-switch off "
                                             f"--scope {st.scope} --confirm)")
        if st.state is TradingState.REDUCING and change != "reduce":
            return Decision(False, "reducing", f"reducing: {move}; only exposure-reducing orders pass "
                                               f"(kill switch {st.describe()})")
        if request.reduce_only and change != "reduce":
            return Decision(False, "reduce_only", f"reduce_only: {move}")
        return Decision(True, self.name, f"{st.state}: {change}")
