"""Errors of the safety layer (both are :class:`~peaktrade.errors.PeakTradeError`: the CLI prints one line)."""

from __future__ import annotations

from peaktrade.errors import PeakTradeError


class SafetyError(PeakTradeError):
    """The safety layer refuses an action (bad environment, unconfirmed reset, mismatched executor)."""


class LiveGateClosed(SafetyError):
    """Live trading was asked for while a live gate is closed; the message names the first closed gate."""

    def __init__(self, gate: str, detail: str) -> None:
        self.gate = gate
        self.detail = detail
        super().__init__(f"live trading refused: gate '{gate}' is closed: {detail}")
