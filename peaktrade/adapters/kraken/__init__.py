"""Kraken through ccxt: public (unauthenticated) client, error classification, capabilities.

This is the only package that imports ccxt, and it does so lazily (inside functions).
"""

from peaktrade.adapters.kraken._ccxt import (
    OHLCV_HISTORY_LIMIT,
    describe_error,
    is_exchange_error,
    is_rate_limit,
    is_retryable,
    public_client,
)

__all__ = [
    "OHLCV_HISTORY_LIMIT",
    "describe_error",
    "is_exchange_error",
    "is_rate_limit",
    "is_retryable",
    "public_client",
]
