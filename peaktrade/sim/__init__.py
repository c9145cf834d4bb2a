"""Local Kraken-protocol spot exchange simulator (HTTP, loopback) with fault injection.

Unmodified ccxt talks to it over real HTTP::

    import ccxt
    from peaktrade.sim import SimExchange, ccxt_config, serve_in_thread

    with serve_in_thread(keys={"K": "c2VjcmV0"}) as sim:
        ex = ccxt.kraken(ccxt_config(sim.url, "K", "c2VjcmV0"))
        ex.load_markets()

See ``docs/simulator.md``. Importing this package does not import ccxt (nor need it).
"""

from __future__ import annotations

from peaktrade.sim._auth import api_sign, is_loopback
from peaktrade.sim._book import KrakenError
from peaktrade.sim._credentials import (
    DEFAULT_SIM_API_KEY,
    DEFAULT_SIM_API_SECRET,
    SIM_KEY_VAR,
    SIM_SECRET_VAR,
    key_label,
    sim_credentials,
)
from peaktrade.sim._faults import KINDS as FAULT_KINDS
from peaktrade.sim._faults import Fault, parse_profile
from peaktrade.sim._market import ASSETS, PAIRS, Feed, resolve_pair, synthetic_feeds
from peaktrade.sim._rest import SimExchange
from peaktrade.sim._server import SimServer, admin_allowed, ccxt_config, serve_in_thread, start_server

__all__ = [
    "DEFAULT_SIM_API_KEY", "DEFAULT_SIM_API_SECRET", "SIM_KEY_VAR", "SIM_SECRET_VAR", "key_label", "sim_credentials",
    "ASSETS", "FAULT_KINDS", "PAIRS", "Fault", "Feed", "KrakenError", "SimExchange", "SimServer",
    "admin_allowed", "api_sign", "ccxt_config", "is_loopback", "parse_profile", "resolve_pair",
    "serve_in_thread", "start_server", "synthetic_feeds",
]
