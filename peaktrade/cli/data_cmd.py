"""``peaktrade data``: import, download, list, show and audit stored market data."""

from __future__ import annotations

import time

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from peaktrade.cli._common import console, err_console, load_cfg, print_json, quality_value
from peaktrade.errors import PeakTradeError

app = typer.Typer(no_args_is_help=True)


def _say(text: str) -> None:
    """Print a line of plain text without hard wrapping (keeps output greppable)."""
    console.print(text, soft_wrap=True, highlight=False, markup=False)


def _warn(text: str) -> None:
    err_console.print(f"[yellow]warning:[/] {escape(text)}", soft_wrap=True, highlight=False)


def _when(ts) -> str:
    return "-" if ts is None else f"{ts:%Y-%m-%d %H:%M}"


def _gap_line(report) -> str:
    if report.n_gaps == 0:
        return "no gaps"
    return (
        f"{report.n_gaps:,} holes, {report.missing_bars:,} missing bars, longest {report.longest:,} bars "
        f"({_when(report.longest_start)} → {_when(report.longest_end)} UTC)"
    )


@app.command("import")
def import_(
    ctx: typer.Context,
    path: str = typer.Argument(..., help="Kraken OHLCVT file (.csv, .csv.gz, .zip) or any exchange's CSV or Parquet."),
    symbol: str = typer.Option(..., "--symbol", "-s", help="Pair, e.g. BTC/USD (chooses a Kraken zip member)."),
    timeframe: str = typer.Option(..., "--timeframe", "-t", help="Bar interval of the file, e.g. 1h."),
    exchange: str | None = typer.Option(
        None, "--exchange", "-e", help="Exchange name of the data set (required except for Kraken's files)."
    ),
    fmt: str | None = typer.Option(
        None, "--format", "-f", help="auto (default), csv, parquet or kraken (Kraken's OHLCVT layout)."
    ),
    columns: str | None = typer.Option(
        None, "--columns", help="FIELD=COLUMN,... e.g. time=Date,open=Open,volume=Vol (names or 1-based positions; "
        "unmapped fields are found by name)."
    ),
    time_format: str | None = typer.Option(
        None, "--time-format", help="auto (default), s, ms, us, ns, iso or a strptime format like '%Y-%m-%d %H:%M'."
    ),
    timezone: str | None = typer.Option(
        None, "--timezone", help="Zone of times without an offset, e.g. Europe/Berlin or +02:00 (default UTC)."
    ),
    delimiter: str | None = typer.Option(None, "--delimiter", help="CSV field separator (default: detected)."),
    header: bool | None = typer.Option(
        None, "--header/--no-header", help="Whether the first CSV line names the columns (default: detected)."
    ),
    skip_rows: int | None = typer.Option(None, "--skip-rows", help="CSV lines to skip before the header or data."),
    no_volume: bool = typer.Option(False, "--no-volume", help="The file has no volume column: store volume 0."),
    format_file: str | None = typer.Option(
        None, "--format-file", help="TOML file with these options (and a \\[columns] table); options given here override it."
    ),
) -> None:
    """Import bars into the store: Kraken's OHLCVT files or any exchange's CSV/Parquet (idempotent; merges)."""
    from pathlib import Path

    from peaktrade.data import BarStore, FileFormat, audit_gaps
    from peaktrade.data._api import _import_file
    from peaktrade.data.ohlcv_file import format_from_options

    cfg = load_cfg(ctx.obj)
    base = FileFormat.from_toml(format_file) if format_file else None
    file_format = format_from_options(
        base=base, kind=fmt, columns=columns, time_format=time_format, timezone=timezone, delimiter=delimiter,
        header=header, skip_rows=skip_rows, no_volume=no_volume or None,
    )
    t0 = time.perf_counter()
    m, read_as = _import_file(path, symbol=symbol, timeframe=timeframe, exchange=exchange, file_format=file_format,
                              config=cfg)
    took = time.perf_counter() - t0
    c = m.changes
    read = c.added + c.updated + c.unchanged
    _say(
        f"Imported {Path(path).name} into {m.exchange} {m.symbol} {m.timeframe} "
        f"(gap policy: {cfg.data.gaps}) in {took:.2f} s"
    )
    _say(f"  read as: {read_as}")
    _say(f"  bars read: {read:,}   added: {c.added:,}   updated: {c.updated:,}   unchanged: {c.unchanged:,}")
    if not c.changed:
        _say("  nothing changed: the store already holds these bars")
    for note in c.notes:
        _warn(note)
    bars = BarStore(cfg.data_dir).read(m.exchange, m.symbol, m.timeframe)
    _say(f"  stored: {m.rows:,} bars, {_when(m.first)} → {_when(m.last)} UTC")
    _say(f"  gaps: {_gap_line(audit_gaps(bars, m.timeframe))}")
    _say(f"  fingerprint: {m.fingerprint}")


#: ``--venue``/``--sim-url``, shared with the session commands: public bars from the exchange or the simulator.
VENUE_OPTION = typer.Option("exchange", "--venue", help="Where bars come from: 'exchange' (its public API) or "
                            "'sim' (the local simulator, `peaktrade sim-exchange serve`; offline).")
SIM_URL_OPTION = typer.Option(None, "--sim-url", help="With --venue sim: the simulator's URL "
                              "(default [testnet] sim_url, http://127.0.0.1:8765).")
#: The store's exchange name of bars downloaded from the simulator.
SIM_EXCHANGE = "sim"


@app.command("download")
def download(
    ctx: typer.Context,
    symbol: str = typer.Option(..., "--symbol", "-s", help="Pair in ccxt notation, e.g. BTC/USD."),
    timeframe: str = typer.Option("1h", "--timeframe", "-t", help="Candle interval, e.g. 1h."),
    exchange: str | None = typer.Option(
        None, "--exchange", "-e", help="ccxt exchange id (default: [data] exchange)."
    ),
    since: str | None = typer.Option(None, "--since", help="First bar wanted, e.g. 2024-01-01 (default: resume)."),
    limit: int | None = typer.Option(
        None, "--limit", help="Candles per request (default: the most the exchange serves per request)."
    ),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
    venue: str = VENUE_OPTION,
    sim_url: str | None = SIM_URL_OPTION,
) -> None:
    """Download finished candles from the exchange's public API into the store (incremental)."""
    from peaktrade.adapters.kraken import is_unreachable, public_client, unreachable_hint, venue_client
    from peaktrade.data import BarStore, download_ohlcv

    cfg = load_cfg(ctx.obj)
    sim_url = sim_url or cfg.testnet.sim_url
    # the simulator's bars are stored apart from the exchange's (they are not market history)
    exchange = exchange or (SIM_EXCHANGE if venue == "sim" else cfg.data.exchange)
    client = (public_client(exchange_id=exchange) if venue == "exchange"
              else venue_client(venue, exchange=exchange, sim_url=sim_url))
    try:
        report = download_ohlcv(
            client, symbol, timeframe, store=BarStore(cfg.data_dir), exchange=exchange,
            since=since, limit=limit, progress=progress,
        )
    except PeakTradeError as e:
        if not is_unreachable(e):
            raise
        raise PeakTradeError(f"{e}; {unreachable_hint(venue, sim_url=sim_url)}") from e
    if report.warning:
        _warn(report.warning)
    _say(
        f"Downloaded {report.exchange} {report.symbol} {report.timeframe} from {_when(report.start)} UTC: "
        f"{report.pages} requests, {report.fetched:,} candles received, "
        f"{report.added:,} bars added, {report.updated:,} updated"
        + (f", {report.unfinished} unfinished candle(s) skipped" if report.unfinished else "")
    )
    m = report.manifest
    if m is not None:
        _say(f"  stored: {m.rows:,} bars, {_when(m.first)} → {_when(m.last)} UTC; fingerprint {m.fingerprint[:16]}")
        for note in (m.changes.notes if m.changes else ()):
            _warn(note)
    else:
        _say("  nothing stored: no finished candle was available")


@app.command("list")
def list_(ctx: typer.Context) -> None:
    """List the stored data sets."""
    from peaktrade.data import BarStore

    cfg = load_cfg(ctx.obj)
    store = BarStore(cfg.data_dir)
    sets = store.datasets()
    if not sets:
        _say(
            f"No data sets in {store.root}. "
            "Import one with `peaktrade data import PATH --symbol BTC/USD --timeframe 1h`."
        )
        return
    table = Table(
        title=f"Data sets in {store.root}", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False,
        padding=(0, 1, 0, 0), show_edge=False,
    )
    for col, justify in (
        ("exchange", "left"), ("symbol", "left"), ("tf", "left"), ("rows", "right"), ("first", "left"),
        ("last", "left"), ("holes", "right"), ("synth", "left"), ("sha256", "left"),
    ):
        table.add_column(col, justify=justify, no_wrap=True)
    for m in sets:
        table.add_row(
            m.exchange, m.symbol, m.timeframe, f"{m.rows:,}", f"{m.first:%Y-%m-%d}", f"{m.last:%Y-%m-%d}",
            f"{m.gaps['n_gaps']:,}", "yes" if m.synthetic else "no", m.fingerprint[:10],
        )
    console.print(table)


@app.command("show")
def show(
    ctx: typer.Context,
    symbol: str = typer.Argument(..., help="Pair, e.g. BTC/USD."),
    timeframe: str = typer.Argument(..., help="Bar interval, e.g. 1h (coarser ones are resampled)."),
    exchange: str | None = typer.Option(None, "--exchange", "-e", help="Exchange (default: [data] exchange)."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Show rows, range, gaps, return statistics and fingerprint of a data set."""
    from peaktrade.data import BarStore, load_bars, quality_summary

    cfg = load_cfg(ctx.obj)
    exchange = exchange or cfg.data.exchange
    bars = load_bars(symbol, timeframe, exchange=exchange, config=cfg)
    summary = quality_summary(bars, timeframe)
    store = BarStore(cfg.data_dir)
    if store.exists(exchange, symbol, timeframe):
        m = store.manifest(exchange, symbol, timeframe)
        summary.update(sources=list(m.sources), synthetic=m.synthetic, updated_at=f"{m.updated_at:%Y-%m-%dT%H:%M:%SZ}")
    else:
        summary.update(sources=["resampled on the fly"], synthetic=exchange.lower() == "synthetic")
    if as_json:
        print_json(summary)
        return
    title = f"{exchange.lower()} {symbol.upper()} {summary['timeframe']}"
    table = Table(title=title, title_justify="left", show_header=False)
    table.add_column("key", style="bold")
    table.add_column("value", overflow="fold")
    for key, value in summary.items():
        table.add_row(key, quality_value(key, value))
    console.print(table)


@app.command("audit")
def audit(
    ctx: typer.Context,
    symbol: str = typer.Argument(..., help="Pair, e.g. BTC/USD."),
    timeframe: str = typer.Argument(..., help="Bar interval, e.g. 1h."),
    exchange: str | None = typer.Option(None, "--exchange", "-e", help="Exchange (default: [data] exchange)."),
    limit: int = typer.Option(20, "--limit", "-n", help="Holes to list (0: all)."),
    order: str = typer.Option("longest", "--order", help="List the holes by 'longest' first or by 'time'."),
) -> None:
    """Print the gap audit of a data set: summary and a table of holes."""
    from peaktrade.data import audit_gaps, load_bars

    if order not in ("longest", "time"):
        raise PeakTradeError(f"--order {order!r} is invalid: expected 'longest' or 'time'")
    if limit < 0:
        raise PeakTradeError(f"--limit {limit} is invalid: expected 0 (all) or a positive number")
    cfg = load_cfg(ctx.obj)
    exchange = exchange or cfg.data.exchange
    bars = load_bars(symbol, timeframe, exchange=exchange, config=cfg)
    report = audit_gaps(bars, timeframe)
    _say(
        f"{exchange.lower()} {symbol.upper()} {report.timeframe}: {report.rows:,} bars, {_gap_line(report)}"
    )
    if report.n_gaps == 0:
        return
    holes = report.table
    if order == "longest":
        holes = holes.sort_values(["missing", "start"], ascending=[False, True], kind="stable")
    shown = holes if limit == 0 else holes.head(limit)
    title = f"{len(shown):,} of {report.n_gaps:,} holes" + (" (longest first)" if order == "longest" else "")
    table = Table(title=title, title_justify="left")
    table.add_column("first missing (UTC)")
    table.add_column("last missing (UTC)")
    table.add_column("missing bars", justify="right")
    for row in shown.itertuples(index=False):
        table.add_row(_when(row.start), _when(row.end), f"{row.missing:,}")
    console.print(table)


def register(root: typer.Typer) -> None:
    """Add the ``data`` group to the root app."""
    root.add_typer(app, name="data", help="Import, download, list and inspect market data.")
