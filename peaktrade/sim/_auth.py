"""Kraken's API-Sign, per-key nonces and the two rate counters (REST calls; per-pair trading)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
from dataclasses import dataclass, field

#: tier → (REST counter maximum, decay per second) [Kraken docs, spot-rest-ratelimits]
REST_TIERS = {"starter": (15.0, 0.33), "intermediate": (20.0, 0.5), "pro": (20.0, 1.0)}
#: tier → (trading counter threshold per pair, decay per second) [Kraken docs, spot-ratelimits]
TRADING_TIERS = {"starter": (60.0, 1.0), "intermediate": (125.0, 2.34), "pro": (180.0, 3.75)}
#: tier → open orders per pair
OPEN_ORDER_LIMITS = {"starter": 60, "intermediate": 80, "pro": 225}
#: REST calls that cost 2 ("ledger/trade history calls"); AddOrder/CancelOrder use the trading counter
HISTORY_CALLS = frozenset({"TradesHistory", "QueryTrades", "Ledgers", "QueryLedgers"})
TRADING_CALLS = frozenset({"AddOrder", "CancelOrder", "AddOrderBatch", "CancelOrderBatch", "EditOrder",
                           "AmendOrder", "CancelAll", "CancelAllOrdersAfter"})


def api_sign(uri_path: str, body: bytes | str, nonce: str | int, secret_b64: str) -> str:
    """Return Kraken's ``API-Sign``: base64(HMAC-SHA512(b64decode(secret), path + SHA256(nonce + body)))."""
    if isinstance(body, str):
        body = body.encode()
    inner = hashlib.sha256(str(nonce).encode() + body).digest()
    mac = hmac.new(base64.b64decode(secret_b64), uri_path.encode() + inner, hashlib.sha512)
    return base64.b64encode(mac.digest()).decode()


def signature_ok(uri_path: str, body: bytes, nonce: str, secret_b64: str, given: str | None) -> bool:
    """Check ``given`` against the signature of the raw ``body`` (constant time)."""
    if not given:
        return False
    try:
        want = base64.b64decode(api_sign(uri_path, body, nonce, secret_b64))
        got = base64.b64decode(given, validate=True)
    except (binascii.Error, ValueError):
        return False
    return hmac.compare_digest(want, got)


def is_loopback(host: str | None) -> bool:
    """True only for a loopback client address (127.0.0.0/8, ::1, IPv4-mapped loopback)."""
    if not host:
        return False
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return bool((mapped or ip).is_loopback)


@dataclass
class DecayCounter:
    """A counter that decays linearly with (wall) time and refuses increments above ``limit``."""

    limit: float
    decay: float
    value: float = 0.0
    at: float | None = None

    def level(self, now: float) -> float:
        """Return the decayed value at ``now`` (and remember it)."""
        if self.at is not None:
            self.value = max(0.0, self.value - self.decay * max(0.0, now - self.at))
        self.at = now
        return self.value

    def try_add(self, cost: float, now: float) -> bool:
        """Add ``cost`` unless that would exceed the limit; return whether it was added."""
        if self.level(now) + cost > self.limit + 1e-9:
            return False
        self.value += cost
        return True


@dataclass
class KeyState:
    """Secret, last accepted nonce and counters of one API key."""

    secret: str
    tier: str = "starter"
    last_nonce: int = -1
    rest: DecayCounter = field(init=False)
    trading: dict[str, DecayCounter] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.rest = DecayCounter(*REST_TIERS[self.tier])

    def trading_counter(self, pair: str) -> DecayCounter:
        """Return the trading counter of ``pair`` (created on first use)."""
        if pair not in self.trading:
            self.trading[pair] = DecayCounter(*TRADING_TIERS[self.tier])
        return self.trading[pair]


def cancel_penalty(age_s: float) -> int:
    """Trading-counter increment of a cancel by the order's age [Kraken spot-ratelimits table]."""
    for bound, inc in ((5, 8), (10, 6), (15, 5), (45, 4), (90, 2), (300, 1)):
        if age_s < bound:
            return inc
    return 0
