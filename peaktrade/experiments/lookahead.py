"""Lookahead check: nothing a strategy computes for bar t may change when the bars after t are removed.

:func:`lookahead_check` runs a strategy's ``prepare`` and ``signal_nb`` (the code the backtests and
the live pipeline run) on truncated histories ``bars[:k]`` and compares, for every bar ``t < k``,
each signal (entries, exits) of every parameter combination and each indicator row ``prepare``
returned (by name, and through each combination's ``cols``), NaN equal to NaN.

How the histories are chosen and ordered, and why:

1. **Unrelated bars first.** ``prepare`` runs once on a seeded random walk unrelated to ``bars``
   (other prices, other times). An indicator row that is not constant yet comes out identical on
   those bars and on ``bars`` does not depend on its input: it is read from a cache filled by an
   earlier call or computed on a global.
2. **Growing histories, the full one last** (``k`` ascending; each run is compared with the previous,
   which by transitivity compares every run with the full history). A cache that ``prepare`` fills
   on its first call and slices afterwards is filled by the SHORTEST history, so a longer call must
   recompute (and its values are compared) or fail (reported).
   Checkpoints: ``n_random`` seeded random lengths, the warm-up lengths 1, 2, 4, 8, ... (an
   indicator back-filled before its warm-up is only visible there) and the last bars.
3. **Every bar on which a signal fires.** For each bar ``t`` on which any combination fired in any
   run above, the history ``bars[:t+1]`` (``t`` is its last bar) is compared with the full run. A
   kernel that peeks at ``t + 1`` behind a bounds check for a rare event is caught on that event.
   The bars where a discrete indicator row (an event flag from ``prepare``) takes a rare value join them.
4. **The kernel on every bar.** ``signal_nb`` is called for each bar ``t`` alone on the full run's
   indicators cut after ``t``, with the state it carried into ``t``: a read past the end shows on any
   bar, also where it suppresses a signal (a breakout skipped when the next close falls), which the
   signal bars of step 3 never look at.

A prepare or kernel that raises on a truncated history fails the check (it cannot be verified).
The report names the first offending bar and output (:attr:`LookaheadReport.message`).

What no truncation test can see: future data merged into the bars before the check (a column of a
higher timeframe aligned by its open time, a global filled from the full history and aligned by
timestamp). Use :func:`peaktrade.data.higher_timeframe` for such merges, inside ``prepare``.
"""

from __future__ import annotations

import json
import re
import warnings
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from peaktrade.errors import BacktestError, bad_value

#: Version of the check's rules; part of every cached verdict's key (bump when the rules change).
CHECK_VERSION = 3

_SIG_COLUMNS = ["time", "bar", "signal", "combo", "k", "value", "k_more", "value_more"]
_IND_COLUMNS = ["time", "bar", "output", "combo", "k", "value", "k_more", "value_more"]
_N_BAR_ROWS = 5
#: ``output`` of a problem that is a raise, not a value (see :meth:`LookaheadReport._first`).
_RAISED = ("prepare", "signal_nb")
#: Bar spacings the unrelated bars are shifted by (a prime, so no calendar period lines up).
_SHIFT_BARS = 7919


@dataclass
class LookaheadReport:
    """Outcome of :func:`lookahead_check`.

    Attributes
    ----------
    changes : pandas.DataFrame
        Signals that differ between two histories, the first bar per (signal, combination, pair):
        ``time``, ``bar`` (position), ``signal`` (``"entries"``/``"exits"``), ``combo`` (index in
        :attr:`combos`), ``k`` and ``value`` (on ``bars[:k]``), ``k_more`` and ``value_more`` (on the
        longer history ``bars[:k_more]``; ``k_more == len(bars)`` is the full history).
    indicator_changes : pandas.DataFrame
        Indicator values that differ, the first bar per (output, pair): the same columns with
        ``output`` (the row's name, e.g. ``"sma(20)"``, or ``"input i of combo j: name"`` when
        compared through a combination's ``cols``) instead of ``signal``.
    problems : list of str
        Failures that are not a value change: ``prepare``/``signal_nb`` raising on a history, or an
        indicator identical on unrelated bars.
    checkpoints : numpy.ndarray
        The truncated history lengths ``k`` checked.
    strategy : str
    params : dict
        The first resolved parameter combination.
    combos : list of dict
        Every parameter combination checked.
    signal_bars_skipped : int
        Signal bars not checked because of ``max_signal_bars`` (0 by default).
    authored : str
        ``"signals"`` or ``"position"`` for a pandas-level strategy (whose outputs are rows of
        ``prepare`` named ``entries(...)``, ``exits(...)``, ``position(...)``: the message names them as
        that method's output), else ``""``.
    """

    changes: pd.DataFrame
    indicator_changes: pd.DataFrame
    checkpoints: np.ndarray
    strategy: str
    params: dict[str, Any] = field(default_factory=dict)
    combos: list[dict[str, Any]] = field(default_factory=list)
    problems: list[dict[str, Any]] = field(default_factory=list)
    signal_bars_skipped: int = 0
    authored: str = ""

    @property
    def passed(self) -> bool:
        """True when no signal and no indicator value changed and nothing failed."""
        return not len(self.changes) and not len(self.indicator_changes) and not self.problems

    def _first(self) -> dict[str, Any] | None:
        # on a tie the indicator is named before the signal it moved (the cause before the effect)
        cands = []
        for order, (df, what) in enumerate(((self.indicator_changes, "output"), (self.changes, "signal"))):
            if len(df):
                i = int(df["bar"].to_numpy().argmin())
                row = df.iloc[i]
                cands.append({"bar": int(row["bar"]), "time": row["time"], "output": str(row[what]),
                              "combo": int(row["combo"]), "text": _change_text(row, what, self.authored),
                              "order": 2 * order})
        cands += [{**p, "order": 1} for p in self.problems]
        # a value that changed is named before a history the strategy raised on (np.gradient raises on
        # one bar and reads t + 1 on every other): the raise fails the check too, but names no leak
        return min(cands, key=lambda c: (c["output"] in _RAISED, c["bar"], c["order"])) if cands else None

    @property
    def first_leak(self) -> pd.Timestamp | None:
        """Time of the earliest offending bar (signal, indicator or problem), or None."""
        f = self._first()
        return None if f is None else f["time"]

    @property
    def first_bar(self) -> int | None:
        """Position of the earliest offending bar, or None."""
        f = self._first()
        return None if f is None else f["bar"]

    @property
    def first_output(self) -> str | None:
        """Name of the signal or indicator that offends first (``"entries"``, ``"sma(20)"``, ...), or None."""
        f = self._first()
        return None if f is None else f["output"]

    @property
    def message(self) -> str:
        """One line: passed, or the strategy (and combination), the first offending bar and output and
        what changed there (exception texts of a failed history are folded onto the line)."""
        f = self._first()
        if f is None:
            return (f"strategy '{self.strategy}' passed the lookahead check ({len(self.combos)} combination(s), "
                    f"{len(self.checkpoints)} truncated histories)")
        j = f.get("combo", -1)
        params = self.combos[j] if 0 <= j < len(self.combos) else (self.params if len(self.combos) <= 1 else {})
        combo = " with " + ", ".join(f"{k}={v!r}" for k, v in params.items()) if params else ""
        out = _OUTPUT_ROW.match(f["output"]) if self.authored and not params else None
        if out is not None and out.group(2):  # a pandas output row is named after its combination
            combo = f" with {out.group(2)}"
        return " ".join(f"strategy '{self.strategy}'{combo} reads the future: {f['text']}".split())

    def __repr__(self) -> str:
        verdict = "passed" if self.passed else (f"FAILED: {len(self.changes)} signal change(s), "
                                                 f"{len(self.indicator_changes)} indicator change(s), "
                                                 f"{len(self.problems)} problem(s)")
        return f"LookaheadReport({self.strategy}, {len(self.checkpoints)} checkpoints, {verdict})"


def _change_text(row: pd.Series, what: str, authored: str = "") -> str:
    kind = "signal" if what == "signal" else "indicator"
    name, value, more = f"'{row[what]}'", row["value"], row["value_more"]
    out = _OUTPUT_ROW.match(str(row[what])) if authored and what == "output" else None
    if out is not None:  # a pandas strategy's own output, not an indicator: name it as the author wrote it
        kind, name = f"{authored}() output", f"'{out.group(1)}'"
        show = (lambda v: str(bool(v))) if out.group(1) != "position" else (lambda v: f"{v:g}")
        value, more = show(value), show(more)
    return (f"{kind} {name} at bar {int(row['bar'])} ({row['time']}) is {value} on the first "
            f"{int(row['k'])} bars but {more} on the first {int(row['k_more'])}")


#: Row names of a pandas strategy's outputs (see :class:`peaktrade.strategies.PandasStrategy`).
_OUTPUT_ROW = re.compile(r"^(entries|exits|position)\((.*)\)$")


def default_checkpoints(n: int, *, n_random: int = 50, seed: int = 0, tail: int = 200,
                        n_tail: int = 20) -> np.ndarray:
    """Return the history lengths checked before the signal bars: ``n_random`` seeded random lengths in
    [1, n), the warm-up lengths 1, 2, 4, 8, ... and ~``n_tail`` lengths in the last ``tail`` bars."""
    if n < 2:
        return np.empty(0, dtype=np.int64)
    rng = np.random.default_rng(seed)
    rand = rng.choice(np.arange(1, n), size=min(n_random, n - 1), replace=False)
    early = 2 ** np.arange(int(np.log2(n - 1)) + 1)
    last = np.linspace(max(1, n - tail), n - 1, n_tail).round()
    return np.unique(np.concatenate([rand, early, last]).astype(np.int64))


class _Run(NamedTuple):
    k: int
    ind: np.ndarray
    cols: np.ndarray
    fpar: np.ndarray
    names: tuple[str, ...]
    entries: np.ndarray  # (n_combos, k)
    exits: np.ndarray


def lookahead_check(strategy: Any, bars: pd.DataFrame, *, checkpoints: Any = None, signal_bars: bool = True,
                    n_random: int = 50, seed: int = 0, max_combos: int = 64, max_signal_bars: int | None = None,
                    **params: Any) -> LookaheadReport:
    """Recompute a strategy on truncated histories and report what the future changed.

    Parameters
    ----------
    strategy
        Strategy name or object.
    bars
        Bars DataFrame (open, high, low, close; volume optional).
    checkpoints
        History lengths ``k`` (each in [1, len(bars))) to use instead of the default ones
        (:func:`default_checkpoints`); with explicit checkpoints no signal bars are added and the kernel is
        not checked bar by bar.
    signal_bars
        Also check ``bars[:t+1]`` for every bar ``t`` on which any signal fired (default).
    n_random, seed
        Number of seeded random checkpoints, and the seed (also of the unrelated bars).
    max_signal_bars
        Bound the signal-bar histories (each costs a run on up to ``len(bars)`` bars, so a signal that
        is on for most bars of a long history costs O(n²)): beyond it, every bar where a signal turns
        on or off is kept and the rest sampled (seeded); ``report.signal_bars_skipped`` counts the
        bars left out. Default None: every signal bar.
    max_combos
        At most this many parameter combinations are checked: a larger grid is sampled (seeded),
        always keeping the combinations that hold a parameter's smallest or largest value.
    **params
        Strategy parameters by name (or as one dict, ``params={"fast": 10}``); an iterable sweeps a parameter as in
        :func:`~peaktrade.backtest.sweep` (``fast=[5, 10], slow=100``), so every combination a sweep
        would run is checked. Simulator stops are accepted and ignored.

    Returns
    -------
    LookaheadReport
        ``.passed`` is True when nothing changed; ``.message`` names the first offending bar and output.
    """
    from peaktrade.backtest.engine import check_bars, split_params
    from peaktrade.backtest.sweep import expand_grid
    from peaktrade.strategies.base import Prices, prices_from_bars
    from peaktrade.strategies.registry import get_strategy

    strat = get_strategy(strategy)
    if isinstance(params.get("params"), dict) and "params" not in strat.param_names:
        params = {**params.pop("params"), **params}  # lookahead_check(s, bars, params={"fast": 10}) reads naturally
    check_bars(bars)
    combos = _combos(strat, params, expand_grid, split_params, max_combos=max_combos, seed=seed)
    b = bars if "volume" in bars else bars.assign(volume=0.0)
    n = len(b)
    explicit = checkpoints is not None
    if explicit:
        ks = np.unique(np.asarray(list(checkpoints) if not np.isscalar(checkpoints) else [checkpoints]))
        if ks.size == 0 or ks.dtype.kind not in "iu" or ks.min() < 1 or ks.max() >= n:
            raise BacktestError(bad_value("checkpoints", checkpoints, f"integers in [1, {n - 1}]"))
        ks = ks.astype(np.int64)
    else:
        ks = default_checkpoints(n, n_random=n_random, seed=seed)

    index = b.index
    sig_rows: list[dict[str, Any]] = []
    ind_rows: list[dict[str, Any]] = []
    problems: list[dict[str, Any]] = []
    fired = np.zeros(n, dtype=bool)
    turned = np.zeros(n, dtype=bool)  # a signal turned on or off on the bar

    whole = prices_from_bars(b)

    def run(k: int, data: pd.DataFrame | None = None) -> _Run | None:
        # copies, so that a prepare writing into its input cannot touch the other histories
        prices = Prices(*(a[:k].copy() for a in whole), time=None if whole.time is None else whole.time[:k].copy()) \
            if data is None else prices_from_bars(data)
        try:
            # tiny histories make user code warn (mean of an empty slice): expected here, not news
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore", RuntimeWarning)
                r = _run(strat, prices, combos)
        except Exception as e:  # noqa: BLE001 — a history the strategy cannot compute fails the check
            where = f"the first {k} bars" if data is None else "unrelated random-walk bars"
            problems.append({"bar": max(k - 1, 0), "time": index[max(k - 1, 0)], "output": "prepare",
                             "text": f"prepare or signal_nb raised on {where} ({type(e).__name__}: {e}); "
                                     "a strategy must compute on any history to be checked"})
            return None
        if data is None:
            for sig in (r.entries, r.exits):
                fired[:k] |= sig.any(axis=0)
                before = np.concatenate([np.zeros((sig.shape[0], 1), bool), sig[:, :-1]], axis=1)
                turned[:k] |= (sig != before).any(axis=0)
        return r

    # 1. unrelated bars first: an indicator that does not depend on its input shows up identical
    unrelated = run(n, _unrelated_bars(b, seed)) if n >= 2 else None
    # 2. growing histories, each compared with the previous one; the full history last
    prev: _Run | None = None
    for k in [*ks.tolist(), n]:
        cur = run(k)
        if cur is not None and prev is not None:
            _compare(prev, cur, index, sig_rows, ind_rows)
        prev = cur if cur is not None else prev
    full = prev if prev is not None and prev.k == n else None
    if full is not None and unrelated is not None:
        problems += _same_on_unrelated(unrelated, full, index)
    # 3. every bar on which a signal fired, as the last bar of its history, against the full run
    done = set(ks.tolist())
    extra: list[int] = []
    skipped = 0
    if full is not None and signal_bars and not explicit:
        fired |= _rare_values(full)  # an event flag computed in prepare (a veto) fires there too
        todo = np.array([t for t in np.flatnonzero(fired[: n - 1]) if int(t) + 1 not in done], dtype=np.int64)
        if max_signal_bars is not None and len(todo) > max_signal_bars:
            edges = todo[turned[todo]]
            rest = todo[~turned[todo]]
            room = max(0, max_signal_bars - len(edges))
            pick = np.random.default_rng([seed, 1]).choice(rest, size=min(room, len(rest)), replace=False)
            kept = np.sort(np.concatenate([edges, pick]))
            skipped = len(todo) - len(kept)
            todo = kept
        for t in todo:
            k = int(t) + 1
            cur = run(k)
            extra.append(k)
            if cur is not None:
                _compare(cur, full, index, sig_rows, ind_rows)
    # 4. the kernel on every bar as the last bar of its data (the full run's indicators cut there, the
    # state it carried into the bar): a read past the end hidden behind a bounds check shows on any bar,
    # also where it SUPPRESSES a signal (a breakout skipped when the next close falls never fires)
    if full is not None and not explicit:
        try:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore", RuntimeWarning)
                _kernel_each_bar(strat, full, index, sig_rows)
        except Exception as e:  # noqa: BLE001 — a kernel that cannot run block by block cannot be checked
            problems.append({"bar": n - 1, "time": index[n - 1], "output": "signal_nb",
                             "text": f"signal_nb raised when called one bar at a time ({type(e).__name__}: {e})"})
    checked = np.unique(np.concatenate([ks, np.asarray(extra, dtype=np.int64)])).astype(np.int64)
    return LookaheadReport(changes=pd.DataFrame(sig_rows, columns=_SIG_COLUMNS),
                           indicator_changes=pd.DataFrame(ind_rows, columns=_IND_COLUMNS),
                           checkpoints=checked, strategy=strat.name, params=dict(combos[0]),
                           combos=[dict(c) for c in combos], problems=problems, signal_bars_skipped=skipped,
                           authored=_authored(strat))


def _authored(strat: Any) -> str:
    """Return ``"signals"``/``"position"`` when ``strat`` is a pandas-level strategy, else ``""``."""
    from peaktrade.strategies.nb import precomputed_signal_nb

    if strat.signal_nb is not precomputed_signal_nb:
        return ""
    return "signals" if strat.rows_per_combo == 2 else "position"


def _combos(strat: Any, params: dict[str, Any], expand_grid: Any, split_params: Any, *, max_combos: int,
            seed: int) -> list[dict[str, Any]]:
    """Return the resolved signal parameters of every combination ``params`` describes (sampled to ``max_combos``)."""
    combos, skipped = expand_grid(strat, params)
    if not combos:
        strat.resolve({k: v for k, v in params.items() if np.isscalar(v)})  # raises naming the broken constraint
        raise BacktestError(f"every parameter combination of '{strat.name}' breaks a constraint: "
                            f"{', '.join(skipped)}")
    # distinct signal parameters only (a swept stop gives the same signals)
    sig = list({json.dumps(r, sort_keys=True, default=str): r
                for r in (strat.resolve(split_params(strat, c)[0]) for c in combos)}.values())
    if not (isinstance(max_combos, int) and max_combos >= 1):
        raise BacktestError(bad_value("max_combos", max_combos, "an int >= 1"))
    if len(sig) <= max_combos:
        return sig
    # keep the extremes of every parameter (where a parameter-dependent read reaches furthest), then every
    # value of every parameter at least once (a leak for one value only, e.g. a bug at window=77), then
    # sample: coverage may take more than max_combos, which bounds only the sampled rest
    keep: list[int] = []
    for name in strat.param_names:
        vals = [c[name] for c in sig]
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals):
            keep += [int(np.argmin(vals)), int(np.argmax(vals))]
    keep = list(dict.fromkeys(keep))
    rng = np.random.default_rng(seed)
    covered = {(k, json.dumps(sig[i][k], default=str)) for i in keep for k in strat.param_names}
    for i in rng.permutation(len(sig)).tolist():
        have = {(k, json.dumps(sig[i][k], default=str)) for k in strat.param_names}
        if not have <= covered:
            keep.append(i)
            covered |= have
    rest = np.setdiff1d(np.arange(len(sig)), keep)
    keep += rng.choice(rest, size=min(len(rest), max(0, max_combos - len(keep))), replace=False).tolist()
    return [sig[i] for i in sorted(keep)]


def _run(strat: Any, prices: Any, combos: list[dict[str, Any]]) -> _Run:
    prep = strat.prepare(prices, combos)
    n = prices.n
    m = len(combos)
    entries = np.zeros((m, n), dtype=np.bool_)
    exits = np.zeros((m, n), dtype=np.bool_)
    for j in range(m):
        state = np.zeros(max(strat.n_state, 1), dtype=np.float64)
        strat.signal_nb(prep.ind, prep.cols[j], prep.fpar[j], state, 0, n, entries[j], exits[j])
    names = tuple(getattr(prep, "names", ()) or ())
    if len(names) != prep.ind.shape[0] or len(set(names)) != len(names):
        names = tuple(f"row {r}" for r in range(prep.ind.shape[0]))
    return _Run(n, prep.ind, prep.cols, prep.fpar, names, entries, exits)


def _rare_values(full: _Run, *, max_values: int = 8, max_share: float = 0.05) -> np.ndarray:
    """Return the bars on which a discrete indicator row (at most ``max_values`` distinct values) holds a
    value other than its most common one, for rows where that happens on at most ``max_share`` of the
    bars: the events of a flag computed in ``prepare``. A flag that reads the future (a breakout vetoed
    because the next close falls) differs only on its events, which random checkpoints hit by luck; a
    frequent one shows on the random checkpoints."""
    out = np.zeros(full.k, dtype=bool)
    for r in range(_N_BAR_ROWS, full.ind.shape[0]):
        x = full.ind[r]
        ok = ~np.isnan(x)
        vals, counts = np.unique(x[ok], return_counts=True)
        if not 2 <= len(vals) <= max_values:
            continue
        rare = ok & (x != vals[np.argmax(counts)])
        if rare.sum() <= max_share * full.k:
            out |= rare
    return out


def _kernel_each_bar(strat: Any, full: _Run, index: pd.Index, sig_rows: list) -> None:
    """Append the first bar per (signal, combination) where ``signal_nb`` called for bar t alone, on the
    full run's indicators cut after t and with the state it carried into t, differs from the full run.

    A causal kernel's state before t and its output at t depend on ``ind[:, :t+1]`` only, so they agree
    (the contract lets the simulators call the kernel block by block). Costs one copy of ``ind[:, :t+1]``
    per bar and two kernel calls per bar and combination (:func:`~peaktrade.experiments.nb.kernel_each_bar_nb`)."""
    from peaktrade.experiments.nb import kernel_each_bar_nb

    n, m = full.k, full.cols.shape[0]
    first = np.full((m, 2), -1, dtype=np.int64)
    kernel_each_bar_nb(strat.signal_nb, np.ascontiguousarray(full.ind), np.ascontiguousarray(full.cols),
                       np.ascontiguousarray(full.fpar, dtype=np.float64), strat.n_state,
                       np.ascontiguousarray(full.entries), np.ascontiguousarray(full.exits), first)
    for j, s, name, sig in ((j, s, name, sig) for j in range(m)
                            for s, (name, sig) in enumerate((("entries", full.entries), ("exits", full.exits)))):
        t = int(first[j, s])
        if t >= 0:
            sig_rows.append({"time": index[t], "bar": t, "signal": name, "combo": j, "k": t + 1,
                             "value": not bool(sig[j, t]), "k_more": n, "value_more": bool(sig[j, t])})


def _row_pairs(a: _Run, b: _Run) -> list[tuple[str, int, int, int]]:
    """Return (label, combo, row in a, row in b) of every indicator output to compare."""
    out: list[tuple[str, int, int, int]] = []
    seen: set[tuple[int, int]] = set()
    b_row = {name: r for r, name in enumerate(b.names)}
    for ra in range(_N_BAR_ROWS, a.ind.shape[0]):
        rb = b_row.get(a.names[ra])
        if rb is not None:
            out.append((a.names[ra], -1, ra, rb))
            seen.add((ra, rb))
    # through each combination's cols too: row order and names may differ between histories
    # (a wrapper merges member rows that are equal on a short history)
    if a.cols.shape == b.cols.shape:
        for j in range(a.cols.shape[0]):
            for i in range(a.cols.shape[1]):
                ra, rb = int(a.cols[j, i]), int(b.cols[j, i])
                if (ra, rb) not in seen and not (ra < _N_BAR_ROWS and ra == rb):
                    seen.add((ra, rb))
                    out.append((f"input {i} of combo {j}: {b.names[rb]}", j, ra, rb))
    return out


def _compare(a: _Run, b: _Run, index: pd.Index, sig_rows: list, ind_rows: list) -> None:
    """Append the first bar < a.k where each output differs between the shorter run ``a`` and the longer ``b``."""
    k = a.k
    for name, va, vb in (("entries", a.entries, b.entries[:, :k]), ("exits", a.exits, b.exits[:, :k])):
        diff = va != vb
        for j in np.flatnonzero(diff.any(axis=1)):
            t = int(np.argmax(diff[j]))
            sig_rows.append({"time": index[t], "bar": int(t), "signal": name, "combo": int(j), "k": k,
                             "value": bool(va[j, t]), "k_more": b.k, "value_more": bool(vb[j, t])})
    pairs = _row_pairs(a, b)
    if not pairs:
        return
    x = a.ind[[p[2] for p in pairs]]
    y = b.ind[[p[3] for p in pairs]][:, :k]
    diff = ~((x == y) | (np.isnan(x) & np.isnan(y)))
    for i in np.flatnonzero(diff.any(axis=1)):
        t = int(np.argmax(diff[i]))
        label, j, _, _ = pairs[i]
        ind_rows.append({"time": index[t], "bar": t, "output": label, "combo": j, "k": k,
                         "value": float(x[i, t]), "k_more": b.k, "value_more": float(y[i, t])})


def _same_on_unrelated(u: _Run, full: _Run, index: pd.Index) -> list[dict[str, Any]]:
    """Problems for each non-constant indicator row identical on the unrelated bars and on the bars."""
    out = []
    u_row = {name: r for r, name in enumerate(u.names)}
    for r in range(_N_BAR_ROWS, full.ind.shape[0]):
        ru = u_row.get(full.names[r])
        if ru is None:
            continue
        x, y = full.ind[r], u.ind[ru]
        vals = x[~np.isnan(x)]
        if vals.size < 2 or np.all(vals == vals[0]):
            continue  # constant rows (a fixed threshold) legitimately ignore the bars
        if np.array_equal(x, y, equal_nan=True):
            t = int(np.flatnonzero(~np.isnan(x))[0])
            out.append({"bar": t, "time": index[t], "output": full.names[r],
                        "text": f"indicator '{full.names[r]}' at bar {t} ({index[t]}) and on is identical on "
                                "unrelated bars: prepare reads a cache or a global instead of the bars it is given"})
    return out


def _unrelated_bars(bars: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Return a seeded random walk shaped like ``bars`` (scale, volatility, spacing), other prices and times."""
    rng = np.random.default_rng([seed, 0x5EED])
    n = len(bars)
    close0 = bars["close"].to_numpy(dtype=np.float64)
    lr = np.diff(np.log(close0[close0 > 0])) if n > 2 else np.zeros(1)
    vol = float(np.std(lr)) if lr.size and np.isfinite(np.std(lr)) and np.std(lr) > 0 else 0.01
    close = close0[0] * 1.37 * np.exp(np.cumsum(rng.normal(0.0, vol, n)))
    open_ = np.r_[close0[0] * 1.37, close[:-1]]
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0.0, vol / 2, n)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0.0, vol / 2, n)))
    vol_mean = float(np.nanmean(bars["volume"])) if n else 1.0
    volume = rng.uniform(0.5, 1.5, n) * (vol_mean if np.isfinite(vol_mean) and vol_mean > 0 else 1.0)
    ns = bars.index.as_unit("ns").asi8
    step = int(np.gcd.reduce(np.diff(ns))) if n >= 2 else 3_600_000_000_000
    idx = pd.DatetimeIndex(pd.to_datetime(ns + _SHIFT_BARS * step, unit="ns", utc=True), name=bars.index.name)
    return pd.DataFrame({"open": open_, "high": high, "low": low, "close": close, "volume": volume}, index=idx)




def __getattr__(name: str) -> Any:
    # strategy_code_hash lives in peaktrade.strategies.code (compute keys its chunk cache with it); importing it at
    # module level would load numba with `import peaktrade.experiments`
    if name == "strategy_code_hash":
        from peaktrade.strategies.code import strategy_code_hash

        return strategy_code_hash
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["CHECK_VERSION", "LookaheadReport", "default_checkpoints", "lookahead_check"]
