"""Scale-out benchmark (issue 18 item 3): one 20,000-combination MA-crossover sweep on real BTC hourly bars, in
process (``--cluster local``) and on Dask LocalClusters of 1 and 2 worker processes (``local:1``, ``local:2``).

Reported per backend: the cluster's start (processes, imports, kernels loaded from the numba cache: paid once per
cluster, not per sweep), the sweep's wall time (best of ``--repeat``), bar-combinations per second, and the largest
difference of any table cell from the in-process table (must be <= 1e-12). For ``local:2`` also the same sweep
written to an empty chunk cache and read back from it (a resumed sweep whose every chunk was done).

    python benchmarks/scale.py                    # all 70,253 bars, 20,000 combinations, chunks of 1,000
    python benchmarks/scale.py --bars 20000 --repeat 3 --chunk 500
Writes benchmarks/results/scale.json (git-ignored). Exits 0 with "SKIP: ..." when the data file is absent.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import BENCH_DIR, DATA_FILE, FEES, INIT_CASH, load_bars, loadavg  # noqa: E402

#: fast 2..201 × slow 210..309: 20,000 combinations, every fast < every slow (none skipped)
GRID = {"fast": range(2, 202), "slow": range(210, 310)}
OPTS = {"fees": FEES, "slippage": 0.0, "init_cash": INIT_CASH, "execution": "close"}


def _max_diff(a, b) -> float:
    import numpy as np

    x, y = a.to_numpy(dtype=float), b.to_numpy(dtype=float)
    both = np.isfinite(x) & np.isfinite(y)
    if not (np.isnan(x) == np.isnan(y)).all():
        return float("inf")
    return float(np.abs(x[both] - y[both]).max(initial=0.0))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bars", type=int, default=None, help="keep the last N bars (default: all)")
    ap.add_argument("--repeat", type=int, default=1, help="timed runs per backend (the best is reported)")
    ap.add_argument("--chunk", type=int, default=1000, help="combinations per task")
    ap.add_argument("--workers", default="1,2", help="LocalCluster sizes to measure (default 1,2)")
    args = ap.parse_args()
    if not DATA_FILE.is_file():
        print(f"SKIP: {DATA_FILE} not found")
        return 0
    from peaktrade import compute
    from peaktrade.backtest import sweep

    bars, data = load_bars(DATA_FILE, args.bars)
    n_combos = len(GRID["fast"]) * len(GRID["slow"])
    work = n_combos * len(bars)
    out: dict = {"data": data, "combinations": n_combos, "chunk": args.chunk, "cores": compute.cores(),
                 "loadavg_start": loadavg(), "backends": {}}
    sweep("ma_crossover", bars.iloc[:500], fast=[5], slow=[50], **OPTS)  # warm-up: kernels from the cache
    best, ref = float("inf"), None
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        ref = sweep("ma_crossover", bars, **OPTS, **GRID)
        best = min(best, time.perf_counter() - t0)
    out["backends"]["local"] = {"sweep_s": best, "rate_M": work / best / 1e6}
    print(f"local     sweep {best:7.2f} s  {work / best / 1e6:7.0f} M bar-combinations/s", flush=True)
    for n in (int(w) for w in args.workers.split(",")):
        t0 = time.perf_counter()
        with compute.backend(f"local:{n}", chunk=args.chunk, cache=False) as be:
            # every worker loads the kernels once (a tiny sweep on each)
            be.client.run(sweep, "ma_crossover", bars.iloc[:500], fast=[5], slow=[50], **OPTS)
            start = time.perf_counter() - t0
            times, res = [], None
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                res = be.sweep("ma_crossover", bars, **OPTS, **GRID)
                times.append(time.perf_counter() - t0)
            row = {"start_s": start, "sweep_s": min(times), "rate_M": work / min(times) / 1e6,
                   "chunks": res.compute.chunks, "max_abs_diff_vs_local": _max_diff(res.table, ref.table),
                   "overhead_vs_local": min(times) / best}
            if n == max(int(w) for w in args.workers.split(",")):
                with tempfile.TemporaryDirectory() as d:
                    be.cache = compute.ChunkCache(d)
                    t0 = time.perf_counter()
                    be.sweep("ma_crossover", bars, **OPTS, **GRID)
                    row["sweep_writing_cache_s"] = time.perf_counter() - t0
                    t0 = time.perf_counter()
                    again = be.sweep("ma_crossover", bars, **OPTS, **GRID)
                    row["sweep_from_cache_s"] = time.perf_counter() - t0
                    row["cache_bytes"] = sum(p.stat().st_size for p in Path(d).rglob("*.npz"))
                    assert again.compute.cached == again.compute.chunks
        out["backends"][f"local:{n}"] = row
        print(f"local:{n}   sweep {row['sweep_s']:7.2f} s  {row['rate_M']:7.0f} M bar-combinations/s  "
              f"start {start:5.1f} s  {row['overhead_vs_local']:.2f}x local  max |diff| {row['max_abs_diff_vs_local']:.1e}"
              + (f"  cache: write {row['sweep_writing_cache_s']:.2f} s, read back {row['sweep_from_cache_s']:.2f} s "
                 f"({row['cache_bytes'] / 2**20:.1f} MiB)" if "cache_bytes" in row else ""), flush=True)
    out["loadavg_end"] = loadavg()
    path = BENCH_DIR / "results" / "scale.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(f"bars {len(bars):,}, {n_combos:,} combinations, load average {out['loadavg_start']} -> {out['loadavg_end']}; "
          f"written to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
