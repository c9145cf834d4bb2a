"""Kraken through ccxt: the ``ExchangeClient`` adapter, error translation, capabilities, and the
public (unauthenticated) client and error classifiers of the data downloader.

This is the only package that imports ccxt, and it does so lazily (inside functions), so
importing it stays cheap.
"""

from peaktrade.adapters.kraken._ccxt import (
    OHLCV_HISTORY_LIMIT,
    describe_error,
    is_exchange_error,
    is_rate_limit,
    is_retryable,
    public_client,
)
from peaktrade.adapters.kraken._errors import classify, translate
from peaktrade.adapters.kraken.client import KRAKEN_API_URL, KRAKEN_CAPABILITIES, KrakenClient, RetryPolicy

__all__ = [
    "KRAKEN_API_URL",
    "KRAKEN_CAPABILITIES",
    "OHLCV_HISTORY_LIMIT",
    "KrakenClient",
    "RetryPolicy",
    "classify",
    "describe_error",
    "is_exchange_error",
    "is_rate_limit",
    "is_retryable",
    "public_client",
    "translate",
]
