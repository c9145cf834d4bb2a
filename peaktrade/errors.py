"""One exception hierarchy: every user-facing error is a :class:`PeakTradeError`."""

from __future__ import annotations


class PeakTradeError(Exception):
    """Base of every error peaktrade raises on purpose; the CLI prints it as one line."""


class ConfigError(PeakTradeError, ValueError):
    """A configuration file, value or environment override is invalid."""


class DataError(PeakTradeError, ValueError):
    """Market data is missing, malformed or violates the bars contract."""


class StrategyError(PeakTradeError, ValueError):
    """A strategy name or parameter is unknown or out of its valid range."""


class IndicatorError(PeakTradeError, ValueError):
    """An indicator was called with invalid input or options."""


class BacktestError(PeakTradeError, ValueError):
    """A backtest or sweep was called with invalid options."""


def a_an(word: str) -> str:
    """``word`` with its indefinite article: ``a float``, ``an int`` (by the first letter's sound)."""
    return f"{'an' if word[:1].lower() in 'aeio' else 'a'} {word}"


def bad_value(name: str, value: object, expected: str) -> str:
    """Format the standard message for an invalid argument: name, value, expectation."""
    return f"{name}={value!r} is invalid: expected {expected}"
