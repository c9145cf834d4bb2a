"""The pandas authoring level: a PandasStrategy runs through the same simulator, sweep, paper replay and
lookahead check as the library, and its mistakes are one-line errors naming strategy, output and value."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from authoring_helpers import PandasCross
from helpers import random_bars

from peaktrade.backtest import run, sweep
from peaktrade.errors import StrategyError
from peaktrade.experiments import lookahead_check
from peaktrade.live import paper_replay
from peaktrade.strategies import Constraint, PandasStrategy, Param, get_strategy, register, strategy_source


@pytest.fixture(scope="module")
def bars():
    b = random_bars(3000, seed=11)
    # a flat stretch: equal SMAs (ties) and the cross rule's tie handling are exercised too
    b.loc[b.index[1500:1560], ["open", "high", "low", "close"]] = float(b["close"].iloc[1500])
    return b


def assert_same_trades(a, b):
    assert len(a.trades) == len(b.trades) > 0
    pd.testing.assert_frame_equal(a.trades, b.trades)
    pd.testing.assert_series_equal(a.equity, b.equity)


@pytest.mark.parametrize("params", [dict(fast=10, slow=50), dict(fast=3, slow=40, sl_stop=0.02, tp_stop=0.05)])
def test_run_when_pandas_ma_crossover_then_trades_and_equity_equal_library(bars, params):
    kw = dict(fees=0.001, slippage=0.0005, **params)
    assert_same_trades(run(PandasCross(), bars, **kw), run("ma_crossover", bars, **kw))


def test_sweep_when_pandas_ma_crossover_then_rows_equal_library_sweep_and_run(bars):
    grid = dict(fast=[3, 10, 20], slow=[20, 50, 120], sl_stop=[0.03, float("nan")], fees=0.001)
    mine = sweep(PandasCross, bars, **grid)
    lib = sweep("ma_crossover", bars, **grid)
    assert mine.n_skipped == lib.n_skipped == 2  # fast=20, slow=20 twice: broken 'fast < slow'
    pd.testing.assert_frame_equal(mine.table, lib.table)
    row = mine.table.iloc[4]
    one = run(PandasCross(), bars, fees=0.001, fast=int(row["fast"]), slow=int(row["slow"]),
              sl_stop=float(row["sl_stop"])).stats()
    for key in ("total_return", "n_trades", "final_equity", "sharpe", "max_drawdown"):
        assert row[key] == pytest.approx(one[key], rel=1e-12, nan_ok=True), key


def test_prepare_when_stops_are_swept_then_signals_run_once_per_unique_combination(bars):
    calls = []

    class Counting(PandasCross):
        name = "counting_cross"

        def signals(self, bars, **params):
            calls.append(params)
            return super().signals(bars, **params)

    res = sweep(Counting, bars, fast=[5, 10], slow=[50, 100], sl_stop=[0.01, 0.02, 0.05])
    assert len(res.table) == 12
    assert sorted((c["fast"], c["slow"]) for c in calls) == [(5, 50), (5, 100), (10, 50), (10, 100)]


def test_paper_replay_when_pandas_strategy_then_equals_run(bars):
    kw = dict(fees=0.001, slippage=0.0005, fixed_fees=0.1, fast=10, slow=50, sl_stop=0.03)
    a, b = run(PandasCross(), bars, **kw), paper_replay(PandasCross(), bars, **kw)
    assert len(a.trades) == len(b.trades) > 0
    for col in ("entry_idx", "exit_idx", "exit_reason"):
        assert (a.trades[col].to_numpy() == b.trades[col].to_numpy()).all(), col
    np.testing.assert_allclose(b.equity.to_numpy(), a.equity.to_numpy(), rtol=1e-9)


def test_register_when_pandas_strategy_then_run_by_name(bars):
    class Registered(PandasCross):
        name = "registered_pandas_cross"

    register(Registered)
    assert get_strategy("registered_pandas_cross").warmup == 100
    assert strategy_source("registered_pandas_cross") == "register()"
    assert_same_trades(run("registered_pandas_cross", bars, fast=10, slow=50), run("ma_crossover", bars, fast=10,
                                                                                      slow=50))


def test_lookahead_check_when_pandas_strategy_reads_next_close_then_caught(bars):
    class Peeking(PandasStrategy):
        name = "peeking"
        params = (Param("window", "int", 10, low=2, high=100),)

        def signals(self, bars, *, window):
            up = bars["close"].shift(-1) > bars["close"]  # tomorrow's close: lookahead
            return up & ~up.shift(1, fill_value=False), ~up & up.shift(1, fill_value=False)

    rep = lookahead_check(Peeking(), bars.iloc[:600])
    assert not rep.passed
    assert "strategy 'peeking'" in rep.message and "reads the future" in rep.message
    assert lookahead_check(PandasCross(), bars.iloc[:600], fast=5, slow=30).passed


def _returning(entries, exits=None, *, name="bad_output"):
    class Bad(PandasStrategy):
        params = (Param("k", "int", 3, low=1, high=10),)

        def signals(self, bars, *, k):
            n = len(bars)
            e = entries(bars) if callable(entries) else entries
            return (e, np.zeros(n, dtype=bool) if exits is None else exits(bars))

    Bad.name = name
    return Bad()


@pytest.mark.parametrize("entries,match", [
    (lambda b: np.zeros(len(b) - 1, dtype=bool), r"output 'entries' has length 199: expected 200"),
    (lambda b: np.full(len(b), "yes"), r"output 'entries' has dtype <U3: expected bool"),
    (lambda b: np.r_[np.zeros(len(b) - 1), 0.5], r"output 'entries' is 0.5 at bar 199 .* dtype float64"),
    (lambda b: pd.Series(np.r_[np.nan, np.zeros(len(b) - 1)], index=b.index), r"output 'entries' is NaN at bar 0"),
    (lambda b: pd.Series(np.zeros(len(b), dtype=bool)), r"output 'entries' has an index that differs"),
    (lambda b: pd.Series(np.where(b["close"] > b["open"], "yes", "no"), index=b.index),
     r"output 'entries' has dtype str with non-numeric values: expected bool"),
    (lambda b: pd.Series(b.index, index=b.index), r"output 'entries' has dtype datetime64\[ns, UTC\]: expected bool"),
])
def test_signals_when_output_is_malformed_then_one_line_error_names_strategy_output_and_value(bars, entries, match):
    with pytest.raises(StrategyError, match=r"strategy 'bad_output' \(k=3\): signals\(\) " + match) as e:
        run(_returning(entries), bars.iloc[:200])
    assert "\n" not in str(e.value)


def test_signals_when_output_is_01_numbers_then_accepted_as_bool(bars):
    b = bars.iloc[:300]
    res = run(_returning(lambda b: (np.arange(len(b)) % 50 == 0).astype(np.int64),
                         lambda b: pd.Series((np.arange(len(b)) % 50 == 25).astype(float), index=b.index)), b)
    assert len(res.trades) == 6


def test_signals_when_not_a_pair_then_error_names_what_it_returned(bars):
    class Single(PandasCross):
        name = "single"

        def signals(self, bars, **params):
            return super().signals(bars, **params)[0]

    with pytest.raises(StrategyError, match=r"strategy 'single' \(fast=20, slow=100\): signals\(\) returned Series"):
        run(Single(), bars)


def test_run_when_parameter_outside_declared_range_then_error_names_strategy_parameter_value(bars):
    with pytest.raises(StrategyError, match=r"pandas_cross\.fast=0 is invalid: expected an int in \[1, 10000\]"):
        run(PandasCross(), bars, fast=0)


def test_run_when_constraint_violated_then_error_names_constraint_and_values(bars):
    with pytest.raises(StrategyError, match=r"'pandas_cross' break the constraint 'fast < slow' \(fast=50, slow=20\)"):
        run(PandasCross(), bars, fast=50, slow=20)


@pytest.mark.parametrize("attrs,match", [
    (dict(params=(Param("w", "int", 5),)), r"parameter 'w' has no search range"),
    (dict(params=(Param("w", "int", 500, low=1, high=10),)), r"bad\.w=500 is invalid"),
    (dict(constraints=("w < slow",)), r"constraint 'w < slow' names 'slow'"),
    (dict(constraints=("__import__('os')",)), r"uses Call"),
    (dict(constraints=("w > 6",)), r"break the constraint 'w > 6' \(w=5\)"),
    (dict(stop_defaults={"stop": 0.1}), r"stop_defaults \['stop'\] are invalid"),
    (dict(warmup=-1), r"warmup=-1 is invalid"),
    (dict(name="not a name"), r"name='not a name' is invalid"),
])
def test_to_strategy_when_declaration_is_invalid_then_error_names_it(attrs, match):
    base = dict(name="bad", params=(Param("w", "int", 5, low=1, high=10),),
                signals=lambda self, bars, *, w: (bars["close"] > 0, bars["close"] < 0))
    cls = type("Bad", (PandasStrategy,), {**base, **attrs})
    with pytest.raises(StrategyError, match=match):
        cls().to_strategy()


def test_constraints_when_expression_callable_or_constraint_then_all_enforced():
    class Three(PandasCross):
        name = "three"
        params = (*PandasCross.params, Param("k", "float", 1.0, low=0.0, high=5.0, step=0.5))
        constraints = ("fast < slow and slow - fast >= 5", Constraint("k <= 4", lambda p: p["k"] <= 4),
                       lambda p: p["fast"] % 2 == 0)

    s = Three().to_strategy()
    assert s.broken_constraint(dict(fast=20, slow=24, k=1.0)) == "fast < slow and slow - fast >= 5"
    assert s.broken_constraint(dict(fast=20, slow=40, k=4.5)) == "k <= 4"
    assert s.broken_constraint(dict(fast=21, slow=40, k=1.0)) == "<lambda>"
    assert s.broken_constraint(dict(fast=20, slow=40, k=1.0)) is None
    assert s.params[2].grid() == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0]
    assert "step 0.5" in s.params[2].describe()


# --- target-position output (position() instead of signals()) ---------------------------------------------


def _trend(direction, output):
    """The same SMA-trend rule written as a target position or as entry/exit events of ``direction``.

    The position is a level (long while fast > slow, ...); the signals are the events where that level
    changes, so without stops both must make exactly the same trades through the engine's semantics.
    """

    class Trend(PandasStrategy):
        params = (Param("fast", "int", 10, low=2, high=500), Param("slow", "int", 50, low=3, high=500))
        constraints = ("fast < slow",)

        def level(self, bars, fast, slow):
            close = bars["close"]
            d = self.indicator(sma, close, window=fast) - self.indicator(sma, close, window=slow)
            up, down = (d > 0), (d <= 0) & d.notna()
            if direction == "long":
                return up.astype(int), up, ~up
            if direction == "short":
                dn = d < 0
                return -dn.astype(int), dn, ~dn
            return up.astype(int) - down.astype(int), up, down

    def position(self, bars, *, fast, slow):
        return self.level(bars, fast, slow)[0]

    def signals(self, bars, *, fast, slow):
        _, on, off = self.level(bars, fast, slow)
        return on & ~on.shift(1, fill_value=False), off & ~off.shift(1, fill_value=False)

    attrs = {"name": f"trend_{output}_{direction}", "direction": direction,
             output: position if output == "position" else signals}
    return type(f"Trend{output.title()}{direction.title()}", (Trend,), attrs)()


from peaktrade.indicators.api import sma  # noqa: E402


@pytest.mark.parametrize("direction", ["long", "short", "both"])
def test_run_sweep_paper_when_target_position_then_same_trades_as_equivalent_entries_exits(bars, direction):
    pos, sig = _trend(direction, "position"), _trend(direction, "signals")
    kw = dict(fees=0.001, slippage=0.0005, direction=direction, fast=8, slow=40)
    assert_same_trades(run(pos, bars, **kw), run(sig, bars, **kw))
    replay = paper_replay(pos, bars, **kw)
    ref = run(sig, bars, **kw)
    for col in ("direction", "entry_idx", "exit_idx", "exit_reason"):
        assert (replay.trades[col].to_numpy() == ref.trades[col].to_numpy()).all(), col
    np.testing.assert_allclose(replay.equity.to_numpy(), ref.equity.to_numpy(), rtol=1e-9)
    grid = dict(fees=0.001, direction=direction, fast=[5, 12], slow=[30, 60, 90])
    a, b = sweep(pos, bars, **grid), sweep(sig, bars, **grid)
    assert (a.table["n_trades"] > 0).all()
    pd.testing.assert_frame_equal(a.table, b.table)


def test_run_when_target_position_and_stops_then_same_trades_as_level_signals(bars):
    # with a stop the position re-enters on the next bar it still asks for one: the level signals do too
    class Level(PandasStrategy):
        name = "level_signals"
        params = (Param("fast", "int", 10, low=2, high=500), Param("slow", "int", 50, low=3, high=500))

        def signals(self, bars, *, fast, slow):
            up = sma(bars["close"], window=fast) > sma(bars["close"], window=slow)
            return up, ~up

    kw = dict(fees=0.001, fast=8, slow=40, sl_stop=0.01)
    a, b = run(_trend("long", "position"), bars, **kw), run(Level(), bars, **kw)
    assert (a.trades["exit_reason"] == "stop_loss").any()
    assert_same_trades(a, b)


def _positions(values, *, direction="long", name="bad_position"):
    class Bad(PandasStrategy):
        params = (Param("k", "int", 3, low=1, high=10),)

        def position(self, bars, *, k):
            return values(bars)

    Bad.name, Bad.direction = name, direction
    return Bad()


@pytest.mark.parametrize("direction,values,match", [
    ("long", lambda b: np.r_[np.zeros(5, int), -1, np.zeros(len(b) - 6, int)],
     r"is -1 at bar 5 \(.*\) with dtype int64: expected numbers in \{0, 1\} for direction='long'"),
    ("short", lambda b: np.r_[np.zeros(len(b) - 1), 1.0],
     r"is 1.0 at bar 199 .*: expected numbers in \{-1, 0\} for direction='short'"),
    ("both", lambda b: np.r_[0, 0, 1, 1, 0, np.ones(len(b) - 5)],
     r"is 0.0 at bar 4 .*direction='both' has no flat state once in the market"),
    ("both", lambda b: np.r_[0, 2, np.ones(len(b) - 2)], r"is 2.0 at bar 1 .*expected numbers in \{-1, 1\}"),
    ("long", lambda b: pd.Series(np.r_[np.nan, np.zeros(len(b) - 1)], index=b.index), r"is NaN at bar 0"),
    ("long", lambda b: np.zeros(len(b) + 1), r"has length 201: expected 200"),
    ("long", lambda b: np.full(len(b), "long"), r"has dtype <U4: expected numbers in \{0, 1\}"),
])
def test_position_when_output_is_malformed_then_one_line_error_names_strategy_output_and_value(
        bars, direction, values, match):
    with pytest.raises(StrategyError, match=r"strategy 'bad_position' \(k=3\): position\(\) output 'position' "
                       + match) as e:
        run(_positions(values, direction=direction), bars.iloc[:200], direction=direction)
    assert "\n" not in str(e.value)


def test_position_when_both_leading_zeros_then_no_signal_until_first_position(bars):
    b = bars.iloc[:300]
    res = run(_positions(lambda b: np.r_[np.zeros(100), np.ones(100), -np.ones(100)], direction="both"), b,
              direction="both")
    assert res.trades["entry_idx"].tolist() == [101, 201] and res.trades["direction"].tolist() == [1, -1]


@pytest.mark.parametrize("attrs,match", [
    (dict(direction="sideways"), r"direction='sideways' is invalid: expected one of long, short, both"),
    (dict(signals=lambda self, bars, *, k: (bars["close"] > 0, bars["close"] < 0)),
     r"defines both signals\(\) and position\(\): expected exactly one"),
    (dict(workers=0), r"workers=0 is invalid"),
])
def test_to_strategy_when_position_declaration_is_invalid_then_error_names_it(attrs, match):
    cls = type("Bad", (type(_positions(lambda b: np.zeros(len(b)))),), attrs)
    with pytest.raises(StrategyError, match=match):
        cls().to_strategy()


# --- a position strategy's declared direction is the backtest's direction --------------------------------


def test_run_sweep_paper_session_when_short_position_strategy_and_no_direction_then_trades_short(bars):
    from peaktrade.config import load_config
    from peaktrade.experiments.stress import stress_scenarios
    from peaktrade.live.plan import plan_session

    pos, sig = _trend("short", "position"), _trend("short", "signals")
    assert pos.to_strategy().direction == "short" and sig.to_strategy().direction is None
    kw = dict(fees=0.001, fast=8, slow=40)
    res = run(pos, bars, **kw)  # the config's default direction is "long": the declaration wins
    assert res.options["direction"] == "short" and (res.trades["direction"] == -1).all()
    assert "declared by strategy 'trend_position_short'" in res.options_source
    assert_same_trades(res, run(sig, bars, direction="short", **kw))
    replay = paper_replay(pos, bars, **kw)
    assert (replay.trades["direction"] == -1).all() and len(replay.trades) == len(res.trades)
    grid = dict(fees=0.001, fast=[5, 12], slow=[30, 60])
    pd.testing.assert_frame_equal(sweep(pos, bars, **grid).table, sweep(sig, bars, direction="short", **grid).table)
    assert plan_session(pos, load_config(), symbol="BTC/USD", timeframe="1h", params=None,
                        options={}).options.direction == "short"
    stress = stress_scenarios(pos, bars, **kw)  # its runs pass the resolved options on: still short
    assert stress.loc["baseline", "total_return"] == pytest.approx(res.stats()["total_return"], rel=1e-12)


def test_run_sweep_paper_when_explicit_direction_contradicts_declared_then_one_line_error(bars):
    pos = _trend("short", "position")
    msg = "strategy 'trend_position_short' declares direction='short': the given direction='long' contradicts it"
    for call in (lambda: run(pos, bars, direction="long"), lambda: sweep(pos, bars, direction="long", fast=[5]),
                 lambda: paper_replay(pos, bars, direction="long")):
        with pytest.raises(StrategyError, match=msg) as e:
            call()
        assert "\n" not in str(e.value)
    assert run(pos, bars, direction="short").options["direction"] == "short"


# --- one-line errors that name the strategy ------------------------------------------------------------


def test_sweep_when_constraint_cannot_be_evaluated_then_error_names_strategy_constraint_and_values(bars):
    class Ratio(PandasStrategy):
        name = "ratio"
        params = (Param("fast", "int", 5, low=0, high=50), Param("slow", "int", 50, low=10, high=100))
        constraints = ("slow / fast >= 2",)

        def signals(self, bars, *, fast, slow):
            return bars["close"] < 0, bars["close"] < 0

    with pytest.raises(StrategyError, match=r"^strategy 'ratio': constraint 'slow / fast >= 2' cannot be evaluated "
                                            r"with fast=0, slow=50 \(ZeroDivisionError\)$"):
        sweep(Ratio, bars, fast=[0, 5], slow=50)
    with pytest.raises(StrategyError, match=r"cannot be evaluated with fast=0, slow=50 \(ZeroDivisionError\)"):
        run(Ratio, bars, fast=0)


def test_run_when_float_parameter_is_nan_then_rejected_naming_it(bars):
    class Band(PandasStrategy):
        name = "band"
        params = (Param("k", "float", 2.0, low=0.5, high=4.0),)

        def signals(self, bars, *, k):
            return bars["close"] < 0, bars["close"] < 0

    with pytest.raises(StrategyError, match=r"band\.k=nan is invalid: expected a float in \[0\.5, 4\.0\]"):
        run(Band, bars, k=float("nan"))
    with pytest.raises(StrategyError, match=r"band\.k=nan is invalid"):
        sweep(Band, bars, k=[1.0, float("nan")])


def test_indicator_when_argument_is_unhashable_then_short_error_names_strategy_and_function(bars):
    def window_mean(close, windows):
        return close.rolling(windows[0]).mean()

    class Listy(PandasStrategy):
        name = "listy"
        params = (Param("k", "int", 3, low=1, high=10),)

        def signals(self, bars, *, k):
            m = self.indicator(window_mean, bars["close"], list(range(k, k + 5000)))
            return (bars["close"] > m).to_numpy(), (bars["close"] < m).to_numpy()

    with pytest.raises(StrategyError) as e:
        run(Listy, bars)
    msg = str(e.value)
    assert msg.startswith("strategy 'listy' (k=3): signals() failed: indicator(window_mean, ...): an argument of "
                          "type list is not hashable"), msg
    assert len(msg) < 300 and "\n" not in msg


def test_run_sweep_when_signals_raises_then_error_names_strategy_combination_and_keeps_cause(bars):
    class Boom(PandasStrategy):
        name = "boom"
        params = (Param("k", "int", 3, low=1, high=10),)

        def signals(self, bars, *, k):
            if k == 4:
                return {"fast": 1}["slow"]  # a bug in the author's code
            return bars["close"] < 0, bars["close"] < 0

    for call in (lambda: run(Boom, bars, k=4), lambda: sweep(Boom, bars, k=[3, 4])):
        with pytest.raises(StrategyError, match=r"^strategy 'boom' \(k=4\): signals\(\) raised KeyError: "
                                                r"'slow'$") as e:
            call()
        assert isinstance(e.value.__cause__, KeyError) and "\n" not in str(e.value)


def test_lookahead_check_when_two_column_subsets_then_the_leaking_one_is_named(bars):
    def zs(df, n):  # the z-score of the first column; the volume one reads the future (a centred window)
        s = df.iloc[:, 0]
        return ((s - s.rolling(n, center=df.columns[0] == "volume").mean()) / s.rolling(n).std()).to_numpy()

    class TwoSubsets(PandasStrategy):
        name = "two_subsets"
        params = (Param("n", "int", 20, low=5, high=50),)

        def signals(self, bars, *, n):
            a = np.nan_to_num(self.indicator(zs, bars[["close"]], n))
            b = np.nan_to_num(self.indicator(zs, bars[["volume"]], n))
            return (a > 1) & (b > 0), a < -1

    rep = lookahead_check(TwoSubsets, bars.iloc[:600])
    assert "indicator 'zs(bars[volume], 20)'" in rep.message, rep.message
