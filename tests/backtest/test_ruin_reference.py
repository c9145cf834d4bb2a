"""The simulator against an independent plain-Python reference (``reference_sim``) on random violent
cases: squeezes and crashes of 20 %–400 % in a bar, gaps through the open, missing bars, fees, fixed
fees, slippage, percent and value sizing, stops that race the ruin level, long/short/both, both
executions. ``from_signals`` must match the reference bar for bar (equity, cash, position), trade for
trade and stat for stat; ``run``, every ``sweep`` row and ``paper_replay`` must too."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from peaktrade.backtest import STAT_KEYS, from_signals, run, sweep

from .reference_sim import RefOptions, ref_stats, simulate


def violent_bars(rng: np.random.Generator, n: int) -> pd.DataFrame:
    r = rng.normal(0, rng.uniform(0.005, 0.05), n)
    for j in rng.integers(1, n, rng.integers(1, 6)):
        r[j] += rng.choice([-1, 1]) * rng.uniform(0.2, 1.6)  # a crash or a squeeze, within the bar
    close = 100 * np.exp(np.cumsum(r))
    gap = np.exp(rng.normal(0, 0.01, n) * (rng.random(n) < 0.3) + (rng.random(n) < 0.05) * rng.normal(0, 0.4, n))
    open_ = np.r_[100.0, close[:-1]] * gap  # some bars open far from the last close
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, 0.03, n)) * (rng.random(n) < 0.8))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, 0.03, n)))
    idx = pd.date_range("2022-01-01", periods=n, freq="1h", tz="UTC", name="time")
    bars = pd.DataFrame({"open": open_, "high": high, "low": low, "close": close, "volume": 1.0}, index=idx)
    if rng.random() < 0.3:  # missing bars: annualization and durations from the calendar
        keep = rng.random(n) < 0.8
        keep[0] = keep[-1] = True
        bars = bars[keep]
    return bars


def random_options(rng: np.random.Generator) -> RefOptions:
    o = RefOptions()
    o.direction = str(rng.choice(["long", "short", "both"], p=[0.2, 0.4, 0.4]))
    o.execution = str(rng.choice(["next_open", "close"]))
    o.fees = float(rng.choice([0.0, 0.001, 0.0026, 0.01]))
    o.fixed_fees = float(rng.choice([0.0, 0.0, 1.0, 50.0]))
    o.slippage = float(rng.choice([0.0, 0.0005, 0.01]))
    if rng.random() < 0.3:
        o.size_type, o.size = "value", float(rng.choice([500.0, 5_000.0, 20_000.0]))  # 20,000: capped by cash
    else:
        o.size = float(rng.choice([1.0, 1.0, 0.5, 0.9]))
    if rng.random() < 0.4:
        o.sl_stop = float(rng.choice([0.05, 0.3, 0.6, 0.95, 0.999]))  # 0.95+: beyond a short's ruin level
    if rng.random() < 0.3:
        o.tp_stop = float(rng.choice([0.05, 0.5, 2.0]))
    if rng.random() < 0.3:
        o.sl_trail = float(rng.choice([0.05, 0.5, 0.9]))
    o.stop_priority = str(rng.choice(["sl", "tp"]))
    if rng.random() < 0.1:
        o.init_cash = 100.0  # fixed fees of 50 can ruin it on a close
    return o


def _kw(o: RefOptions) -> dict:
    return {k: v for k, v in o.__dict__.items() if v is not None}


def _ref(bars, entries, exits, o):
    return simulate(*(bars[c].to_numpy() for c in ("open", "high", "low", "close")), entries, exits, o)


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b or math.isclose(a, b, rel_tol=1e-8, abs_tol=1e-9)


def _assert_stats(got: pd.Series, want: dict, what: str) -> None:
    bad = {k: (float(got[k]), want[k]) for k in STAT_KEYS if not _same(float(got[k]), want[k])}
    assert not bad, f"{what}: stats differ from the reference (got, reference): {bad}"


def _assert_matches_reference(res, ref, bars, o, what):
    for name, got, want in (("equity", res.equity, ref.equity), ("cash", res.cash, ref.cash),
                            ("position", res.positions, ref.position)):
        np.testing.assert_allclose(got.to_numpy(), want, rtol=1e-9, atol=1e-7, err_msg=f"{what}: {name}")
    assert (res.equity >= 0.0).all(), f"{what}: negative equity"
    t = res.trades
    assert len(t) == len(ref.trades), f"{what}: {len(t)} trades, reference {len(ref.trades)}"
    for k, rt in enumerate(ref.trades):
        row = t.iloc[k]
        for col in ("direction", "entry_idx", "exit_idx", "exit_reason"):
            assert row[col] == getattr(rt, col), f"{what}: trade {k} {col}"
        for col in ("entry_price", "entry_fees", "size", "exit_price", "exit_fees", "pnl", "ret"):
            assert _same(float(row[col]), getattr(rt, col)), f"{what}: trade {k} {col}"
    _assert_stats(res.stats(), ref_stats(ref, bars.index, o.init_cash), what)


def test_from_signals_matches_reference_when_random_violent_cases():
    reasons: dict[str, int] = {}
    ruined = gap_ruins = 0
    for seed in range(300):
        rng = np.random.default_rng(seed)
        bars = violent_bars(rng, int(rng.integers(10, 300)))
        n = len(bars)
        density = rng.uniform(0.02, 0.3)
        e, x = rng.random(n) < density, rng.random(n) < density
        o = random_options(rng)
        res = from_signals(bars["close"], pd.Series(e, index=bars.index), pd.Series(x, index=bars.index),
                           open=bars["open"], high=bars["high"], low=bars["low"], **_kw(o))
        ref = _ref(bars, e, x, o)
        _assert_matches_reference(res, ref, bars, o, f"seed {seed} {_kw(o)}")
        for tr in ref.trades:
            reasons[tr.exit_reason] = reasons.get(tr.exit_reason, 0) + 1
        if ref.ruin_idx is not None:
            ruined += 1
            last = ref.trades[-1]
            gap_ruins += last.exit_price == pytest.approx(bars["open"].iloc[last.exit_idx]
                                                          * (1 + o.slippage * (1 if last.direction < 0 else -1)))
            s = res.stats()
            assert s["ruined"] == 1.0 and s["total_return"] == -1.0 and s["max_drawdown"] == 1.0
            assert res.ruin_time == bars.index[ref.ruin_idx]
            assert (res.equity.iloc[ref.ruin_idx:] == 0.0).all() and (res.positions.iloc[ref.ruin_idx:] == 0.0).all()
    # the random cases do reach what they are meant to test
    assert ruined >= 30 and gap_ruins >= 5
    assert all(reasons.get(r, 0) >= 5 for r in ("signal", "stop_loss", "take_profit", "trailing_stop", "reverse",
                                                  "open", "ruin"))


@pytest.mark.parametrize("seed", range(8))
def test_run_sweep_and_paper_replay_match_reference_when_random_violent_cases(seed):
    from peaktrade.live import paper_replay

    rng = np.random.default_rng(seed)
    bars = violent_bars(rng, int(rng.integers(80, 400)))
    o = random_options(rng)
    kw = _kw(o)
    sw = sweep("ma_crossover", bars, fast=[2, 3, 5], slow=[8, 13], **kw)
    assert len(sw.table) == 6
    for _, row in sw.table.iterrows():
        p = dict(fast=int(row["fast"]), slow=int(row["slow"]))
        what = f"seed {seed} {kw} {p}"
        res = run("ma_crossover", bars, **kw, **p)
        ref = _ref(bars, res.entries.to_numpy(), res.exits.to_numpy(), o)
        _assert_matches_reference(res, ref, bars, o, "run " + what)
        _assert_stats(row, ref_stats(ref, bars.index, o.init_cash), "sweep row " + what)
        _assert_matches_reference(paper_replay("ma_crossover", bars, **kw, **p), ref, bars, o, "paper " + what)


def test_every_stat_on_issue_reproduction_is_from_path_up_to_ruin():
    # issue 10, verbatim
    idx = pd.date_range("2024-01-01", periods=8, freq="h", tz="UTC")
    close = pd.Series([100, 100, 150, 250, 400, 600, 900, 900.], index=idx)
    e = pd.Series([True] + [False] * 7, index=idx)
    x = pd.Series(False, index=idx)
    r = from_signals(close, e, x, direction="short", execution="close")
    s = r.stats()
    assert s["total_return"] == -1.0 and bool(s["ruined"]) and s["sharpe"] <= 0.0 and s["max_drawdown"] <= 1.0
    assert r.ruin_time == idx[3] and s["ruin_time"] == pytest.approx(3 / 24)
    assert (r.equity >= 0.0).all() and r.equity.iloc[3:].eq(0.0).all()
    # every key equals the same stat of the equity path cut at the ruin bar (bars 0..3), which
    # never holds negative equity: nothing is computed from the bars after the ruin
    path = r.equity.iloc[:4]
    ref = simulate(close.shift(1).fillna(100.0).to_numpy(), np.maximum(close.shift(1).fillna(100.0), close).to_numpy(),
                   np.minimum(close.shift(1).fillna(100.0), close).to_numpy(), close.to_numpy(), e.to_numpy(),
                   x.to_numpy(), RefOptions(direction="short", execution="close"))
    np.testing.assert_array_equal(ref.equity, r.equity.to_numpy())
    _assert_stats(s, ref_stats(ref, idx, 10_000.0), "issue reproduction")
    rets = (path / path.shift(1).fillna(10_000.0) - 1).to_numpy()
    assert rets.tolist() == [0.0, 0.0, -0.5, -1.0]
    for k in STAT_KEYS:
        assert np.isfinite(s[k]) or (np.isnan(s[k]) and k not in ("ruined", "ruin_time")), k
