"""Kraken through ccxt: the ``ExchangeClient`` adapter, the one error classifier and retry loop,
capabilities, and key-less public market-data clients (Kraken, or any other ccxt exchange).

This is the only package that imports ccxt, and it does so lazily (inside functions), so
importing it stays cheap.
"""

from peaktrade.adapters.kraken._errors import classify, translate
from peaktrade.adapters.kraken._public import (
    VENUES,
    CcxtPublicClient,
    capabilities_of,
    is_unreachable,
    public_client,
    unreachable_hint,
    venue_client,
)
from peaktrade.adapters.kraken.client import (
    KRAKEN_API_URL,
    KRAKEN_CAPABILITIES,
    PUBLIC_DATA_RETRY,
    KrakenClient,
    RetryPolicy,
)

__all__ = [
    "KRAKEN_API_URL",
    "KRAKEN_CAPABILITIES",
    "PUBLIC_DATA_RETRY",
    "CcxtPublicClient",
    "VENUES",
    "KrakenClient",
    "RetryPolicy",
    "capabilities_of",
    "classify",
    "is_unreachable",
    "public_client",
    "translate",
    "unreachable_hint",
    "venue_client",
]
