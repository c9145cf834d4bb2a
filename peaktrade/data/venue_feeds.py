"""Turn ``--bars`` specifications (bar store, files, synthetic) into price feeds for the exchange simulator.

The simulator (an edge) replays any OHLC(V) frame (:meth:`peaktrade.sim.Feed.from_frame`) and has its own
seeded market for pairs without one; reading the bar store and bar files is the data layer's job, so the
glue from specs to frames to feeds lives here.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from peaktrade.data._api import load_bars
from peaktrade.data.kraken_csv import read_kraken_ohlcvt
from peaktrade.data.schema import timeframe_to_minutes, validate_bars
from peaktrade.sim import PAIRS, Feed, resolve_pair, synthetic_feeds

if TYPE_CHECKING:
    from peaktrade.config import Config


def _frame_from_file(path: Path) -> pd.DataFrame:
    name = path.name.lower()
    if name.endswith(".parquet"):
        df = pd.read_parquet(path)
    elif name.endswith((".csv", ".csv.gz", ".zip")):
        with open(path, "rb") as fh:
            head = fh.read(2)
        headerless = name.endswith(".zip") or head[:1].isdigit() or head == b"\x1f\x8b"
        if headerless:  # Kraken's OHLCVT download format
            return read_kraken_ohlcvt(path)
        df = pd.read_csv(path)
    else:
        raise ValueError(f"bars file {str(path)!r} is invalid: expected .parquet, .csv, .csv.gz or Kraken's .zip")
    if not isinstance(df.index, pd.DatetimeIndex):
        col = next((c for c in ("time", "timestamp", "date", "datetime") if c in df.columns), None)
        if col is None:
            raise ValueError(f"bars file {str(path)!r} has no DatetimeIndex and no time/timestamp column")
        s = df.pop(col)
        unit = "ms" if pd.api.types.is_numeric_dtype(s) and s.max() > 1e11 else "s"
        idx = pd.to_datetime(s, unit=unit if pd.api.types.is_numeric_dtype(s) else None, utc=True)
        df.index = pd.DatetimeIndex(idx)
    if df.index.tz is None:
        df.index = df.index.tz_localize("UTC")
    return validate_bars(df, name=str(path))


def load_feeds(specs: list[str] | None, *, seed: int = 0, config: Config | None = None) -> dict[str, Feed]:
    """Build feeds from ``[PAIR=]SOURCE`` specs; pairs without a spec get seeded synthetic bars.

    ``SOURCE`` is ``synthetic[:seed=N,n=N,tf=1m]`` (the simulator's seeded market,
    :func:`peaktrade.sim.synthetic_feeds`; history up to two weeks before now),
    ``store:SYMBOL:TIMEFRAME[:EXCHANGE]`` (the
    peaktrade bar store, via :func:`peaktrade.data.load_bars`) or a file (``.parquet``, ``.csv``
    with a header and a time column, or Kraken's headerless OHLCVT ``.csv``/``.csv.gz``/``.zip``).
    Without ``PAIR=`` a spec is for BTC/USD. Every file-backed pair must share one bar interval.
    """
    feeds: dict[str, Feed] = {}
    synth_opts: dict[str, Any] = {}
    for spec in specs or []:
        pair_name, sep, source = spec.partition("=")
        # a PAIR= prefix is a name without ':' (sources like synthetic:seed=1 contain '=' too)
        if not sep or ":" in pair_name or pair_name.startswith(("/", ".", "~")):
            pair_name, source = "BTC/USD", spec
        pid = resolve_pair(pair_name.strip())
        if pid is None:
            raise ValueError(f"bars {spec!r} is invalid: unknown pair {pair_name!r} (known: {', '.join(PAIRS)})")
        source = source.strip()
        if source.startswith("synthetic"):
            _, _, rest = source.partition(":")
            for item in filter(None, rest.split(",")):
                k, s2, v = item.partition("=")
                if not s2 or k not in ("seed", "n", "tf"):
                    raise ValueError(f"bars {spec!r} is invalid: synthetic options are seed=, n=, tf=")
                synth_opts[k] = v if k == "tf" else int(v)
            continue
        if source.startswith("store:"):
            bits = source.split(":")
            if len(bits) not in (3, 4):
                raise ValueError(f"bars {spec!r} is invalid: expected store:SYMBOL:TIMEFRAME[:EXCHANGE]")
            frame = load_bars(bits[1], bits[2], exchange=bits[3] if len(bits) == 4 else None, config=config)
        else:
            path = Path(source).expanduser()
            if not path.exists():
                raise ValueError(f"bars {spec!r} is invalid: no such file {str(path)!r}")
            frame = _frame_from_file(path)
        feeds[pid] = Feed.from_frame(frame)
    if len({f.interval for f in feeds.values()}) > 1:
        raise ValueError("bars of different intervals were given: use one timeframe for every pair")
    if feeds:
        ref = next(iter(feeds.values()))
        start = pd.Timestamp(int(ref.t[0]), unit="s", tz="UTC")
        rest = synthetic_feeds(seed=int(synth_opts.get("seed", seed)), n=len(ref.t), interval=ref.interval,
                               start=start)
        for pid in PAIRS:
            feeds.setdefault(pid, rest[pid])
        return feeds
    interval = timeframe_to_minutes(str(synth_opts.pop("tf", "1m"))) * 60
    return synthetic_feeds(**{"seed": seed, **synth_opts, "interval": interval})
