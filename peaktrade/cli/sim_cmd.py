"""``peaktrade sim-exchange serve``: the local Kraken-protocol exchange simulator."""

from __future__ import annotations

from pathlib import Path

import typer

from peaktrade.cli._common import console
from peaktrade.errors import PeakTradeError

sim_app = typer.Typer(no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add the ``sim-exchange`` command group to the root app."""
    app.add_typer(sim_app, name="sim-exchange", help="Local Kraken-protocol spot exchange simulator (loopback).")


def _say(text: str) -> None:
    console.print(text, markup=False, highlight=False, soft_wrap=True)


@sim_app.command("serve")
def serve(
    ctx: typer.Context,
    host: str = typer.Option("127.0.0.1", "--host", help="Bind address (keep it loopback)."),
    port: int = typer.Option(8765, "--port", help="TCP port (0 picks a free one)."),
    api_key: str | None = typer.Option(
        None, "--api-key",
        help="API key clients send as API-Key (default: $PEAKTRADE_SIM_API_KEY, else the documented default)."),
    api_secret_file: Path | None = typer.Option(
        None, "--api-secret-file",
        help="File holding the base64 secret that verifies API-Sign (default: $PEAKTRADE_SIM_API_SECRET, else "
             "the documented default). Never given on the command line."),
    api_secret: str | None = typer.Option(None, "--api-secret", hidden=True),
    bars: list[str] | None = typer.Option(
        None, "--bars",
        help="[PAIR=]SOURCE, repeatable: synthetic[:seed=N,n=N,tf=1m] | store:SYMBOL:TF[:EXCHANGE] | FILE "
             "(.parquet/.csv/Kraken OHLCVT). Pairs without one get seeded synthetic bars."),
    speed: float = typer.Option(1.0, "--speed", help="Bars replayed per wall second (0 freezes the clock)."),
    faults: str = typer.Option(
        "none", "--faults", help="none | latency:ms=N | flaky:seed=N,p=P[,kinds=a+b][,methods=M+N]"),
    seed: int = typer.Option(0, "--seed", help="Seed of synthetic bars, ids and the book."),
    tier: str = typer.Option("starter", "--tier", help="Rate-limit tier: starter, intermediate or pro."),
    spread_bps: float = typer.Option(2.0, "--spread-bps", help="Full bid/ask spread in basis points."),
    balance: list[str] | None = typer.Option(
        None, "--balance", help="ASSET=AMOUNT start balance (e.g. ZUSD=10000), repeatable."),
    verbose: bool = typer.Option(False, "--verbose", help="Log every request."),
    request_timeout: float = typer.Option(
        5.0, "--request-timeout", help="Seconds a client has to send a whole request (and to start the next)."),
) -> None:
    """Serve Kraken's spot REST protocol on HOST:PORT until interrupted (Ctrl-C)."""
    from peaktrade.config import load_config
    from peaktrade.data.venue_feeds import load_feeds
    from peaktrade.sim import SimExchange, ccxt_config, parse_profile, sim_credentials, start_server

    if api_secret is not None:  # argv is visible to every user of the machine (ps, /proc/*/cmdline)
        raise PeakTradeError("sim-exchange: --api-secret is refused: a secret never goes on the command line; set "
                             "PEAKTRADE_SIM_API_SECRET or give --api-secret-file PATH")
    try:
        key, secret = sim_credentials(secret_file=api_secret_file)
        api_key = api_key or key
        uses_store = any("store:" in b for b in bars or [])
        cfg = load_config((ctx.obj or {}).get("config")) if uses_store else None
        feeds = load_feeds(bars, seed=seed, config=cfg)
        balances = None
        if balance:
            balances = {}
            for item in balance:
                k, sep, v = item.partition("=")
                if not sep:
                    raise ValueError(f"--balance {item!r} is invalid: expected ASSET=AMOUNT")
                balances[k.strip()] = float(v)
        ex = SimExchange(feeds=feeds, keys={api_key: secret}, seed=seed, speed=speed, tier=tier,
                         spread_bps=spread_bps, balances=balances, faults=parse_profile(faults))
        srv = start_server(ex, host=host, port=port, verbose=verbose, request_timeout=request_timeout)
    except (ValueError, OSError) as e:
        raise PeakTradeError(f"sim-exchange: {e}") from None
    from peaktrade.sim import is_loopback

    if not is_loopback(srv.server.server_address[0]):
        _say(f"warning: bound to {host}, not loopback: the simulator is reachable from other hosts "
             "(the admin endpoint still answers loopback clients only)")
    conf = ccxt_config(srv.url, "<PEAKTRADE_SIM_API_KEY>", "<PEAKTRADE_SIM_API_SECRET>")  # never the values
    _say(f"Kraken-protocol simulator listening on {srv.url} (speed {speed} bars/s, faults {faults}, tier {tier})")
    _say(f"ccxt: ccxt.kraken({conf})")
    _say(f"admin (loopback only): GET {srv.url}/_admin/state, POST /_admin/advance|faults|speed|status|balances")
    try:
        srv.thread.join()
    except KeyboardInterrupt:
        pass
    finally:
        srv.stop()
