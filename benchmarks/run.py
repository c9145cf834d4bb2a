"""Benchmarks of peaktrade against vectorbt on real Kraken hourly bars.

Run ``make bench`` (or ``python benchmarks/run.py``); ``--quick`` for a smoke run on the last year
of bars, ``--only a,c`` for some sections. Prints a table and writes
``benchmarks/results/<name>.json``. See ``benchmarks/README.md`` for what each section measures.

  a  MA-crossover sweep, 2,000 combinations: time, peak memory, same results (peaktrade vs vectorbt)
  b  one backtest, warm: run() incl. signals, and from_signals() alone (peaktrade vs vectorbt)
  c  cold start in a fresh process with a warm numba cache; read-only cache dir fallbacks
  d  sweep throughput (bar-combinations/s) and scaling: 1 vs 2 threads, 1k/10k/100k combinations
  e  the sweep of (a) with stops (sl_stop, sl_trail, tp_stop): time and results (peaktrade vs vectorbt)
"""

from __future__ import annotations

import argparse
import datetime as _dt
import gc
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

WORKER = C.BENCH_DIR / "_worker.py"
SECTIONS = ("a", "b", "c", "d", "e")
TARGETS = {
    "a_speedup": 300.0,  # peaktrade ≥ 300× faster than vectorbt on the 2,000-combination sweep (issue 14)
    "a_memory_fraction": 0.10,  # peaktrade's peak ≤ 1/10 of vectorbt's
    "b_speedup": 3.0,  # one warm backtest ≥ 3× faster
    "c_cold_seconds": 2.0,  # import + first run in a fresh process ≤ 2 s (warm numba cache)
    "c_cli_seconds": 2.0,  # the first `peaktrade backtest` in a fresh project ≤ 2 s wall (after `make install`)
}


# --------------------------------------------------------------------------------------------
# small helpers


def fmt_s(x: float | None) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    if x < 1e-3:
        return f"{x * 1e6:.0f} µs"
    if x < 1:
        return f"{x * 1e3:.1f} ms"
    return f"{x:.2f} s"


def fmt_mb(kb: float | None) -> str:
    if kb is None or (isinstance(kb, float) and math.isnan(kb)):
        return "n/a"
    mb = kb / 1024.0
    return f"{mb / 1024.0:.2f} GB" if abs(mb) >= 1024 else f"{mb:.0f} MB"


def fmt_rate(x: float | None) -> str:
    if x is None or not math.isfinite(x):
        return "n/a"
    return f"{x / 1e6:.1f} M/s" if x < 1e9 else f"{x / 1e9:.2f} G/s"


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or not b or (isinstance(a, float) and math.isnan(a)):
        return None
    return a / b


def yes_no(ok: bool | None) -> str:
    return "n/a" if ok is None else ("MET" if ok else "NOT MET")


def cpu_seconds() -> float:
    """CPU time of this process, all threads (user + system)."""
    t = os.times()
    return t.user + t.system


def best_of(fn, n: int) -> tuple[float, list[float], Any, float]:
    """Return (best wall time, all wall times, last result, CPUs used during the best repeat).

    The CPU use (process CPU time / wall time) shows contention: a 2-thread kernel that got both
    cores reads ≈ 2.0; a busy machine reads less.
    """
    times, cpus, last = [], [], None
    for _ in range(n):
        c0, t0 = cpu_seconds(), time.perf_counter()
        last = fn()
        times.append(time.perf_counter() - t0)
        cpus.append((cpu_seconds() - c0) / times[-1])
    k = times.index(min(times))
    return times[k], times, last, cpus[k]


def jsonable(x: Any) -> Any:
    import numpy as np

    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = lambda r: "  ".join(str(c).ljust(w) for c, w in zip(r, widths))  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def run_child(spec: dict, *, env: dict | None = None, prefix: list[str] | None = None,
              timeout: float = 900.0, cwd: Path | None = None) -> dict:
    """Run ``_worker.py`` with ``spec`` in a fresh interpreter; return its RESULT plus wall time."""
    cmd = [*(prefix or []), sys.executable, str(WORKER), json.dumps(spec)]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env,
                              cwd=str(cwd or C.REPO_ROOT))
    except subprocess.TimeoutExpired as exc:
        return {"ok": False, "error": f"timed out after {timeout:.0f} s (hang?)", "wall_s": time.perf_counter() - t0,
                "stderr_tail": (exc.stderr or b"")[-2000:].decode(errors="replace") if isinstance(exc.stderr, bytes)
                else str(exc.stderr or "")[-2000:]}
    wall = time.perf_counter() - t0
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("RESULT "):
            out = json.loads(line[7:])
            out.update(ok=True, wall_s=wall, returncode=proc.returncode)
            return out
    err = proc.stderr.strip().splitlines()
    return {"ok": False, "returncode": proc.returncode, "wall_s": wall,
            "error": err[-1] if err else f"exit code {proc.returncode}, no result",
            "stderr_tail": proc.stderr[-2000:]}


# --------------------------------------------------------------------------------------------
# context


class Ctx:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.quick = args.quick
        self.data = Path(args.data)
        self.last = C.QUICK_BARS if args.quick else None
        self._baseline: dict | None = None
        self.bars = None
        self.vbt = None

    def spec(self, **kw: Any) -> dict:
        return {"data": str(self.data), "last": self.last, **kw}

    def baseline(self) -> dict:
        """The memory baseline: a child that imports peaktrade.backtest and vectorbt and loads the bars."""
        if self._baseline is None:
            self._baseline = run_child(self.spec(task="mem", side="none"))
            if not self._baseline.get("ok"):
                raise RuntimeError(f"baseline child failed: {self._baseline.get('error')}")
        return self._baseline


def machine_info(ctx: Ctx) -> dict:
    import numba
    import numpy
    import pandas

    info: dict[str, Any] = {
        "timestamp": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu_model": None,
        "mem_total_gb": None,
        "mem_available_gb_at_start": round(C.mem_available_bytes() / 1e9, 1),
        "loadavg_at_start": C.loadavg(),
        "numba_threads": numba.get_num_threads(),
        "NUMBA_NUM_THREADS": numba.config.NUMBA_NUM_THREADS,
        "NUMBA_CACHE_DIR": os.environ.get("NUMBA_CACHE_DIR"),
        "versions": {"numpy": numpy.__version__, "pandas": pandas.__version__, "numba": numba.__version__},
        "quick": ctx.quick,
    }
    try:
        import llvmlite

        info["versions"]["llvmlite"] = llvmlite.__version__
    except ImportError:
        pass
    try:
        import peaktrade

        info["versions"]["peaktrade"] = peaktrade.__version__
        info["peaktrade_file"] = peaktrade.__file__
    except ImportError:
        pass
    if ctx.vbt is not None:
        info["versions"]["vectorbt"] = ctx.vbt.__version__
        try:
            from vectorbt._engine import is_rust_available

            info["vectorbt_rust_engine"] = bool(is_rust_available())
        except ImportError:
            info["vectorbt_rust_engine"] = False
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    info["cpu_model"] = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    info["mem_total_gb"] = round(int(line.split()[1]) / 1e6, 1)
    except OSError:
        pass
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=C.REPO_ROOT, capture_output=True,
                             text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "peaktrade"], cwd=C.REPO_ROOT,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        info["git"] = f"{sha}{'+dirty(peaktrade/)' if dirty else ''}"
    except (OSError, subprocess.SubprocessError):
        info["git"] = None
    return info


def mem_delta(child: dict, base: dict) -> dict:
    """Peak of a child minus the baseline child's peak, and the workload-only growth."""
    if not child.get("ok"):
        return {"error": child.get("error")}
    return {
        "peak_kb": child["VmHWM"],
        "baseline_kb": base["VmHWM"],
        "delta_kb": child["VmHWM"] - base["VmHWM"],
        "workload_kb": child.get("workload_kb"),
        "child_run_s": child.get("seconds"),
    }


# --------------------------------------------------------------------------------------------
# (a) MA-crossover sweep


def section_a(ctx: Ctx) -> dict:
    import numpy as np

    bars = ctx.bars
    close = bars["close"]
    fast, slow = C.QUICK_GRID_A if ctx.quick else C.GRID_A
    fast_list, slow_list = C.pairs_of(fast, slow)
    n, n_bars = len(fast_list), len(bars)
    cells = n * n_bars
    out: dict[str, Any] = {"n_combos": n, "n_bars": n_bars, "grid": {"fast": [fast.start, fast.stop, fast.step],
                                                                      "slow": [slow.start, slow.stop, slow.step]}}
    print(f"\n(a) MA-crossover sweep: {n:,} combinations × {n_bars:,} bars = {cells / 1e6:.0f} M bar-combinations")

    # peaktrade, warm, best of N
    C.pt_warmup(bars)
    reps_pt = 5
    best_pt, times_pt, res_pt, cpu_pt = best_of(lambda: C.pt_sweep(bars, fast, slow), reps_pt)
    out["peaktrade"] = {"best_s": best_pt, "times_s": times_pt, "reps": reps_pt, "bar_combos_per_s": cells / best_pt,
                        "cpus_used": cpu_pt}
    print(f"  peaktrade: best of {reps_pt}: {fmt_s(best_pt)}")

    # vectorbt: decide whether the full run fits in memory, else a documented evenly spaced subset
    vbt_part = None
    if ctx.vbt is None:
        out["vectorbt"] = {"skipped": "vectorbt is not installed"}
    else:
        limit = min(ctx.args.vbt_max_gb * 1e9, 0.75 * C.mem_available_bytes())
        est = C.vbt_estimate_bytes(n_bars, n)
        idx = np.arange(n)
        extrapolated = est > limit
        if extrapolated:
            k = max(1, int((limit - C.VBT_FIXED_BYTES) / (C.VBT_BYTES_PER_CELL * n_bars)))
            idx = np.unique(np.linspace(0, n - 1, k).round().astype(int))
            print(f"  vectorbt would need ≈{est / 1e9:.1f} GB (> {limit / 1e9:.1f} GB): running an evenly spaced "
                  f"subset of {len(idx)} combinations and extrapolating linearly")
        sub_fast = [fast_list[i] for i in idx]
        sub_slow = [slow_list[i] for i in idx]
        scale = n / len(idx)
        C.vbt_warmup(close)
        reps_vbt = ctx.args.vbt_repeats or 3
        times_vbt, phases, cpu_vbt = [], None, None
        res_vbt = None
        for _ in range(reps_vbt):
            res_vbt = None
            gc.collect()
            c0 = cpu_seconds()
            r = C.vbt_sweep(close, sub_fast, sub_slow)
            times_vbt.append(r["phases"]["total"])
            if phases is None or r["phases"]["total"] <= min(times_vbt):
                phases = r["phases"]
                cpu_vbt = (cpu_seconds() - c0) / r["phases"]["total"]
            res_vbt = r
            print(f"  vectorbt: run {len(times_vbt)}/{reps_vbt}: {fmt_s(times_vbt[-1])}", flush=True)
        best_vbt = min(times_vbt) * scale
        vbt_part = {"best_s": best_vbt, "times_s": times_vbt, "reps": reps_vbt, "phases_s": phases,
                    "n_combos_run": len(idx), "extrapolated": extrapolated,
                    "estimated_bytes_full": est, "bar_combos_per_s": cells / best_vbt, "cpus_used": cpu_vbt}
        out["vectorbt"] = vbt_part

        # same results?
        assert (res_vbt["fast"] == np.asarray(sub_fast)).all() and (res_vbt["slow"] == np.asarray(sub_slow)).all()
        assert (res_pt["fast"] == np.asarray(fast_list)).all() and (res_pt["slow"] == np.asarray(slow_list)).all()
        a_tr, b_tr = res_pt["total_return"][idx], res_vbt["total_return"]
        a_nt, b_nt = res_pt["n_trades"][idx], res_vbt["n_trades"]
        diff = np.abs(a_tr - b_tr)
        rel = diff / np.maximum(np.abs(b_tr), 1e-300)
        bad_tr = ~(rel <= 1e-9)
        bad_nt = a_nt != b_nt
        bad = bad_tr | bad_nt
        out["same_results"] = {
            "n_compared": int(len(idx)),
            "max_abs_diff_total_return": float(diff.max()),
            "max_rel_diff_total_return": float(rel.max()),
            "n_total_return_mismatch_rel_1e-9": int(bad_tr.sum()),
            "n_trade_count_mismatch": int(bad_nt.sum()),
            "n_mismatching_combos": int(bad.sum()),
            "examples": [{"fast": int(fast_list[i]), "slow": int(slow_list[i]),
                          "pt_total_return": float(res_pt["total_return"][i]), "vbt_total_return": float(b_tr[j]),
                          "pt_n_trades": float(res_pt["n_trades"][i]), "vbt_n_trades": float(b_nt[j])}
                         for j, i in enumerate(idx) if bad[j]][:5],
        }
        # each mismatch against exact arithmetic on the published prices (see _common.explain_mismatch)
        bad_idx = [int(i) for j, i in enumerate(idx) if bad[j]]
        if bad_idx:
            ints, _ = C.published_closes(ctx.data, n_bars)
            checks = [C.explain_mismatch(bars, ints, fast_list[i], slow_list[i], float(res_pt["total_return"][i]),
                                         float(res_pt["n_trades"][i])) for i in bad_idx[:ctx.args.explain_max]]
            out["same_results"].update(
                n_explained=sum(c["explained"] for c in checks), n_checked=len(checks),
                unexplained=[c for c in checks if not c["explained"]][:5])
        del res_vbt
    del res_pt
    gc.collect()

    # peak memory, each side in its own child, minus the baseline child
    print("  memory: baseline child, peaktrade child, vectorbt child ...", flush=True)
    base = ctx.baseline()
    out["baseline_child"] = {"VmHWM_kb": base["VmHWM"], "wall_s": base["wall_s"]}
    pt_mem = run_child(ctx.spec(task="mem", side="pt_sweep", fast=list(fast), slow=list(slow)))
    out["peaktrade"]["memory"] = mem_delta(pt_mem, base)
    if vbt_part is not None:
        vbt_mem = run_child(ctx.spec(task="mem", side="vbt_sweep", fast_list=sub_fast, slow_list=sub_slow))
        m = mem_delta(vbt_mem, base)
        if vbt_part["extrapolated"] and "delta_kb" in m:
            m["measured_delta_kb"] = m["delta_kb"]
            m["delta_kb"] = m["delta_kb"] * scale
            if m.get("workload_kb") is not None:
                m["workload_kb"] = m["workload_kb"] * scale
            m["extrapolated_from_combos"] = len(sub_fast)
        vbt_part["memory"] = m
        if not vbt_mem.get("ok"):
            print(f"  vectorbt memory child failed: {vbt_mem.get('error')}")

    # ratios
    pm, vm = out["peaktrade"]["memory"], (vbt_part or {}).get("memory", {})
    out["speedup"] = ratio(vbt_part and vbt_part["best_s"], best_pt)
    out["memory_fraction"] = ratio(pm.get("delta_kb"), vm.get("delta_kb"))
    out["memory_fraction_workload"] = ratio(pm.get("workload_kb"), vm.get("workload_kb"))
    out["target_speedup_met"] = None if out["speedup"] is None else out["speedup"] >= TARGETS["a_speedup"]
    out["target_memory_met"] = (None if out["memory_fraction"] is None
                                else out["memory_fraction"] <= TARGETS["a_memory_fraction"])
    return out


def print_a(a: dict) -> None:
    pt, vb = a["peaktrade"], a.get("vectorbt", {})
    if "skipped" in vb:
        print(f"  vectorbt skipped: {vb['skipped']}")
    lab = " (extrapolated)" if vb.get("extrapolated") else ""
    rows = []
    for name, s in (("peaktrade", pt), ("vectorbt" + lab, vb)):
        if "best_s" not in s:
            continue
        m = s.get("memory", {})
        rows.append([name, f"{fmt_s(s['best_s'])} (best of {s['reps']})", f"{s['cpus_used']:.1f}",
                     fmt_rate(s["bar_combos_per_s"]), fmt_mb(m.get("delta_kb")), fmt_mb(m.get("workload_kb")),
                     fmt_mb(m.get("peak_kb"))])
    print(table(rows, ["side", "time, warm", "CPUs used", "bar-combos/s", "peak − baseline", "workload peak",
                       "child peak"]))
    if vb.get("phases_s"):
        ph = vb["phases_s"]
        print(f"  vectorbt phases (one run of {vb['n_combos_run']} combos): indicators+signals "
              f"{fmt_s(ph['indicators_signals'])}, from_signals {fmt_s(ph['simulation'])}, "
              f"total_return+trades.count {fmt_s(ph['metrics'])}")
    if a.get("speedup") is not None:
        print(f"  speedup: {a['speedup']:.0f}× (target ≥ {TARGETS['a_speedup']:.0f}×: {yes_no(a['target_speedup_met'])})")
    if a.get("memory_fraction") is not None:
        wf = a.get("memory_fraction_workload")
        print(f"  memory: peaktrade/vectorbt = 1/{1 / a['memory_fraction']:.0f} of the peak over baseline "
              f"(target ≤ 1/10: {yes_no(a['target_memory_met'])})"
              + (f"; workload-only 1/{1 / wf:.0f}" if wf else ""))
    sr = a.get("same_results")
    if sr:
        print(f"  same results ({sr['n_compared']} combos): max |Δ total_return| {sr['max_abs_diff_total_return']:.2e}, "
              f"max rel {sr['max_rel_diff_total_return']:.2e}; mismatching combos {sr['n_mismatching_combos']} "
              f"(total_return > 1e-9 rel: {sr['n_total_return_mismatch_rel_1e-9']}, "
              f"trade count: {sr['n_trade_count_mismatch']})")
        for ex in sr["examples"]:
            print(f"    mismatch: {ex}")
        if sr.get("n_checked"):
            print(f"  of {sr['n_checked']} mismatching combos checked against exact arithmetic on the published prices, "
                  f"{sr['n_explained']} are vectorbt's prefix-sum SMA breaking an exact tie (peaktrade's signals are "
                  "the exact ones, and vectorbt given them gives peaktrade's total return to 1e-9 and trade count)")
            for u in sr["unexplained"]:
                print(f"    UNEXPLAINED: {u}")


# --------------------------------------------------------------------------------------------
# (b) one backtest


def section_b(ctx: Ctx) -> dict:
    import numpy as np

    import peaktrade.backtest as bt

    bars = ctx.bars
    close = bars["close"]
    n_pt, n_vbt = (10, 5) if ctx.quick else (30, 10)
    kw = {"fees": C.FEES, "slippage": 0.0, "init_cash": C.INIT_CASH, "execution": "close"}
    out: dict[str, Any] = {"n_bars": len(bars), "params": C.SINGLE}
    print(f"\n(b) One backtest, warm: ma_crossover {C.SINGLE} on {len(bars):,} bars")

    def pt_run():
        return bt.run("ma_crossover", bars, **kw, **C.SINGLE)

    def pt_run_metrics():
        r = pt_run()
        return float(r.equity.iloc[-1] / r.init_cash - 1.0), len(r.trades)

    pt_run()
    res = pt_run()
    entries, exits = res.entries, res.exits

    def pt_fs():
        return bt.from_signals(close, entries, exits, **kw)

    rows = {}
    rows["run_incl_signals"] = {"peaktrade": best_of(pt_run, n_pt)[:2]}
    rows["run_plus_metrics"] = {"peaktrade": best_of(pt_run_metrics, n_pt)[:2]}
    pt_fs()
    rows["from_signals_only"] = {"peaktrade": best_of(pt_fs, n_pt)[:2]}

    if ctx.vbt is not None:
        vbt = ctx.vbt

        def vbt_run():
            fast_ma = vbt.MA.run(close, C.SINGLE["fast"])
            slow_ma = vbt.MA.run(close, C.SINGLE["slow"])
            return vbt.Portfolio.from_signals(close, fast_ma.ma_crossed_above(slow_ma),
                                              fast_ma.ma_crossed_below(slow_ma), fees=C.FEES,
                                              init_cash=C.INIT_CASH, freq="1h")

        def vbt_run_metrics():
            pf = vbt_run()
            return float(pf.total_return()), int(pf.trades.count())

        def vbt_fs():
            return vbt.Portfolio.from_signals(close, entries, exits, fees=C.FEES, init_cash=C.INIT_CASH, freq="1h")

        vbt_run_metrics()
        vbt_fs()
        rows["run_incl_signals"]["vectorbt"] = best_of(vbt_run, n_vbt)[:2]
        rows["run_plus_metrics"]["vectorbt"] = best_of(vbt_run_metrics, n_vbt)[:2]
        rows["from_signals_only"]["vectorbt"] = best_of(vbt_fs, n_vbt)[:2]

        pf = vbt_run()
        v_eq = pf.value().to_numpy()
        p_eq = res.equity.to_numpy()
        fast_ma = vbt.MA.run(close, C.SINGLE["fast"])
        slow_ma = vbt.MA.run(close, C.SINGLE["slow"])
        out["same_results"] = {
            "pt_total_return": float(p_eq[-1] / C.INIT_CASH - 1.0),
            "vbt_total_return": float(pf.total_return()),
            "pt_n_trades": len(res.trades),
            "vbt_n_trades": int(pf.trades.count()),
            "max_rel_diff_equity": float(np.max(np.abs(p_eq - v_eq) / np.abs(v_eq))),
            "signals_equal": bool((entries.to_numpy() == fast_ma.ma_crossed_above(slow_ma).to_numpy()).all()
                                  and (exits.to_numpy() == fast_ma.ma_crossed_below(slow_ma).to_numpy()).all()),
        }
    for name, r in rows.items():
        d: dict[str, Any] = {}
        for side, (best, times) in r.items():
            d[side] = {"best_s": best, "median_s": statistics.median(times), "reps": len(times)}
        d["speedup"] = ratio(d.get("vectorbt", {}).get("best_s"), d["peaktrade"]["best_s"])
        out[name] = d
    sp = out["run_incl_signals"]["speedup"]
    out["target_speedup_met"] = None if sp is None else sp >= TARGETS["b_speedup"]
    return out


def print_b(b: dict) -> None:
    labels = {"run_incl_signals": "run() incl. signals  | MA.run×2 + crossed + from_signals",
              "run_plus_metrics": "  … + total return & trade count",
              "from_signals_only": "from_signals() on precomputed signals"}
    rows = []
    for key, label in labels.items():
        d = b[key]
        v = d.get("vectorbt")
        rows.append([label, fmt_s(d["peaktrade"]["best_s"]), fmt_s(v["best_s"]) if v else "n/a",
                     f"{d['speedup']:.1f}×" if d["speedup"] else "n/a"])
    print(table(rows, ["what (best of N, warm)", "peaktrade", "vectorbt", "speedup"]))
    sp = b["run_incl_signals"]["speedup"]
    if sp is not None:
        print(f"  target ≥ {TARGETS['b_speedup']:.0f}× for run(): {yes_no(b['target_speedup_met'])}")
    sr = b.get("same_results")
    if sr:
        print(f"  same results: total return {sr['pt_total_return']:.12g} vs {sr['vbt_total_return']:.12g}, "
              f"trades {sr['pt_n_trades']} vs {sr['vbt_n_trades']}, max rel Δ equity {sr['max_rel_diff_equity']:.1e}, "
              f"signals equal: {sr['signals_equal']}")


# --------------------------------------------------------------------------------------------
# (c) cold start


def _ro_prefix() -> tuple[list[str] | None, str]:
    """How to run a child for which read-only permission bits apply (root ignores them)."""
    if os.geteuid() != 0:
        return [], "non-root user"
    setpriv = shutil.which("setpriv")
    if setpriv:
        return [setpriv, "--bounding-set=-dac_override,-dac_read_search,-fowner"], \
            "root without CAP_DAC_OVERRIDE/CAP_DAC_READ_SEARCH/CAP_FOWNER (setpriv)"
    return None, "running as root and setpriv is unavailable: cannot make a directory read-only"


def _env(**kw: str | None) -> dict:
    env = dict(os.environ)
    for k, v in kw.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return env


#: The command a user runs first (README, docs/backtest.md): a library strategy on the offline data set.
CLI_BACKTEST = ["backtest", "ma_crossover", "--exchange", "synthetic"]


def _cli_first_backtest(n: int, timeout: float) -> dict:
    """Wall time of the first ``peaktrade backtest`` in each of ``n`` fresh projects (empty directories: the
    built-in defaults; the first run also writes the synthetic data set), the whole process as the user
    waits for it (start-up, the command, the exit), through the installed console script."""
    script = Path(sys.executable).with_name("peaktrade")
    cmd = [str(script)] if script.is_file() else [sys.executable, "-m", "peaktrade.cli.main"]
    env = _env(PYTHONPATH=os.pathsep.join(filter(None, [str(C.REPO_ROOT), os.environ.get("PYTHONPATH")])))
    walls: list[float] = []
    for _ in range(n):
        with tempfile.TemporaryDirectory(prefix="peaktrade-cli-") as project:
            t0 = time.perf_counter()
            proc = subprocess.run([*cmd, *CLI_BACKTEST], capture_output=True, text=True, timeout=timeout, env=env,
                                  cwd=project)
            walls.append(time.perf_counter() - t0)
            if proc.returncode != 0:
                return {"error": (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]}
    med = statistics.median(walls)
    return {"command": "peaktrade " + " ".join(CLI_BACKTEST), "walls_s": walls, "median_s": med,
            "target_met": med <= TARGETS["c_cli_seconds"]}


def section_c(ctx: Ctx) -> dict:
    n_fresh = 1 if ctx.quick else 3
    timeout = ctx.args.timeout
    spec = {"task": "cold", "data": str(ctx.data), "lib": "pt"}
    out: dict[str, Any] = {"n_fresh": n_fresh, "timeout_s": timeout}
    print(f"\n(c) Cold start: fresh processes, warm numba cache (median of {n_fresh})")
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        # then a module whose .pyc was never written is compiled from source in every process (seen: 63
        # modules, ~0.2 s of a backtest's start-up); an installed project has its .pyc files
        out["pythondontwritebytecode"] = True
        print("  note: PYTHONDONTWRITEBYTECODE is set, so modules without a .pyc are compiled in each process "
              "(unset it to time an installed project)")

    fill = run_child(spec, timeout=timeout)
    out["cache_fill_run"] = fill
    runs = [run_child(spec, timeout=timeout) for _ in range(n_fresh)]
    out["runs"] = runs
    ok = [r for r in runs if r.get("ok")]
    if ok:
        med = lambda k: statistics.median(r[k] for r in ok)  # noqa: E731
        out["peaktrade"] = {k: med(k) for k in ("import_s", "load_s", "first_run_s", "import_plus_first_run_s",
                                                "wall_s", "interpreter_to_import_s")}
        out["target_met"] = out["peaktrade"]["import_plus_first_run_s"] <= TARGETS["c_cold_seconds"]
    else:
        out["error"] = runs[0].get("error")
    if ctx.vbt is not None and not ctx.quick:
        vspec = {**spec, "lib": "vbt"}
        run_child(vspec, timeout=timeout)
        vruns = [run_child(vspec, timeout=timeout) for _ in range(n_fresh)]
        vok = [r for r in vruns if r.get("ok")]
        if vok:
            out["vectorbt"] = {k: statistics.median(r[k] for r in vok)
                               for k in ("import_s", "load_s", "first_run_s", "import_plus_first_run_s", "wall_s")}

    out["cli"] = _cli_first_backtest(n_fresh, timeout)

    # read-only numba cache directories: must fall back cleanly and not hang
    prefix, how = _ro_prefix()
    out["readonly_method"] = how
    checks: list[dict] = []
    out["readonly_checks"] = checks
    if prefix is None:
        print(f"  read-only checks skipped: {how}")
        return out
    tmp = Path(tempfile.mkdtemp(prefix="peaktrade-bench-"))
    try:
        ro = tmp / "ro-cache"
        ro_home = tmp / "ro-home"
        xdg = tmp / "xdg"
        tmpw = tmp / "tmpdir"  # TMPDIR: peaktrade's last-resort fallback lands here, not in /tmp
        pkg = tmp / "pkg"
        for d in (ro, ro_home, xdg, tmpw):
            d.mkdir()
        shutil.copytree(C.REPO_ROOT / "peaktrade", pkg / "peaktrade", ignore=shutil.ignore_patterns("__pycache__"))
        for p in [pkg, *pkg.rglob("*")]:
            p.chmod(0o555 if p.is_dir() else 0o444)
        ro.chmod(0o555)
        ro_home.chmod(0o555)
        pkg_dir = str(pkg / "peaktrade")
        copy = {"PYTHONPATH": str(pkg), "TMPDIR": str(tmpw)}
        no_home = {"HOME": str(ro_home), "XDG_CACHE_HOME": str(ro_home / ".cache")}
        # (label, environment, directories that must be unwritable, import numba before peaktrade)
        cases = [
            ("NUMBA_CACHE_DIR read-only; package dir writable (this checkout)",
             _env(NUMBA_CACHE_DIR=str(ro)), [str(ro)], False),
            ("package dir unwritable, NUMBA_CACHE_DIR unset (1st run compiles)",
             _env(NUMBA_CACHE_DIR=None, XDG_CACHE_HOME=str(xdg), **copy), [pkg_dir], False),
            ("package dir unwritable, NUMBA_CACHE_DIR unset (2nd run: cache reused)",
             _env(NUMBA_CACHE_DIR=None, XDG_CACHE_HOME=str(xdg), **copy), [pkg_dir], False),
            ("package dir + HOME/XDG_CACHE_HOME unwritable, NUMBA_CACHE_DIR unset",
             _env(NUMBA_CACHE_DIR=None, **copy, **no_home), [pkg_dir, str(ro_home)], False),
            ("same, but numba imported before peaktrade (e.g. vectorbt imported first)",
             _env(NUMBA_CACHE_DIR=None, **copy, **no_home), [pkg_dir, str(ro_home)], True),
            ("package dir unwritable + NUMBA_CACHE_DIR read-only (numba's user-wide dir writable)",
             _env(NUMBA_CACHE_DIR=str(ro), XDG_CACHE_HOME=str(xdg), **copy), [str(ro), pkg_dir], False),
            ("package dir unwritable + NUMBA_CACHE_DIR read-only + HOME/XDG_CACHE_HOME unwritable",
             _env(NUMBA_CACHE_DIR=str(ro), **copy, **no_home), [str(ro), pkg_dir, str(ro_home)], False),
        ]
        for label, env, probe, numba_first in cases:
            r = run_child({**spec, "probe_dirs": probe, "import_numba_first": numba_first}, env=env,
                          prefix=prefix, timeout=timeout, cwd=tmp)
            verified = r.get("ok") and not any(r.get("writable", {}).values())
            used_copy = r.get("ok") and str(pkg) in str(r.get("module_file"))
            checks.append({"case": label, "ok": bool(r.get("ok")), "wall_s": r.get("wall_s"),
                           "import_plus_first_run_s": r.get("import_plus_first_run_s"),
                           "NUMBA_CACHE_DIR": r.get("NUMBA_CACHE_DIR"),
                           "numba_cache_path": r.get("numba_cache_path"), "error": r.get("error"),
                           "readonly_verified": bool(verified),
                           "imported_copy": bool(used_copy) if "PYTHONPATH" in env else None,
                           "stderr_tail": None if r.get("ok") else r.get("stderr_tail")})
        out["readonly_all_ok"] = all(c["ok"] for c in checks)
    finally:
        for p in [tmp, *tmp.rglob("*")]:
            try:
                p.chmod(0o755 if p.is_dir() else 0o644)
            except OSError:
                pass
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def print_c(c: dict) -> None:
    pt = c.get("peaktrade")
    if not pt:
        print(f"  cold start failed: {c.get('error')}")
    rows = []
    for name, s in (("peaktrade", pt), ("vectorbt", c.get("vectorbt"))):
        if s:
            rows.append([name, fmt_s(s["import_s"]), fmt_s(s["first_run_s"]), fmt_s(s["import_plus_first_run_s"]),
                         fmt_s(s["load_s"]), fmt_s(s["wall_s"])])
    if rows:
        print(table(rows, ["side", "import", "first run", "import + first run", "CSV load (separate)",
                           "process wall"]))
    if pt:
        print(f"  target ≤ {TARGETS['c_cold_seconds']:.0f} s (import + first run): {yes_no(c.get('target_met'))}")
    cli = c.get("cli") or {}
    if cli.get("error"):
        print(f"  CLI first backtest failed: {cli['error']}")
    elif cli:
        print(f"  `{cli['command']}` in a fresh project, process wall: {', '.join(map(fmt_s, cli['walls_s']))} "
              f"(median {fmt_s(cli['median_s'])}); target ≤ {TARGETS['c_cli_seconds']:.0f} s: "
              f"{yes_no(cli['target_met'])}")
    if c.get("readonly_checks"):
        print(f"  read-only numba cache checks ({c['readonly_method']}; {c.get('timeout_s', 0):.0f} s timeout per "
              "process): ✓ = imported and ran, ✗ = failed")
        for ch in c["readonly_checks"]:
            status = "ok" if ch["ok"] else f"FAILED: {ch['error']}"
            extra = "" if ch["readonly_verified"] or not ch["ok"] else " [WARNING: dir turned out writable]"
            print(f"    {'✓' if ch['ok'] else '✗'} {ch['case']}: {status}, process {fmt_s(ch['wall_s'])}"
                  + (f", numba cache in {ch['numba_cache_path']}" if ch["ok"] else "") + extra)


# --------------------------------------------------------------------------------------------
# (d) throughput and scaling


def section_d(ctx: Ctx) -> dict:
    sizes = list(C.QUICK_SCALE_SIZES if ctx.quick else C.SCALE_GRIDS)
    threads = [1, 2] if (os.cpu_count() or 1) >= 2 else [1]
    reps = {1_000: 5, 10_000: 3, 100_000: 1} if not ctx.quick else {1_000: 3, 10_000: 2}
    base = ctx.baseline()
    n_bars = len(ctx.bars)
    out: dict[str, Any] = {"n_bars": n_bars, "threads": threads, "runs": []}
    print(f"\n(d) Sweep throughput and scaling on {n_bars:,} bars (each run in a child with NUMBA_NUM_THREADS set)")
    for size in sizes:
        fast, slow = C.SCALE_GRIDS[size]
        for th in threads:
            r = run_child(ctx.spec(task="scale", fast=list(fast), slow=list(slow), reps=reps[size]),
                          env=_env(NUMBA_NUM_THREADS=str(th)), timeout=ctx.args.timeout * 4)
            row: dict[str, Any] = {"size": size, "threads": th,
                                   "grid": {"fast": [fast.start, fast.stop, fast.step],
                                            "slow": [slow.start, slow.stop, slow.step]}}
            if r.get("ok"):
                row.update({"best_s": r["best"], "times_s": r["times"], "n_combos": r["n_combos"],
                            "cpus_used": r["cpus_used"], "loadavg_after": C.loadavg(),
                            "numba_threads": r["numba_threads"], "threading_layer": r["threading_layer"],
                            "bar_combos_per_s": r["n_combos"] * n_bars / r["best"],
                            "memory": mem_delta(r, base)})
            else:
                row["error"] = r.get("error")
            out["runs"].append(row)
            print(f"  {size:>7,} combos, {th} thread(s): "
                  + (f"{fmt_s(row['best_s'])}" if "best_s" in row else f"FAILED {row.get('error')}"), flush=True)
    for size in sizes:
        t = {r["threads"]: r.get("best_s") for r in out["runs"] if r["size"] == size}
        if t.get(1) and t.get(2):
            out.setdefault("speedup_2_vs_1", {})[str(size)] = t[1] / t[2]
    return out


def print_d(d: dict, a: dict | None) -> None:
    rows = []
    for r in d["runs"]:
        if "best_s" not in r:
            rows.append([f"{r['size']:,}", str(r["threads"]), "FAILED", "", "", "", ""])
            continue
        m = r["memory"]
        rows.append([f"{r['n_combos']:,}", str(r["numba_threads"]), f"{fmt_s(r['best_s'])} (n={len(r['times_s'])})",
                     f"{r['cpus_used']:.1f}", fmt_rate(r["bar_combos_per_s"]), fmt_mb(m.get("delta_kb")),
                     fmt_mb(m.get("workload_kb"))])
    print(table(rows, ["combos", "threads", "time, warm (best)", "CPUs used", "bar-combos/s", "peak − baseline",
                       "workload peak"]))
    for size, s in d.get("speedup_2_vs_1", {}).items():
        print(f"  {int(size):,} combos: 2 threads vs 1 = {s:.2f}×")
    if a and a.get("vectorbt", {}).get("bar_combos_per_s"):
        print(f"  for reference, vectorbt in (a): {fmt_rate(a['vectorbt']['bar_combos_per_s'])} "
              f"(single-threaded simulation)")


# --------------------------------------------------------------------------------------------
# (e) the sweep of (a) with stops


def section_e(ctx: Ctx) -> dict:
    """The grid of (a) with a trailing stop-loss and a take-profit on both sides (peaktrade runs these
    combinations bar by bar: stops need each bar's high and low)."""
    import numpy as np

    bars = ctx.bars
    close = bars["close"]
    fast, slow = C.QUICK_GRID_A if ctx.quick else C.GRID_A
    fast_list, slow_list = C.pairs_of(fast, slow)
    n, n_bars = len(fast_list), len(bars)
    out: dict[str, Any] = {"n_combos": n, "n_bars": n_bars, "stops_peaktrade": C.STOPS_PT,
                           "stops_vectorbt": C.STOPS_VBT}
    print(f"\n(e) the sweep of (a) with stops {C.STOPS_PT}: {n:,} combinations × {n_bars:,} bars")
    C.pt_sweep(bars.iloc[:2_000], [5, 6], [20], stops=C.STOPS_PT)
    best_pt, times_pt, res_pt, cpu_pt = best_of(lambda: C.pt_sweep(bars, fast, slow, stops=C.STOPS_PT), 3)
    out["peaktrade"] = {"best_s": best_pt, "times_s": times_pt, "reps": 3, "cpus_used": cpu_pt,
                        "bar_combos_per_s": n * n_bars / best_pt}
    print(f"  peaktrade: best of 3: {fmt_s(best_pt)}", flush=True)
    if ctx.vbt is None:
        out["vectorbt"] = {"skipped": "vectorbt is not installed"}
        return out
    if C.vbt_estimate_bytes(n_bars, n) > min(ctx.args.vbt_max_gb * 1e9, 0.75 * C.mem_available_bytes()):
        out["vectorbt"] = {"skipped": "the full grid does not fit in memory here"}
        return out
    C.vbt_sweep(close.iloc[:2_000], [5, 6], [20, 20], bars=bars.iloc[:2_000], stops=C.STOPS_VBT)
    times = []
    res_vbt = None
    for _ in range(ctx.args.vbt_repeats or 2):
        res_vbt = None
        gc.collect()
        res_vbt = C.vbt_sweep(close, fast_list, slow_list, bars=bars, stops=C.STOPS_VBT)
        times.append(res_vbt["phases"]["total"])
        print(f"  vectorbt: run {len(times)}: {fmt_s(times[-1])}", flush=True)
    out["vectorbt"] = {"best_s": min(times), "times_s": times, "reps": len(times),
                       "bar_combos_per_s": n * n_bars / min(times)}
    out["speedup"] = ratio(min(times), best_pt)
    rel = np.abs(res_pt["total_return"] - res_vbt["total_return"]) / np.maximum(np.abs(res_vbt["total_return"]), 1e-300)
    out["same_results"] = {"n_compared": n, "n_total_return_equal_rel_1e-9": int((rel <= 1e-9).sum()),
                           "n_trade_count_equal": int((res_pt["n_trades"] == res_vbt["n_trades"]).sum()),
                           "median_rel_diff_total_return": float(np.median(rel))}
    return out


def print_e(e: dict) -> None:
    pt, vb = e["peaktrade"], e.get("vectorbt", {})
    rows = [["peaktrade", f"{fmt_s(pt['best_s'])} (best of {pt['reps']})", f"{pt['cpus_used']:.1f}",
             fmt_rate(pt["bar_combos_per_s"])]]
    if "best_s" in vb:
        rows.append(["vectorbt", f"{fmt_s(vb['best_s'])} (best of {vb['reps']})", "", fmt_rate(vb["bar_combos_per_s"])])
    else:
        print(f"  vectorbt skipped: {vb.get('skipped')}")
    print(table(rows, ["side", "time, warm", "CPUs used", "bar-combos/s"]))
    if e.get("speedup") is not None:
        print(f"  speedup with stops: {e['speedup']:.0f}×")
    sr = e.get("same_results")
    if sr:
        print(f"  same results: total return equal (1e-9 rel) on {sr['n_total_return_equal_rel_1e-9']:,} of "
              f"{sr['n_compared']:,} combos, trade counts on {sr['n_trade_count_equal']:,} (stop semantics differ: "
              "see benchmarks/README.md)")


# --------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help=f"smoke run: last {C.QUICK_BARS:,} bars, small grids")
    p.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections among a,b,c,d,e")
    p.add_argument("--name", default=None, help="results file name (default: full-/quick-<UTC timestamp>)")
    p.add_argument("--data", default=str(C.DATA_FILE), help="Kraken OHLCVT file (default: ../shared/data/...)")
    p.add_argument("--vbt-repeats", type=int, default=None, help="repeats of the vectorbt sweep in (a)")
    p.add_argument("--vbt-max-gb", type=float, default=12.0,
                   help="run vectorbt's sweep on a subset and extrapolate above this estimated memory")
    p.add_argument("--explain-max", type=int, default=100,
                   help="(a): mismatching combinations checked against exact arithmetic (default 100)")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds per cold-start child process")
    args = p.parse_args(argv)
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = sorted(set(only) - set(SECTIONS))
    if unknown:
        p.error(f"--only got {','.join(unknown)}: expected some of {','.join(SECTIONS)}")

    data = Path(args.data)
    if not data.is_file():
        print(f"SKIP: benchmarks need real Kraken hourly bars at {data} "
              f"(../shared/data/kraken/XBTUSD_60.csv.gz relative to the repo root); not found.")
        return 0

    t_start = time.perf_counter()
    ctx = Ctx(args)
    import peaktrade.backtest  # noqa: F401

    try:
        import vectorbt

        ctx.vbt = vectorbt
    except ImportError:
        print("NOTE: vectorbt is not installed: the peer side is skipped (pip install vectorbt).")
    ctx.bars, data_info = C.load_bars(data, ctx.last)
    machine = machine_info(ctx)
    print(f"peaktrade benchmarks ({'quick' if args.quick else 'full'}) — {machine['cpu_count']} CPUs "
          f"({machine['cpu_model']}), numba {machine['versions']['numba']} with {machine['numba_threads']} threads, "
          f"vectorbt {machine['versions'].get('vectorbt', 'n/a')}"
          f"{'' if ctx.vbt is None else (' (rust engine)' if machine.get('vectorbt_rust_engine') else ' (numba engine)')}, "
          f"load average {machine['loadavg_at_start']}")
    print(f"data: {data_info['n_bars']:,} bars {data_info['first']} … {data_info['last']} "
          f"(loaded with {data_info['loader']} in {fmt_s(data_info['load_seconds'])})")

    results: dict[str, Any] = {"machine": machine, "data": data_info, "targets": TARGETS, "sections": {}}
    printers = {"a": lambda r: print_a(r), "b": print_b, "c": print_c,
                "d": lambda r: print_d(r, results["sections"].get("a")), "e": print_e}
    funcs = {"a": section_a, "b": section_b, "c": section_c, "d": section_d, "e": section_e}
    for s in SECTIONS:
        if s not in only:
            continue
        t0 = time.perf_counter()
        try:
            r = funcs[s](ctx)
            r["section_seconds"] = time.perf_counter() - t0
            r["loadavg_after"] = C.loadavg()
            results["sections"][s] = r
            printers[s](r)
        except Exception as exc:  # noqa: BLE001  (a failed section is reported, the others still run)
            results["sections"][s] = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
            print(f"  section ({s}) FAILED: {type(exc).__name__}: {exc}")
            traceback.print_exc()
        gc.collect()
    results["machine"]["loadavg_at_end"] = C.loadavg()
    results["total_seconds"] = time.perf_counter() - t_start

    name = args.name or f"{'quick' if args.quick else 'full'}-{_dt.datetime.now(_dt.UTC):%Y%m%dT%H%M%SZ}"
    out_dir = C.BENCH_DIR / "results"
    out_dir.mkdir(exist_ok=True)
    path = out_dir / f"{name}.json"
    path.write_text(json.dumps(jsonable(results), indent=2))
    print(f"\nTotal {fmt_s(results['total_seconds'])}. Results: {path.relative_to(C.REPO_ROOT)}")
    print("Timings are best-of-N on a shared machine; see benchmarks/README.md.")
    if set(only) == set(SECTIONS):  # the full run (make bench) also runs the portfolio benchmark
        subprocess.run([sys.executable, str(C.BENCH_DIR / "portfolio.py"), *(["--quick"] if args.quick else [])],
                       check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
