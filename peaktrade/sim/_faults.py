"""Fault injection: one-shot faults queued through the admin endpoint, and seeded profiles."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

#: kind → what happens
KINDS = {
    "latency": "sleep `ms` before handling the request (a client timeout sees RequestTimeout)",
    "drop": "handle the request (an order IS applied), then close the connection without a response",
    "error_after": "handle the request (an order IS applied), then answer HTTP `status` (default 502)",
    "http_error": "answer HTTP `status` (default 503; 520 is Cloudflare's) without handling the request",
    "unavailable": "answer HTTP 200 {'error': ['EService:Unavailable']} without handling the request",
    "rate_limit": "answer HTTP 200 {'error': ['EAPI:Rate limit exceeded']} without handling the request",
    "invalid_nonce": "answer HTTP 200 {'error': ['EAPI:Invalid nonce']} without handling the request",
}
#: ``fill_<kind>``: first fill the open order the request names (``txid`` / ``cl_ord_id``, e.g. of a
#: CancelOrder) at its limit price, as if the market crossed it, then act as ``<kind>`` — an order
#: that fills while the client backs off after a rate limit / 5xx / unavailable answer.
FILL_PREFIX = "fill_"
KINDS.update({f"{FILL_PREFIX}{k}": f"fill the named open order, then: {KINDS[k]}"
              for k in ("rate_limit", "unavailable", "http_error", "drop", "invalid_nonce")})
_DEFAULT_STATUS = {"error_after": 502, "http_error": 503}


@dataclass
class Fault:
    """One fault: its kind, the Kraken methods it applies to (None: all), how many times, details."""

    kind: str
    methods: frozenset[str] | None = None
    count: int = 1
    status: int = 0
    ms: int = 0
    fill: bool = False  # fill the order the request names before acting (see FILL_PREFIX)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"fault kind={self.kind!r} is invalid: expected one of {', '.join(KINDS)}")
        if self.kind.startswith(FILL_PREFIX):
            self.kind, self.fill = self.kind[len(FILL_PREFIX):], True
        if not self.status:
            self.status = _DEFAULT_STATUS.get(self.kind, 0)
        if self.kind == "latency" and self.ms <= 0:
            self.ms = 1000

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Fault:
        """Build a fault from admin JSON ``{"kind", "methods"?, "count"?, "status"?, "ms"?}``."""
        unknown = set(d) - {"kind", "methods", "count", "status", "ms"}
        if unknown:
            raise ValueError(f"unknown fault field(s): {', '.join(sorted(unknown))}")
        methods = d.get("methods")
        if isinstance(methods, str):
            methods = [methods]
        return cls(str(d.get("kind")), frozenset(methods) if methods else None, int(d.get("count", 1)),
                   int(d.get("status", 0)), int(d.get("ms", 0)))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": (FILL_PREFIX if self.fill else "") + self.kind,
                "methods": sorted(self.methods) if self.methods else None,
                "count": self.count, "status": self.status, "ms": self.ms}


def fill_named_order(exchange: Any, body: bytes, content_type: str) -> int:
    """Fill the open order(s) a request body names by ``txid`` or ``cl_ord_id`` at their limit price
    (maker); return how many. Call with ``exchange.lock`` held."""
    from peaktrade.sim._book import KrakenError
    from peaktrade.sim._rest import parse_body

    try:
        params = parse_body(body, content_type)
    except KrakenError:
        return 0
    txid, cl = str(params.get("txid") or ""), str(params.get("cl_ord_id") or "")
    hits = [o for o in exchange.orders.values() if o.status == "open" and o.price is not None
            and ((txid and o.txid == txid) or (cl and o.cl_ord_id == cl))]
    for o in hits:
        exchange._fill(o, o.price, maker=True)
    return len(hits)


@dataclass
class Profile:
    """A named seeded schedule: each request draws a fault with probability ``p``."""

    name: str = "none"
    seed: int = 0
    p: float = 0.0
    kinds: tuple[str, ...] = ()
    ms: int = 0
    methods: frozenset[str] | None = None
    statuses: tuple[int, ...] = ()  # HTTP statuses drawn for http_error / error_after (default: theirs)
    rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def draw(self, method: str) -> Fault | None:
        """Return the fault of this request, if any (deterministic for a given request order)."""
        if self.name == "none" or (self.methods and method not in self.methods):
            return None
        if self.name == "latency":
            return Fault("latency", ms=self.ms)
        if self.rng.random() >= self.p:
            return None
        kind = self.rng.choice(self.kinds)
        status = self.rng.choice(self.statuses) if self.statuses and "error" in kind else 0
        return Fault(kind, ms=self.ms, status=status)


_FLAKY_KINDS = ("drop", "error_after", "http_error", "unavailable", "rate_limit", "invalid_nonce")


def parse_profile(spec: str | None) -> Profile:
    """Parse ``none``, ``latency:ms=200`` or
    ``flaky:seed=1,p=0.2[,kinds=drop+rate_limit][,methods=AddOrder][,statuses=401+422+502]``."""
    spec = (spec or "none").strip()
    name, _, rest = spec.partition(":")
    opts: dict[str, str] = {}
    for item in filter(None, (x.strip() for x in rest.split(","))):
        k, sep, v = item.partition("=")
        if not sep:
            raise ValueError(f"faults {spec!r} is invalid: {item!r} is not NAME=VALUE")
        opts[k.strip()] = v.strip()
    allowed = {"none": set(), "latency": {"ms", "methods"},
               "flaky": {"seed", "p", "kinds", "ms", "methods", "statuses"}}
    if name not in allowed:
        raise ValueError(f"faults {spec!r} is invalid: expected a profile none, latency or flaky")
    bad = set(opts) - allowed[name]
    if bad:
        raise ValueError(f"faults {spec!r} is invalid: unknown option(s) {', '.join(sorted(bad))} for {name}")
    try:
        kinds = tuple(opts["kinds"].split("+")) if "kinds" in opts else _FLAKY_KINDS
        for k in kinds:
            Fault(k)
        p = float(opts.get("p", 0.1))
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p={p} is not in [0, 1]")
        methods = frozenset(opts["methods"].split("+")) if "methods" in opts else None
        statuses = tuple(int(x) for x in opts["statuses"].split("+")) if "statuses" in opts else ()
        if any(not 400 <= x <= 599 for x in statuses):
            raise ValueError(f"statuses={opts['statuses']} must be HTTP error statuses 400..599")
        return Profile(name, int(opts.get("seed", 0)), p, kinds,
                       int(opts.get("ms", 1000 if name == "latency" else 3000)), methods, statuses)
    except ValueError as e:
        raise ValueError(f"faults {spec!r} is invalid: {e}") from None


class FaultPlan:
    """Faults queued by the admin endpoint (first match wins) over the profile's draws."""

    def __init__(self, profile: Profile | None = None) -> None:
        self.profile = profile or Profile()
        self.queue: list[Fault] = []
        self.injected: list[dict[str, Any]] = []

    def add(self, fault: Fault) -> None:
        self.queue.append(fault)

    def clear(self) -> None:
        self.queue.clear()

    def pick(self, method: str) -> Fault | None:
        """Return the fault for this request of ``method`` (consuming a queued one)."""
        for f in self.queue:
            if f.methods is None or method in f.methods:
                f.count -= 1
                if f.count <= 0:
                    self.queue.remove(f)
                self.injected.append({"method": method, **f.to_dict()})
                return f
        f = self.profile.draw(method)
        if f is not None:
            self.injected.append({"method": method, **f.to_dict()})
        return f
