"""Trading environments, trading states and executor kinds."""

from __future__ import annotations

from enum import Enum

from peaktrade.safety._errors import SafetyError

#: Executor kinds a SafetyGuard knows: simulated fills, or an exchange adapter (real HTTP).
EXECUTOR_KINDS = ("paper", "exchange")


class TradingEnvironment(str, Enum):
    """Where orders go. ``paper`` (the default) and ``shadow`` never reach an exchange's private API."""

    PAPER = "paper"  # stored or live bars, simulated fills
    SHADOW = "shadow"  # live market data, simulated fills
    TESTNET = "testnet"  # an exchange adapter, testnet / loopback / validate-only endpoints only
    LIVE = "live"  # real orders, real money: every live gate must be open

    def __str__(self) -> str:
        return self.value

    @classmethod
    def default(cls) -> TradingEnvironment:
        """Return the default environment (paper)."""
        return cls.PAPER

    @classmethod
    def parse(cls, value: str | TradingEnvironment) -> TradingEnvironment:
        """Return the environment named ``value``; raise :class:`SafetyError` naming it when unknown."""
        if isinstance(value, cls):
            return value
        try:
            return cls(str(value).strip().lower())
        except ValueError:
            names = ", ".join(e.value for e in cls)
            raise SafetyError(f"environment={value!r} is invalid: expected one of {names}") from None

    @property
    def simulated(self) -> bool:
        """Return whether fills are simulated (paper, shadow): no private exchange API at all."""
        return self in (TradingEnvironment.PAPER, TradingEnvironment.SHADOW)

    @property
    def executor_kind(self) -> str:
        """Return the executor kind this environment requires (``"paper"`` or ``"exchange"``)."""
        return "paper" if self.simulated else "exchange"


class TradingState(str, Enum):
    """What the safety gate lets through: everything, only exposure-reducing orders, or no orders."""

    ACTIVE = "active"
    REDUCING = "reducing"
    HALTED = "halted"

    def __str__(self) -> str:
        return self.value

    @property
    def rank(self) -> int:
        """Return how restrictive the state is (0 active, 1 reducing, 2 halted)."""
        return ("active", "reducing", "halted").index(self.value)


def parse_executor_kind(kind: str) -> str:
    """Return ``kind`` when it is a known executor kind; raise :class:`SafetyError` naming it otherwise."""
    if kind not in EXECUTOR_KINDS:
        raise SafetyError(f"executor_kind={kind!r} is invalid: expected one of {', '.join(EXECUTOR_KINDS)}")
    return kind
