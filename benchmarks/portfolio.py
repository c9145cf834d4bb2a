"""Portfolio benchmarks against vectorbt on the five real Kraken hourly pairs (common span).

  p1  one five-pair equal-weight portfolio rebalanced weekly (close fills, 0.26 % fees), warm, best of N:
      ``run_portfolio`` vs ``vectorbt.Portfolio.from_orders(size_type="targetpercent", group_by=True,
      cash_sharing=True, call_seq="auto")``; the final equities must be equal
  p2  a 1,000-combination allocation sweep (seeded random fixed weights, weekly): ``sweep_weights`` (fused,
      parallel) vs vectorbt's from_orders over 1,000 groups of 5 columns (run in chunks, timed in total)

Run ``python benchmarks/portfolio.py`` (``--quick``: the last year, 200 combinations); ``make bench`` runs it
after the single-asset sections. Prints a table and writes ``benchmarks/results/portfolio-<UTC>.json``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
DATA = BENCH.parent.parent / "shared" / "data" / "kraken"
PAIRS = {"BTC/USD": "XBT", "ETH/USD": "ETH", "LTC/USD": "LTC", "XRP/USD": "XRP", "BCH/USD": "BCH"}
FEES = 0.0026
INIT_CASH = 10_000.0


def best_of(fn, n: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(n):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="the last year of the common span and 200 combinations")
    p.add_argument("--combos", type=int, default=None, help="combinations of p2 (default 1,000; quick 200)")
    p.add_argument("--repeats", type=int, default=3, help="best of N for p1")
    args = p.parse_args(argv)
    if not (DATA / "XBTUSD_60.csv.gz").is_file():
        print(f"SKIP: the portfolio benchmark needs the five Kraken hourly pairs in {DATA}")
        return 0
    import numpy as np
    import pandas as pd
    import vectorbt as vbt

    from peaktrade.data import read_kraken_ohlcvt
    from peaktrade.portfolio import calendar_mask, run_portfolio
    from peaktrade.portfolio.sweep import sweep_weights

    bars = {s: read_kraken_ohlcvt(DATA / f"{k}USD_60.csv.gz") for s, k in PAIRS.items()}
    start = max(b.index[0] for b in bars.values())
    end = min(b.index[-1] for b in bars.values())
    bars = {s: b.loc[start:end] for s, b in bars.items()}
    if args.quick:  # the last year of the common span (every symbol listed from the first bar)
        bars = {s: b.loc[end - pd.Timedelta(days=365):] for s, b in bars.items()}
    combos = args.combos or (200 if args.quick else 1_000)
    print(f"portfolio benchmarks: five Kraken pairs, {len(next(iter(bars.values()))):,}+ hourly bars", flush=True)
    kw = dict(fees=FEES, slippage=0.0, execution="close", init_cash=INIT_CASH, config=None)

    # p1 -------------------------------------------------------------------------------------------
    res = run_portfolio(bars, alloc="equal", rebalance="1W", **kw)  # warm-up (numba compile or cache load)
    idx = res.index
    close = pd.DataFrame({s: b["close"] for s, b in bars.items()}).reindex(idx)
    close_ff = close.ffill()
    mask = calendar_mask(idx, "1W")
    size = pd.DataFrame(np.nan, index=idx, columns=close.columns)
    size[mask] = 1.0 / len(PAIRS)

    def vbt_one():
        return vbt.Portfolio.from_orders(close=close_ff, price=close, size=size, size_type="targetpercent",
                                         group_by=True, cash_sharing=True, call_seq="auto", fees=FEES,
                                         init_cash=INIT_CASH, freq="1h").value()

    vbt_one()
    t_pt, res = best_of(lambda: run_portfolio(bars, alloc="equal", rebalance="1W", **kw), args.repeats)
    t_vb, v = best_of(vbt_one, args.repeats)
    same = bool(np.allclose(res.equity.to_numpy(), v.to_numpy(), rtol=1e-9, atol=0))
    print(f"  p1 equal weight, weekly: peaktrade {t_pt * 1e3:.1f} ms, vectorbt {t_vb * 1e3:.1f} ms → "
          f"{t_vb / t_pt:.1f}× (equity equal to 1e-9: {'yes' if same else 'NO'})", flush=True)

    # p2 -------------------------------------------------------------------------------------------
    rng = np.random.default_rng(42)
    W = rng.dirichlet(np.ones(len(PAIRS)), combos)
    sweep_weights(bars, W[:2], rebalance="1W", **kw)  # warm-up
    t0 = time.perf_counter()
    table = sweep_weights(bars, W, rebalance="1W", **kw)
    t_sw = time.perf_counter() - t0
    print(f"  p2 peaktrade: {combos:,} combinations in {t_sw:.2f} s", flush=True)
    chunk = 50  # groups per vectorbt call: 50 × 5 columns × bars stays within memory
    finals = []
    t0 = time.perf_counter()
    for a in range(0, combos, chunk):
        k = min(chunk, combos - a)
        cols = pd.MultiIndex.from_product([range(a, a + k), list(close.columns)], names=["combo", "symbol"])
        cf = pd.DataFrame(np.tile(close_ff.to_numpy(), k), index=idx, columns=cols)
        cp = pd.DataFrame(np.tile(close.to_numpy(), k), index=idx, columns=cols)
        sz = np.full((len(idx), k * len(PAIRS)), np.nan)
        sz[mask] = W[a:a + k].reshape(-1)
        pf = vbt.Portfolio.from_orders(close=cf, price=cp, size=pd.DataFrame(sz, index=idx, columns=cols),
                                       size_type="targetpercent", group_by="combo", cash_sharing=True,
                                       call_seq="auto", fees=FEES, init_cash=INIT_CASH, freq="1h")
        finals.append(pf.value().iloc[-1].to_numpy())
    t_vsw = time.perf_counter() - t0
    finals = np.concatenate(finals)
    same_sw = bool(np.allclose(table["final_equity"].to_numpy(), finals, rtol=1e-9, atol=0))

    out = {"bars": len(idx), "symbols": list(PAIRS), "start": str(idx[0]), "end": str(idx[-1]),
           "p1": {"peaktrade_s": t_pt, "vectorbt_s": t_vb, "speedup": t_vb / t_pt, "same_equity": same},
           "p2": {"combinations": combos, "peaktrade_s": t_sw, "vectorbt_s": t_vsw, "speedup": t_vsw / t_sw,
                  "same_final_equity": same_sw}}
    print(f"  bars: {len(idx):,} hourly, {idx[0]:%Y-%m-%d} → {idx[-1]:%Y-%m-%d}")
    print(f"  p2 {combos:,}-combination weight sweep, weekly: peaktrade {t_sw:.2f} s, vectorbt {t_vsw:.2f} s → "
          f"{t_vsw / t_sw:.1f}× (final equities equal to 1e-9: {'yes' if same_sw else 'NO'})")
    results = BENCH / "results"
    results.mkdir(exist_ok=True)
    path = results / f"portfolio-{'quick' if args.quick else 'full'}-{_dt.datetime.now(_dt.UTC):%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps(out, indent=2))
    print(f"  results: {path.relative_to(BENCH.parent)}")
    return 0 if same and same_sw else 1


if __name__ == "__main__":
    sys.exit(main())
