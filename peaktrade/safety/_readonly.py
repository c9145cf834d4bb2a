"""ReadOnlyGuard: the guard of ``peaktrade live readiness``, which reads the live account before any live
authorization exists (readiness is one of the gates that grants it).

It lets through public requests and the private requests of :data:`READ_ONLY_METHODS` (balances, orders,
trades, and the dead-man switch, which can only take orders away) to a ``[live] hosts`` host over TLS, and
nothing else: every order check and every order-placing request at the wire is denied, whatever the kill
switch says. A test stands a loopback simulator in for the venue with ``stand_in_host`` (only code can pass
it, see :mod:`peaktrade.live.readiness`): then that loopback host is the only host reachable.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from peaktrade.adapters.hosts import is_loopback_host, live_venue_of, normalize_host
from peaktrade.execution.pipeline import Decision
from peaktrade.safety._audit import DecisionLog
from peaktrade.safety._guard import SafetyGuard, endpoint_host
from peaktrade.safety._kill_switch import KillSwitch

if TYPE_CHECKING:
    from peaktrade.config import Config

#: Private Kraken methods that read the account or only take orders away (CancelAllOrdersAfter).
READ_ONLY_METHODS = frozenset({"Balance", "BalanceEx", "OpenOrders", "ClosedOrders", "QueryOrders", "TradesHistory",
                               "CancelAllOrdersAfter"})


class ReadOnlyGuard(SafetyGuard):
    """A live guard that reads and never trades (see the module docstring)."""

    name = "ReadOnlyGuard"

    def __init__(self, config: Config, *, stand_in_host: str | None = None) -> None:
        log = DecisionLog.from_config(config)
        super().__init__("live", executor_kind="exchange", kill_switch=KillSwitch(config.state_dir, "live", log=log),
                         log=log, config_hash=config.config_hash(), live_hosts=config.live.hosts,
                         max_price_deviation=config.risk.max_price_deviation)
        self.stand_in_host: str | None = None
        if stand_in_host is not None:
            host = normalize_host(stand_in_host)
            if not is_loopback_host(host) or live_venue_of(host) is not None:
                raise ValueError(f"stand_in_host={host!r} is invalid: expected a loopback host (127.0.0.0/8, ::1, "
                                 "localhost)")
            self.stand_in_host = host
            self.live_hosts = frozenset({host})  # the stand-in replaces every live host: nothing else is reachable

    def allows_private_api(self) -> bool:
        return True  # read-only methods only: see _endpoint

    def _endpoint(self, url: str, private: bool, validate_only: bool) -> Decision:
        parsed = endpoint_host(url)
        if parsed is None:
            return Decision(False, "endpoint", f"endpoint: {url!r} is not an http(s)/ws(s) URL with a host")
        scheme, host = parsed
        if host not in self.live_hosts:
            return Decision(False, "live_endpoint", f"live_endpoint: host {host} is not in [live] hosts")
        if scheme not in ("https", "wss") and host != self.stand_in_host:
            return Decision(False, "live_endpoint", f"live_endpoint: {scheme}:// is not encrypted; use https/wss")
        if not private:
            return Decision(True, "read_only", f"public request to {host}")
        method = urlsplit(str(url)).path.rstrip("/").rsplit("/", 1)[-1]
        if method not in READ_ONLY_METHODS:
            return Decision(False, "read_only", f"read_only: {method or 'this request'} is not a read-only "
                                                "request (readiness never trades)")
        return Decision(True, "read_only", f"read-only {method} to {host}")

    def check_wire(self, operation: str, **kw: object) -> Decision:  # type: ignore[override]
        """Deny every order-placing request (cancels never reach here: the adapter asks only for placing ones)."""
        d = Decision(False, "read_only", f"read_only: {operation} not sent: a readiness check never trades")
        self.log.record(component=self.name, kind="wire", allowed=False, gate=d.gate, reason=d.reason,
                        environment=self.environment.value, subject={"operation": operation})
        return d

    def _decide(self, request: object, position: float) -> Decision:  # type: ignore[override]
        return Decision(False, "read_only", "read_only: a readiness check never trades")
