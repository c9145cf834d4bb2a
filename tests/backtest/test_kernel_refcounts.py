"""The simulation kernels compiled without reference counting (``_nrt=False``) must not return arrays.

A caller that counts references takes a returned array as a new reference and releases it later: from a
function that never counted it, that frees memory still in use. Only kernels that allocate nothing and
return scalars (or nothing) may skip the counts (backtest/nb.py explains why they do). The kernels are
compiled afresh in a child process (with an empty numba cache: kernels loaded from the cache do not show
the signatures of the functions they call).
"""

from __future__ import annotations

import os
import subprocess
import sys

from tests.helpers import REPO_ROOT

_CHECK = """
import numpy as np
from numba import types
from numba.core.registry import CPUDispatcher
from peaktrade.backtest import from_signals, nb
from peaktrade.backtest.options import BacktestOptions
from peaktrade.strategies.ma_crossover import STRATEGY
from tests.helpers import random_bars

bars = random_bars(300, seed=5, vol=0.02)
rng = np.random.default_rng(5)
e, x = rng.random(300) < 0.05, rng.random(300) < 0.05
# the per-bar path (stops, shorts) through a single run, then the fast path's combination kernel
from_signals(bars["close"], e, x, open=bars["open"], high=bars["high"], low=bars["low"], sl_stop=0.02,
             sl_trail=0.02, tp_stop=0.04, direction="both").stats()
c = bars["close"].to_numpy()
ind = np.ascontiguousarray(np.vstack([bars[k].to_numpy() for k in ("open", "high", "low", "close", "volume")] + [c, c[::-1].copy()]))
sp = BacktestOptions.parse(fees=0.001).kernel_params()
pre, blk = nb.hold_tables_nb(c)
acc = nb.init_acc_nb(10_000.0)
tm = np.arange(300.0) / 24
fs = np.empty((1, nb.FS_LEN))
nb.fast_init_nb(fs[0], sp)
for t0 in range(0, 300, 64):
    nb.fast_block_nb(STRATEGY.signal_nb, ind, np.array([[5, 6]]), np.zeros((1, 1)), np.zeros((1, 4)),
                     np.zeros(64, np.bool_), np.zeros(64, np.bool_), t0, min(t0 + 64, 300), sp[None, :], tm,
                     np.array([0, 300]), np.zeros((1, 1, 2)), pre, blk, acc[None, :], fs, 0, 0)
nb.fast_finish_nb(c, tm, np.array([0, 300]), np.zeros((1, 2)), pre, blk, acc, fs[0])

def holds_array(ty):
    if isinstance(ty, types.Array):
        return True
    return isinstance(ty, types.BaseTuple) and any(holds_array(t) for t in ty.types)

free = {name: fn for name, fn in vars(nb).items()
        if isinstance(fn, CPUDispatcher) and fn.targetoptions.get("_nrt") is False}
checked = set()
for name, fn in free.items():
    for sig in fn.nopython_signatures:
        checked.add(name)
        assert not holds_array(sig.return_type), f"{name} runs without reference counts but returns {sig}"
print("CHECKED", sorted(checked))
"""


def test_kernels_without_refcounts_when_compiled_then_return_no_array(tmp_path):
    out = subprocess.run([sys.executable, "-c", _CHECK], capture_output=True, text=True, timeout=900,
                         cwd=REPO_ROOT, env={**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)})
    assert out.returncode == 0, out.stderr[-3000:]
    checked = set(out.stdout.rsplit("CHECKED ", 1)[1].strip().strip("[]").replace("'", "").split(", "))
    # the kernels of both paths were compiled here, so their return types were seen
    assert {"fast_init_nb", "fast_block_nb", "fast_finish_nb", "run_range_nb", "bar_nb", "close_nb", "open_nb", "stops_nb"} <= checked, checked
