"""Child process of ``benchmarks/run.py``: runs one measurement in a fresh interpreter.

Usage: ``python benchmarks/_worker.py '<json spec>'``; prints one ``RESULT <json>`` line.

Tasks
-----
mem      imports peaktrade.backtest and vectorbt, loads the bars, optionally runs one side's
         pipeline (after a tiny warm-up), and reports VmHWM before/after. ``side="none"`` is the
         baseline every other child is compared with.
scale    like ``mem`` for a peaktrade sweep, timed best-of-``reps`` under the NUMBA_NUM_THREADS the
         parent set.
cold     times ``import peaktrade.backtest`` (or ``import vectorbt``), the CSV load and the first
         single backtest in this fresh process, and reports which numba cache dir was used.
"""

from __future__ import annotations

import json
import os
import sys
import time

T_PROCESS = time.perf_counter()
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common as C  # noqa: E402  (stdlib-only module)


def _bars(spec):
    bars, info = C.load_bars(C.Path(spec["data"]), spec.get("last"))
    return bars, info


def _import_libs(spec):
    import peaktrade.backtest  # noqa: F401

    have_vbt = False
    if spec.get("import_vbt", True):
        try:
            import vectorbt  # noqa: F401

            have_vbt = True
        except ImportError:
            pass
    return have_vbt


def task_mem(spec):
    import gc

    have_vbt = _import_libs(spec)
    bars, _ = _bars(spec)
    close = bars["close"]
    side = spec["side"]
    out = {"side": side, "vectorbt_imported": have_vbt}
    if side == "none":
        gc.collect()
        out.update(C.status_kb("VmHWM", "VmRSS"))
        return out
    if side == "pt_sweep":
        C.pt_warmup(bars)
    elif side == "vbt_sweep":
        C.vbt_warmup(close)
    gc.collect()
    before = C.status_kb("VmHWM", "VmRSS")
    reset_ok = C.reset_hwm()
    t0 = time.perf_counter()
    if side == "pt_sweep":
        res = C.pt_sweep(bars, spec["fast"], spec["slow"])
    elif side == "vbt_sweep":
        res = C.vbt_sweep(close, spec["fast_list"], spec["slow_list"])
    else:
        raise ValueError(f"side={side!r}")
    seconds = time.perf_counter() - t0
    after = C.status_kb("VmHWM", "VmRSS")
    out.update({
        "seconds": seconds,
        "n_combos": int(len(res["total_return"])),
        "hwm_before_kb": before["VmHWM"],
        "rss_before_kb": before["VmRSS"],
        "hwm_reset": reset_ok,
        "hwm_after_kb": after["VmHWM"],
        # peak of the whole child (imports, data, warm-up and workload)
        "VmHWM": max(before["VmHWM"], after["VmHWM"]),
        # peak growth caused by the workload alone (valid when the reset worked)
        "workload_kb": after["VmHWM"] - before["VmRSS"] if reset_ok else None,
    })
    return out


def task_scale(spec):
    import gc

    import numba

    have_vbt = _import_libs(spec)
    bars, _ = _bars(spec)
    C.pt_warmup(bars)
    gc.collect()
    before = C.status_kb("VmHWM", "VmRSS")
    reset_ok = C.reset_hwm()
    times, cpus = [], []
    n = 0
    for _ in range(spec["reps"]):
        c0, t0 = os.times(), time.perf_counter()
        res = C.pt_sweep(bars, spec["fast"], spec["slow"])
        times.append(time.perf_counter() - t0)
        c1 = os.times()
        cpus.append((c1.user - c0.user + c1.system - c0.system) / times[-1])
        n = len(res["total_return"])
        del res
    after = C.status_kb("VmHWM", "VmRSS")
    return {
        "vectorbt_imported": have_vbt,
        "numba_threads": numba.get_num_threads(),
        "NUMBA_NUM_THREADS": numba.config.NUMBA_NUM_THREADS,
        "threading_layer": numba.threading_layer(),
        "n_combos": n,
        "n_bars": len(bars),
        "times": times,
        "best": min(times),
        "cpus_used": cpus[times.index(min(times))],
        "hwm_reset": reset_ok,
        "VmHWM": max(before["VmHWM"], after["VmHWM"]),
        "workload_kb": after["VmHWM"] - before["VmRSS"] if reset_ok else None,
    }


def _writable(d):
    import tempfile

    try:
        with tempfile.NamedTemporaryFile(dir=d):
            return True
    except OSError:
        return False


def task_cold(spec):
    lib = spec.get("lib", "pt")
    if spec.get("import_numba_first"):
        import numba  # noqa: F401  (as a notebook that imported numba or vectorbt before peaktrade)
    t0 = time.perf_counter()
    if lib == "pt":
        import peaktrade.backtest as bt

        mod_file = bt.__file__
    else:
        import vectorbt as vbt

        mod_file = vbt.__file__
    t1 = time.perf_counter()
    bars, info = C.load_bars(C.Path(spec["data"]))
    t2 = time.perf_counter()
    if lib == "pt":
        res = bt.run("ma_crossover", bars, fees=C.FEES, init_cash=C.INIT_CASH, execution="close", **C.SINGLE)
        total_return = float(res.equity.iloc[-1] / res.init_cash - 1.0)
    else:
        close = bars["close"]
        fast_ma = vbt.MA.run(close, C.SINGLE["fast"])
        slow_ma = vbt.MA.run(close, C.SINGLE["slow"])
        pf = vbt.Portfolio.from_signals(close, fast_ma.ma_crossed_above(slow_ma), fast_ma.ma_crossed_below(slow_ma),
                                        fees=C.FEES, init_cash=C.INIT_CASH, freq="1h")
        total_return = float(pf.total_return())
    t3 = time.perf_counter()
    cache_path = None
    if lib == "pt":
        try:
            from peaktrade.backtest import nb as kernels

            cache_path = kernels.simulate_nb._cache.cache_path  # where numba actually reads/writes
        except Exception:  # noqa: BLE001  (numba internals: informational only)
            pass
    return {
        "lib": lib,
        "numba_cache_path": cache_path,
        "module_file": mod_file,
        "interpreter_to_import_s": t0 - T_PROCESS,
        "import_s": t1 - t0,
        "load_s": t2 - t1,
        "first_run_s": t3 - t2,
        "import_plus_first_run_s": (t1 - t0) + (t3 - t2),
        "total_return": total_return,
        "NUMBA_CACHE_DIR": os.environ.get("NUMBA_CACHE_DIR"),
        "writable": {d: _writable(d) for d in spec.get("probe_dirs", [])},
    }


TASKS = {"mem": task_mem, "scale": task_scale, "cold": task_cold}


def main() -> None:
    spec = json.loads(sys.argv[1])
    out = TASKS[spec["task"]](spec)
    print("RESULT " + json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
