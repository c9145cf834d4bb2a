"""Rolling indicators against exact arithmetic on the real Kraken hourly closes (issue 10, item 4).

The reference is computed here with Python integers: every float64 close is an exact dyadic
rational, so scaling all of them by one power of two gives integers whose window sums (and sums of
squares) are exact; ``int / int`` is then correctly rounded. No float running sum is involved.
The tie test also uses the published decimal prices (the CSV text), scaled by a power of ten.
"""

from __future__ import annotations

import gzip
from decimal import Decimal, localcontext
from fractions import Fraction

import numpy as np
import pytest

from peaktrade.data.kraken_csv import read_kraken_ohlcvt
from peaktrade.indicators import nb
from peaktrade.strategies.ma_crossover import STRATEGY as MA_CROSSOVER
from peaktrade.strategies.registry import generate_signals

RTOL = 1e-12


@pytest.fixture(scope="module")
def closes(shared_data):
    return {
        pair: read_kraken_ohlcvt(shared_data / f"{pair}_60.csv.gz", timeframe="1h")
        for pair in ("XBTUSD", "ETHUSD")
    }


class Exact:
    """Exact window sums of values given as integers ``ints`` over a common ``scale``."""

    def __init__(self, x: np.ndarray | None = None, *, ints: list[int] | None = None, scale: int = 1) -> None:
        if x is not None:  # float64 values: exact dyadic rationals over 2**k
            ratios = [v.as_integer_ratio() for v in x.tolist()]
            k = max(d.bit_length() - 1 for _, d in ratios)
            ints = [n << (k - (d.bit_length() - 1)) for n, d in ratios]
            scale = 1 << k
        self.ints = ints
        self.scale = scale
        self.csum = [0]
        self.qsum = [0]
        for v in self.ints:
            self.csum.append(self.csum[-1] + v)
            self.qsum.append(self.qsum[-1] + v * v)

    def window_sum(self, i: int, w: int) -> int:
        return self.csum[i + 1] - self.csum[i + 1 - w]

    def mean(self, w: int) -> np.ndarray:
        """The correctly rounded exact mean of each window."""
        out = np.full(len(self.ints), np.nan)
        den = w * self.scale
        for i in range(w - 1, len(self.ints)):
            out[i] = self.window_sum(i, w) / den
        return out

    def var_decimal(self, i: int, w: int, ddof: int) -> Decimal:
        s = self.window_sum(i, w)
        q = self.qsum[i + 1] - self.qsum[i + 1 - w]
        return Decimal(w * q - s * s) / Decimal(w * (w - ddof) * self.scale**2)

    def std_and_zscore(self, w: int, ddof: int = 0) -> tuple[np.ndarray, np.ndarray]:
        n = len(self.ints)
        std = np.full(n, np.nan)
        z = np.full(n, np.nan)
        with localcontext() as ctx:
            ctx.prec = 50
            for i in range(w - 1, n):
                sd = self.var_decimal(i, w, ddof).sqrt()
                std[i] = float(sd)
                if sd > 0:
                    dev = Decimal(w * self.ints[i] - self.window_sum(i, w)) / Decimal(w * self.scale)
                    z[i] = float(dev / sd)
        return std, z


def assert_rel(actual: np.ndarray, exact: np.ndarray, what: str) -> None:
    assert np.array_equal(np.isnan(actual), np.isnan(exact)), f"{what}: NaN pattern differs"
    ok = ~np.isnan(exact)
    rel = np.abs(actual[ok] - exact[ok]) / np.maximum(np.abs(exact[ok]), 1e-300)
    worst = int(np.argmax(rel))
    assert rel[worst] <= RTOL, f"{what}: relative error {rel[worst]:.3g} at bar {np.nonzero(ok)[0][worst]}"


@pytest.mark.parametrize("pair", ["XBTUSD", "ETHUSD"])
def test_sma_when_real_hourly_closes_then_equals_the_correctly_rounded_exact_mean(closes, pair):
    x = closes[pair]["close"].to_numpy()
    ex = Exact(x)
    for w in (3, 20, 200):
        exact = ex.mean(w)
        got = nb.sma_nb(x, w)
        assert_rel(got, exact, f"{pair} sma {w}")
        # stronger: the exact mean rounded once, bit for bit (no running-sum drift anywhere)
        assert np.array_equal(got, exact, equal_nan=True), f"{pair} sma {w} is not correctly rounded"


@pytest.mark.parametrize("pair", ["XBTUSD", "ETHUSD"])
def test_rolling_std_zscore_bollinger_when_real_hourly_closes_then_within_1e12_of_exact(closes, pair):
    x = closes[pair]["close"].to_numpy()
    ex = Exact(x)
    for w in (5, 50):
        std, z = ex.std_and_zscore(w)
        assert_rel(nb.rolling_std_nb(x, w, 0), std, f"{pair} std {w}")
        assert_rel(nb.zscore_nb(x, w), z, f"{pair} zscore {w}")
        mid, up, lo = nb.bollinger_nb(x, w, 2.0)
        assert_rel(mid, ex.mean(w), f"{pair} bollinger mid {w}")
        assert_rel(up, ex.mean(w) + 2.0 * std, f"{pair} bollinger upper {w}")
        assert_rel(lo, ex.mean(w) - 2.0 * std, f"{pair} bollinger lower {w}")
    sample_std, _ = ex.std_and_zscore(20, ddof=1)
    assert_rel(nb.rolling_std_nb(x, 20, 1), sample_std, f"{pair} sample std 20")


def test_realized_vol_when_real_btc_log_returns_then_within_1e12_of_exact(closes):
    r = nb.log_returns_nb(closes["XBTUSD"]["close"].to_numpy())
    std, _ = Exact(np.nan_to_num(r[1:])).std_and_zscore(24)
    assert_rel(nb.realized_vol_nb(closes["XBTUSD"]["close"].to_numpy(), 24)[1:], std, "realized vol 24")


def test_sma_when_a_huge_value_left_the_window_then_no_running_sum_residue():
    # a prefix-sum / running-sum SMA keeps 1e15's rounding error after it leaves the window
    x = np.array([1e15, 0.1, 0.2, 0.3, 0.7, 0.1])
    exact = [float((Fraction(a) + Fraction(b)) / 2) for a, b in zip(x[1:-1], x[2:])]
    np.testing.assert_array_equal(nb.sma_nb(x, 2)[2:], exact)
    half_range = [float(abs(Fraction(a) - Fraction(b)) / 2) for a, b in zip(x[1:-1], x[2:])]
    np.testing.assert_allclose(nb.rolling_std_nb(x, 2, 0)[2:], half_range, rtol=1e-15)


def _exact_signals(ex: Exact, fast: int, slow: int) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """MA-crossover signals from the exact comparison of the two SMAs; also the exact-tie bars."""
    n = len(ex.ints)
    diff = np.full(n, np.nan)
    ties = []
    for i in range(slow - 1, n):
        a = ex.window_sum(i, fast) * slow
        b = ex.window_sum(i, slow) * fast
        diff[i] = (a > b) - (a < b)
        if a == b:
            ties.append(i)
    ind = np.ascontiguousarray(np.vstack([diff, np.where(np.isnan(diff), np.nan, 0.0)]))
    entries = np.zeros(n, dtype=np.bool_)
    exits = np.zeros(n, dtype=np.bool_)
    state = np.zeros(MA_CROSSOVER.n_state)
    MA_CROSSOVER.signal_nb(ind, np.array([0, 1]), np.zeros(1), state, 0, n, entries, exits)
    return entries, exits, ties


def _published_prices(shared_data) -> Exact:
    """The ETH closes exactly as published (decimal text), as integers over 10**5."""
    with gzip.open(shared_data / "ETHUSD_60.csv.gz", "rt") as f:
        ints = [int(Decimal(line.split(",")[4]) * 100_000) for line in f]
    return Exact(ints=ints, scale=100_000)


@pytest.mark.parametrize(("fast", "slow"), [(11, 100), (10, 40)])
def test_ma_crossover_when_eth_smas_tie_exactly_then_fires_on_the_bar_exact_smas_give(closes, shared_data, fast, slow):
    # With a running-sum SMA, fast > slow by rounding noise at these ties, and the cross fired a bar early.
    bars = closes["ETHUSD"]
    exact = _published_prices(shared_data)
    assert np.array_equal(np.array(exact.ints) / 100_000, bars["close"].to_numpy())
    exp_entries, exp_exits, ties = _exact_signals(exact, fast, slow)
    assert ties, "the ETH data was expected to hold an exact tie for this pair"
    # the tie sits at a crossing: the exact cross fires on the bar after the tie (a tie is no cross)
    fired = set(np.nonzero(exp_entries | exp_exits)[0].tolist())
    assert any(t + 1 in fired for t in ties)
    entries, exits = generate_signals("ma_crossover", bars, fast=fast, slow=slow, kind="sma")
    bad = np.nonzero((entries.to_numpy() != exp_entries) | (exits.to_numpy() != exp_exits))[0]
    assert bad.size == 0, f"signals differ from the exact SMAs' at bars {bad[:6].tolist()} (exact ties at {ties})"


def test_sma_when_float64_windows_have_equal_exact_means_then_bit_identical(closes):
    # Exact arithmetic on the float64 inputs themselves: every exact tie is a float tie (the mean is
    # correctly rounded), so no crossover can fire on rounding noise at an exact tie.
    x = closes["ETHUSD"]["close"].to_numpy()
    ex = Exact(x)
    sma_f, sma_s = nb.sma_nb(x, 10), nb.sma_nb(x, 40)
    ties = [i for i in range(39, len(x)) if ex.window_sum(i, 10) * 40 == ex.window_sum(i, 40) * 10]
    assert len(ties) >= 1
    assert all(sma_f[t] == sma_s[t] for t in ties)


def test_rolling_kernels_when_history_is_truncated_then_sma_is_bit_identical_and_std_within_an_ulp(closes):
    # a window's SMA depends on the window only (not on a prefix sum of all earlier bars), so a live
    # session recomputing on a rolling history gets exactly the backtest's numbers. The sum of
    # squares can need more than 106 bits, so the std may differ in its last bit (never more).
    x = closes["XBTUSD"]["close"].to_numpy()
    for start in (1, 997, 40_001):
        for w in (7, 50):
            np.testing.assert_array_equal(nb.sma_nb(x[start:], w)[w:], nb.sma_nb(x, w)[start + w:])
            np.testing.assert_allclose(nb.rolling_std_nb(x[start:], w, 0)[w:], nb.rolling_std_nb(x, w, 0)[start + w:],
                                       rtol=3e-16, atol=0)
            np.testing.assert_allclose(nb.zscore_nb(x[start:], w)[w:], nb.zscore_nb(x, w)[start + w:],
                                       rtol=1e-15, atol=1e-300)


def _dd_div_cases(rng, n):
    """Yield ``(hi, lo, w, exact quotient)``: random double-doubles, and exact halfway cases between floats."""
    for _ in range(n):
        w = int(rng.integers(1, 1000))
        hi = float(rng.uniform(1.0, 2.0) * 2.0 ** int(rng.integers(-20, 40)))
        lo = float(np.spacing(hi) * rng.uniform(-0.5, 0.5))
        yield hi, lo, w, (Fraction(hi) + Fraction(lo)) / w
        # a quotient exactly halfway between two floats (ties to even), when its sum is a double-double
        q = float(rng.uniform(1.0, 2.0) * 2.0 ** int(rng.integers(-20, 40)))
        s = (Fraction(q) + Fraction(float(np.spacing(q))) / 2) * w
        h = float(s)
        r = s - Fraction(h)
        if Fraction(float(r)) == r:
            yield h, float(r), w, s / w


def test_dd_div_when_random_and_halfway_quotients_then_correctly_rounded():
    rng = np.random.default_rng(14)
    cases = list(_dd_div_cases(rng, 8_000))
    halfway = sum(1 for *_, e in cases if Fraction(float(e)) != e and 2 * abs(e - Fraction(float(e))) == Fraction(
        float(np.spacing(float(e)))))
    assert halfway > 2_000  # the tie cases really are ties
    bad = [(h, l, w) for h, l, w, e in cases if nb.dd_div_nb(h, l, float(w)) != float(e)]  # float(): correctly rounded
    assert bad == []
