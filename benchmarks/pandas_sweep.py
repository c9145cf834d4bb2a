"""Sweep time of one strategy written at both authoring levels, on real Kraken hourly BTC bars.

The MA crossover (SMA, the library's cross rule) as the library's numba strategy ``ma_crossover``
(fused sweep) and as a pandas-level :class:`~peaktrade.strategies.PandasStrategy` that uses the memoized
``self.indicator`` (signals per unique parameter set in a thread pool, chunked under ``max_memory``).
Both sweeps must give the same table. The pandas level is timed with 1 and 2 threads, and with the
grid split over 2 processes (the process-pool alternative), to show which is faster here.

  python benchmarks/pandas_sweep.py            # 2,000 combinations (fast 5..54 × slow 60..255 step 5)
  python benchmarks/pandas_sweep.py --quick    # 200 combinations on the last 8,760 bars
  python benchmarks/pandas_sweep.py --small-grid --repeats 1   # 200 combinations on all the bars

Prints a table and writes ``benchmarks/results/pandas_sweep.json``; prints ``SKIP: ...`` and exits 0
when ``../shared/data/kraken/XBTUSD_60.csv.gz`` is absent.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

from peaktrade.backtest import sweep  # noqa: E402
from peaktrade.indicators.api import sma  # noqa: E402
from peaktrade.strategies import PandasStrategy, Param  # noqa: E402


class PandasMA(PandasStrategy):
    """``ma_crossover`` (kind="sma") at the pandas level: same cross rule, so the same table."""

    name = "pandas_ma_bench"
    params = (Param("fast", "int", 20, low=1, high=10_000), Param("slow", "int", 100, low=2, high=10_000))
    constraints = ("fast < slow",)

    def signals(self, bars, *, fast, slow):
        close = bars["close"]
        d = self.indicator(sma, close, window=fast) - self.indicator(sma, close, window=slow)
        seg = d.isna().cumsum()  # a NaN forgets what was seen before it
        up, down = d > 0, d < 0
        below_seen, above_seen = down.groupby(seg).cummax(), up.groupby(seg).cummax()
        return (up & ~up.shift(1, fill_value=False) & below_seen,
                down & ~down.shift(1, fill_value=False) & above_seen)


def _threads(n: int) -> type[PandasMA]:
    return type(f"PandasMA{n}", (PandasMA,), {"workers": n})


def _sweep(strategy, bars, fast, slow):
    return sweep(strategy, bars, fast=list(fast), slow=list(slow), fees=C.FEES, init_cash=C.INIT_CASH,
                 execution="close", progress=False)


def _half(args):
    bars, fast, slow = args
    return _sweep(_threads(1), bars, fast, slow).table


def _two_processes(pool, bars, fast, slow):
    fast = list(fast)
    return pool.map(_half, [(bars, fast[::2], slow), (bars, fast[1::2], slow)])


def best_of(fn, repeats: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="200 combinations on the last year of bars")
    ap.add_argument("--small-grid", action="store_true", help="the 200-combination grid on all the bars")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    if not C.DATA_FILE.is_file():
        print(f"SKIP: {C.DATA_FILE} not found (the real Kraken hourly bars this benchmark needs)")
        return 0
    bars, info = C.load_bars(C.DATA_FILE, last=C.QUICK_BARS if args.quick else None)
    fast, slow = C.QUICK_GRID_A if args.quick or args.small_grid else C.GRID_A
    n_combos = len(fast) * len(slow)
    tiny = bars.iloc[:500]
    _sweep("ma_crossover", tiny, fast[:2], slow[:2])  # compile/load the kernels outside the timings
    _sweep(_threads(1), tiny, fast[:2], slow[:2])

    rows = {}
    rows["numba (ma_crossover, fused)"], lib = best_of(lambda: _sweep("ma_crossover", bars, fast, slow), args.repeats)
    for n in (1, 2):
        rows[f"pandas, {n} thread(s)"], mine = best_of(lambda n=n: _sweep(_threads(n), bars, fast, slow),
                                                       args.repeats)
        assert (mine.table["total_return"].to_numpy() == lib.table["total_return"].to_numpy()).all(), \
            "the pandas level must give the library's table"
    # a persistent pool of 2 spawned processes (fork is unsafe once numba's OpenMP threads exist), warmed
    # first: the steady-state cost of the process alternative, bars pickled to each worker per sweep
    with mp.get_context("spawn").Pool(2) as pool:
        _two_processes(pool, tiny, fast[:2], slow[:2])
        rows["pandas, 2 processes (grid split)"], _ = best_of(lambda: _two_processes(pool, bars, fast, slow),
                                                               args.repeats)

    print(f"{info['n_bars']:,} bars ({info['first']} .. {info['last']}), {n_combos:,} combinations, "
          f"{os.cpu_count()} CPUs, best of {args.repeats}")
    base = rows["numba (ma_crossover, fused)"]
    for label, sec in rows.items():
        print(f"  {label:<36} {sec:8.2f} s   {sec / base:6.1f}× numba   {n_combos / sec:10,.0f} combos/s")
    out = C.BENCH_DIR / "results" / "pandas_sweep.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"data": info, "n_combos": n_combos, "seconds": rows, "cpus": os.cpu_count(),
                               "loadavg": C.loadavg()}, indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
