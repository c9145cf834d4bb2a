"""Venue adapters: the edge of the system where exchange libraries (ccxt) are used.

Only :mod:`peaktrade.adapters.kraken` imports ccxt, and only inside its functions, so importing
this package stays cheap.
"""
