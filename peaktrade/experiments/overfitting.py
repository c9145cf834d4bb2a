"""Overfitting statistics: the Probabilistic and Deflated Sharpe Ratios, and the Probability of
Backtest Overfitting by combinatorially symmetric cross-validation (CSCV).

* Probabilistic Sharpe Ratio (Bailey & López de Prado, 2012): the probability that the true Sharpe
  ratio exceeds a benchmark, given the estimate, the sample length and the skewness and kurtosis
  of the returns::

      PSR(SR*) = Φ( (SR − SR*) · sqrt(n − 1) / sqrt(1 − γ3·SR + (γ4 − 1)/4 · SR²) )

* Deflated Sharpe Ratio (Bailey & López de Prado, 2014): the PSR against the Sharpe ratio the best
  of ``N`` unskilled trials is expected to reach, ``SR0 = expected_max_sharpe(N, V)``::

      E[max SR] = sqrt(V) · ((1 − γ) Φ⁻¹(1 − 1/N) + γ Φ⁻¹(1 − 1/(N e))),  γ = 0.5772… (Euler–Mascheroni)

  Every Sharpe input is **per bar** (not annualized), ``V`` is the variance of the trials' per-bar
  Sharpe ratios, and ``kurtosis`` is the **raw** kurtosis (3 for normal returns), as in the papers.

* PBO (Bailey, Borwein, López de Prado & Zhu, 2015): split the T × N performance matrix (T bars, N
  strategies) into S contiguous parts; for each of the C(S, S/2) ways to pick half of the parts as
  in-sample (the rest out-of-sample) select the in-sample best strategy, take its relative rank
  ω = rank / (N + 1) out of sample and the logit λ = ln(ω / (1 − ω)). PBO is the share of
  combinations with λ ≤ 0: the in-sample best lands at or below the out-of-sample median.
  Out-of-sample ties get the average rank. With no skill (the out-of-sample rank uniform on
  1..N) this convention gives a PBO of ``P(rank <= (N + 1) / 2)``: 0.5 for an even N but
  0.5 + 1/(2N) for an odd N (0.6 at N = 5), because the median rank itself counts as overfit;
  :func:`pbo_null_mean` returns it, and every printed PBO carries it (:func:`pbo_label`).

  The Sharpe ratio of a union of parts only needs each part's bar count, sum of returns and sum of
  squared returns, which is what every sweep keeps (``SweepResult.part_sums``):
  :func:`pbo_from_part_sums` scores sweeps of any size without bars × combinations returns.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd

from peaktrade.errors import BacktestError, bad_value

EULER_GAMMA = 0.5772156649015329
_N = NormalDist()
_SUM_METRICS = ("sharpe", "mean", "total_return")


# --------------------------------------------------------------------------------------------
# normal distribution (stdlib; no scipy)


def norm_cdf(x: Any) -> Any:
    """Return the standard normal CDF of ``x`` (scalar or array)."""
    if np.ndim(x) == 0:
        return 0.5 * math.erfc(-float(x) / math.sqrt(2.0))
    return 0.5 * np.vectorize(math.erfc, otypes=[float])(-np.asarray(x, dtype=float) / math.sqrt(2.0))


def norm_ppf(p: float) -> float:
    """Return the standard normal quantile of ``p`` in (0, 1)."""
    return _N.inv_cdf(float(p))


# --------------------------------------------------------------------------------------------
# PSR / DSR


def _positive_int(name: str, v: Any, low: int) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < low:
        raise BacktestError(bad_value(name, v, f"an integer >= {low}"))
    return int(v)


def _finite(name: str, v: Any) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        raise BacktestError(bad_value(name, v, "a finite number")) from None
    if not math.isfinite(f):
        raise BacktestError(bad_value(name, v, "a finite number"))
    return f


def _psr(sharpe: Any, benchmark: float, n_obs: int, skew: float, kurtosis: float) -> Any:
    sr = np.asarray(sharpe, dtype=float)
    var = 1.0 - skew * sr + (kurtosis - 1.0) / 4.0 * sr * sr
    if np.any(var <= 0.0):
        bad = float(sr.ravel()[np.argmax(var.ravel() <= 0.0)])
        raise BacktestError(
            f"1 - skew*sharpe + (kurtosis-1)/4*sharpe^2 is not positive for sharpe={bad!r}, skew={skew!r}, "
            f"kurtosis={kurtosis!r}: expected per-bar (not annualized) Sharpe ratios and the raw kurtosis"
        )
    z = (sr - benchmark) * math.sqrt(n_obs - 1.0) / np.sqrt(var)
    out = norm_cdf(z)
    return float(out) if np.ndim(sharpe) == 0 else out


def _moments(name_skew: str, skew: Any, kurtosis: Any) -> tuple[float, float]:
    g3 = _finite(name_skew, skew)
    g4 = _finite("kurtosis", kurtosis)
    if g4 < 1.0:
        raise BacktestError(bad_value("kurtosis", kurtosis, "the raw (non-excess) kurtosis, >= 1 (3 for normal "
                                      "returns)"))
    return g3, g4


def probabilistic_sharpe_ratio(sharpe: Any, *, benchmark: float = 0.0, n_obs: int, skew: float,
                               kurtosis: float) -> Any:
    """Return the probability that the true Sharpe ratio exceeds ``benchmark``.

    Parameters
    ----------
    sharpe
        Estimated Sharpe ratio **per bar** (not annualized); a scalar or an array.
    benchmark
        Benchmark Sharpe ratio per bar.
    n_obs
        Number of bar returns the estimate comes from.
    skew, kurtosis
        Skewness and **raw** kurtosis of the bar returns (0 and 3 for normal returns).

    Returns
    -------
    float or numpy.ndarray
        PSR in [0, 1].
    """
    n = _positive_int("n_obs", n_obs, 2)
    g3, g4 = _moments("skew", skew, kurtosis)
    return _psr(sharpe, _finite("benchmark", benchmark), n, g3, g4)


def expected_max_sharpe(n_trials: int, trials_sharpe_variance: float) -> float:
    """Return the expected maximum Sharpe ratio of ``n_trials`` independent unskilled trials.

    Parameters
    ----------
    n_trials
        Number of independent trials N (1 gives 0: the expected Sharpe ratio of a null trial).
    trials_sharpe_variance
        Variance V of the trials' Sharpe ratio estimates, in the unit of the result (per bar for
        the DSR).

    Returns
    -------
    float
        ``sqrt(V) · ((1 − γ) Φ⁻¹(1 − 1/N) + γ Φ⁻¹(1 − 1/(N e)))`` with γ the Euler–Mascheroni constant.
    """
    n = _positive_int("n_trials", n_trials, 1)
    v = _finite("trials_sharpe_variance", trials_sharpe_variance)
    if v < 0.0:
        raise BacktestError(bad_value("trials_sharpe_variance", trials_sharpe_variance, "a number >= 0"))
    if n == 1:
        return 0.0
    z = (1.0 - EULER_GAMMA) * norm_ppf(1.0 - 1.0 / n) + EULER_GAMMA * norm_ppf(1.0 - 1.0 / (n * math.e))
    return math.sqrt(v) * z


def deflated_sharpe_ratio(sharpe: Any, *, n_trials: int, trials_sharpe_variance: float, n_obs: int,
                          skew: float, kurtosis: float) -> Any:
    """Return the Deflated Sharpe Ratio: the PSR against the expected maximum of the trials.

    Parameters
    ----------
    sharpe
        Sharpe ratio **per bar** of the selected (best) trial; a scalar or an array.
    n_trials
        Number of independent trials the selection was made from.
    trials_sharpe_variance
        Variance of the trials' **per-bar** Sharpe ratios.
    n_obs
        Number of bar returns of the selected trial.
    skew, kurtosis
        Skewness and **raw** kurtosis of the selected trial's bar returns.

    Returns
    -------
    float or numpy.ndarray
        DSR in [0, 1]: the probability that the selected trial's true Sharpe ratio is positive,
        corrected for selection among ``n_trials``.
    """
    sr0 = expected_max_sharpe(n_trials, trials_sharpe_variance)
    return probabilistic_sharpe_ratio(sharpe, benchmark=sr0, n_obs=n_obs, skew=skew, kurtosis=kurtosis)


def return_moments(returns: Any) -> dict[str, float]:
    """Return per-bar Sharpe ratio (ddof=1), skewness and raw kurtosis (population moments) of returns."""
    r = np.asarray(returns, dtype=float)
    r = r[np.isfinite(r)]
    n = r.shape[0]
    if n < 2:
        return {"sharpe": math.nan, "skew": math.nan, "kurtosis": math.nan, "n_obs": n}
    mean = r.mean()
    d = r - mean
    m2 = float(np.mean(d * d))
    std = float(r.std(ddof=1))
    if m2 <= 0.0:
        return {"sharpe": math.nan, "skew": math.nan, "kurtosis": math.nan, "n_obs": n}
    return {"sharpe": float(mean / std), "skew": float(np.mean(d**3) / m2**1.5),
            "kurtosis": float(np.mean(d**4) / m2**2), "n_obs": n}


# --------------------------------------------------------------------------------------------
# PBO by CSCV


def pbo_null_mean(n_strategies: int) -> float:
    """Return the mean PBO of strategies without skill: ``0.5 + 1/(2N)`` for odd N, 0.5 for even N.

    Under the null the out-of-sample rank of the in-sample best is uniform on 1..N, and a
    combination counts as overfit when λ ≤ 0, i.e. rank ≤ (N + 1) / 2: ``ceil(N/2) / N`` of the ranks.
    """
    if isinstance(n_strategies, bool) or not isinstance(n_strategies, (int, np.integer)) or n_strategies < 1:
        raise BacktestError(bad_value("n_strategies", n_strategies, "an integer >= 1"))
    n = int(n_strategies)
    return ((n + 1) // 2) / n


def pbo_convention(n_splits: int, n_strategies: int) -> str:
    """Return the one-line statement of how a PBO was computed and what it means under no skill."""
    n = int(n_strategies)
    null = f"0.5+1/(2N) = {pbo_null_mean(n):.3f} for N={n}" if n % 2 else f"0.5 for even N={n}"
    return (f"CSCV, S={n_splits}, C(S,S/2)={math.comb(n_splits, n_splits // 2)} splits, N={n}: share of splits "
            f"whose IS-best has OOS logit ln(w/(1-w)) <= 0, w = rank/(N+1), ties at the average rank; "
            f"null mean {null}")


def pbo_label(value: float, n_splits: int, n_strategies: int) -> str:
    """Return ``"PBO 0.24 (CSCV, S=16, ...; null mean ...)"``: a PBO printed with its convention."""
    return f"PBO {value:.3f} ({pbo_convention(n_splits, n_strategies)})"


def dsr_reading(dsr: float, n_trials: int) -> str:
    """Return a one-line reading of a Deflated Sharpe Ratio, e.g. ``"DSR 0.62: 62 % probability the true
    Sharpe is above 0 after 130 trials (the best of them was picked; 0.95+ is strong evidence)"``."""
    if not isinstance(dsr, (int, float, np.floating)) or not math.isfinite(dsr):
        return "DSR not computable (the selected combination has no Sharpe ratio)"
    return (f"DSR {dsr:.2f}: {dsr * 100:.0f} % probability the true Sharpe is above 0 after {int(n_trials):,} "
            f"trials (corrected for picking the best of them; 0.95+ is strong evidence)")


def pbo_reading(pbo_value: float, null_mean: float, n_combinations: int | None = None) -> str:
    """Return a one-line reading of a PBO, e.g. ``"PBO 0.24: in 24 % of the 12,870 train/test splits the
    in-sample best ranked at or below the median out of sample (no skill: 0.50; lower is better)"``."""
    if not isinstance(pbo_value, (int, float, np.floating)) or not math.isfinite(pbo_value):
        return "PBO not computable (fewer than two combinations survived, or no per-part sums)"
    splits = f"the {int(n_combinations):,} " if n_combinations else ""
    return (f"PBO {pbo_value:.2f}: in {pbo_value * 100:.0f} % of {splits}train/test splits the in-sample best "
            f"ranked at or below the median out of sample (no skill: {null_mean:.2f}; lower is better)")


@dataclass(frozen=True)
class PBOResult:
    """Probability of Backtest Overfitting and the CSCV details behind it.

    Attributes
    ----------
    pbo : float
        Share of combinations whose in-sample best ranks at or below the out-of-sample median.
    logits : numpy.ndarray
        λ per combination (ln(ω / (1 − ω)), ω the out-of-sample relative rank of the in-sample best).
    n_combinations : int
        C(S, S/2) combinations evaluated.
    n_splits, n_strategies : int
        S parts and N strategies.
    metric : str
        Performance metric used for selection and ranking.
    best_index : numpy.ndarray
        Column of the in-sample best per combination.
    is_performance, oos_performance : numpy.ndarray
        In-sample metric of the in-sample best and its out-of-sample metric, per combination.
    """

    pbo: float
    logits: np.ndarray
    n_combinations: int
    n_splits: int
    n_strategies: int
    metric: str
    best_index: np.ndarray = field(repr=False)
    is_performance: np.ndarray = field(repr=False)
    oos_performance: np.ndarray = field(repr=False)

    @property
    def prob_oos_loss(self) -> float:
        """Share of combinations whose in-sample best has a negative out-of-sample metric."""
        return float(np.mean(self.oos_performance < 0.0))

    @property
    def degradation(self) -> tuple[float, float]:
        """Return (slope, intercept) of the least-squares fit of out-of-sample on in-sample metric."""
        x, y = self.is_performance, self.oos_performance
        ok = np.isfinite(x) & np.isfinite(y)
        if ok.sum() < 2 or np.ptp(x[ok]) == 0.0:
            return math.nan, math.nan
        slope, intercept = np.polyfit(x[ok], y[ok], 1)
        return float(slope), float(intercept)

    @property
    def null_mean(self) -> float:
        """Mean PBO of N strategies without skill under this convention (:func:`pbo_null_mean`)."""
        return pbo_null_mean(self.n_strategies)

    def __str__(self) -> str:
        return pbo_label(self.pbo, self.n_splits, self.n_strategies)

    @property
    def reading(self) -> str:
        """One line saying what this PBO means (:func:`pbo_reading`)."""
        return pbo_reading(self.pbo, self.null_mean, self.n_combinations)

    def __repr__(self) -> str:
        return (f"PBOResult(pbo={self.pbo!r}, null_mean={self.null_mean!r}, n_combinations={self.n_combinations}, "
                f"n_splits={self.n_splits}, n_strategies={self.n_strategies}, metric={self.metric!r}; "
                f"{pbo_convention(self.n_splits, self.n_strategies)})")

    def summary(self) -> pd.Series:
        """Return the headline numbers as a Series (the PBO with its null mean and convention)."""
        slope, _ = self.degradation
        return pd.Series({"pbo": self.pbo, "pbo_null_mean": self.null_mean,
                          "pbo_convention": pbo_convention(self.n_splits, self.n_strategies),
                          "logit_mean": float(np.mean(self.logits)),
                          "prob_oos_loss": self.prob_oos_loss, "degradation_slope": slope,
                          "n_combinations": self.n_combinations, "n_splits": self.n_splits,
                          "n_strategies": self.n_strategies, "metric": self.metric}, name="pbo")


def _combinations(n_splits: int) -> np.ndarray:
    """Return the (C, S) 0/1 float matrix of in-sample parts of every CSCV combination."""
    combos = list(itertools.combinations(range(n_splits), n_splits // 2))
    a = np.zeros((len(combos), n_splits))
    rows = np.repeat(np.arange(len(combos)), n_splits // 2)
    a[rows, np.asarray(combos).ravel()] = 1.0
    return a


def _check_splits(name: str, n_splits: Any, n_rows: int) -> int:
    if (isinstance(n_splits, bool) or not isinstance(n_splits, (int, np.integer)) or n_splits < 2
            or n_splits % 2 or n_splits > n_rows):
        raise BacktestError(bad_value(name, n_splits, f"an even integer in [2, {n_rows}]"))
    return int(n_splits)


def _metric_from_sums(metric: str, s1: np.ndarray, s2: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Return the metric of each column from its sums (sharpe: ddof=1; a flat series scores 0)."""
    if metric == "total_return":
        return np.expm1(s1)  # s1 holds sums of log(1 + r)
    mean = s1 / n
    if metric == "mean":
        return mean
    var = (s2 - n * mean * mean) / np.maximum(n - 1.0, 1.0)
    std = np.sqrt(np.maximum(var, 0.0))
    flat = ~(std > 1e-12 * np.maximum(np.abs(mean), 1e-300))
    with np.errstate(divide="ignore", invalid="ignore"):  # a flat column (mean 0: 0 × inf) is chosen by `flat`
        return np.where(flat, np.where(mean == 0.0, 0.0, np.sign(mean) * np.inf), mean / std)


def _relative_rank(oos: np.ndarray, best: np.ndarray) -> np.ndarray:
    """Return ω = average rank (1..N) of column ``best[i]`` within row ``i``, divided by N + 1."""
    n = oos.shape[1]
    pick = oos[np.arange(oos.shape[0]), best][:, None]
    below = (oos < pick).sum(axis=1)
    ties = (oos == pick).sum(axis=1) - 1
    return (below + 0.5 * ties + 1.0) / (n + 1.0)


def _select(is_perf: np.ndarray, oos_perf: np.ndarray):
    is_perf = np.where(np.isnan(is_perf), -np.inf, is_perf)
    oos_perf = np.where(np.isnan(oos_perf), -np.inf, oos_perf)
    best = np.argmax(is_perf, axis=1)
    rows = np.arange(is_perf.shape[0])
    return best, is_perf[rows, best], oos_perf[rows, best], _relative_rank(oos_perf, best)


def _finish(best, is_b, oos_b, omega, n_splits, n_strategies, metric) -> PBOResult:
    logits = np.log(omega / (1.0 - omega))
    return PBOResult(pbo=float(np.mean(logits <= 0.0)), logits=logits, n_combinations=int(logits.shape[0]),
                     n_splits=n_splits, n_strategies=n_strategies, metric=metric, best_index=best,
                     is_performance=is_b, oos_performance=oos_b)


def _cscv_from_sums(s1: np.ndarray, s2: np.ndarray, counts: np.ndarray, metric: str) -> PBOResult:
    """CSCV over per-part sums ``s1``, ``s2`` (S, N) and bar counts (S,)."""
    n_splits, n_strat = s1.shape
    a = _combinations(n_splits)
    b = 1.0 - a
    chunk = max(1, 2_000_000 // max(n_strat, 1))
    parts = []
    for c0 in range(0, a.shape[0], chunk):
        ai, bi = a[c0:c0 + chunk], b[c0:c0 + chunk]
        is_perf = _metric_from_sums(metric, ai @ s1, ai @ s2, (ai @ counts)[:, None])
        oos_perf = _metric_from_sums(metric, bi @ s1, bi @ s2, (bi @ counts)[:, None])
        parts.append(_select(is_perf, oos_perf))
    best, is_b, oos_b, omega = (np.concatenate(x) for x in zip(*parts))
    return _finish(best, is_b, oos_b, omega, n_splits, n_strat, metric)


def pbo(matrix: Any, *, n_splits: int = 16, metric: str | Callable[[np.ndarray], np.ndarray] = "sharpe") -> PBOResult:
    """Return the Probability of Backtest Overfitting of N strategies by CSCV.

    Parameters
    ----------
    matrix
        T × N array or DataFrame: one row per bar (in time order), one column per strategy, holding
        each strategy's bar returns (or any per-bar performance). No NaN.
    n_splits
        Number S of contiguous parts (even; C(S, S/2) combinations: 12,870 for 16).
    metric
        ``"sharpe"`` (mean / std, ddof=1; a flat column scores 0), ``"mean"``, ``"total_return"``
        (compounded), or a callable taking a (rows × N) array of the selected parts' rows, in time
        order, and returning N scores (evaluated combination by combination: slower).

    Returns
    -------
    PBOResult
    """
    m = np.asarray(matrix.to_numpy() if isinstance(matrix, pd.DataFrame) else matrix, dtype=float)
    if m.ndim != 2 or m.shape[1] < 2:
        raise BacktestError(f"matrix has shape {m.shape}: expected T × N with N >= 2 strategies")
    if not np.isfinite(m).all():
        raise BacktestError("matrix contains NaN or inf: expected finite per-bar performance")
    s = _check_splits("n_splits", n_splits, m.shape[0])
    bounds = np.linspace(0, m.shape[0], s + 1).astype(np.int64)
    if callable(metric):
        return _cscv_callable(m, bounds, metric)
    if metric not in _SUM_METRICS:
        raise BacktestError(bad_value("metric", metric, "one of " + ", ".join(map(repr, _SUM_METRICS))
                                      + " or a callable"))
    if metric == "total_return":
        if (m <= -1.0).any():
            raise BacktestError("matrix has returns <= -1: total_return needs simple returns > -1")
        m = np.log1p(m)
    s1 = np.add.reduceat(m, bounds[:-1], axis=0)
    s2 = np.add.reduceat(m * m, bounds[:-1], axis=0)
    return _cscv_from_sums(s1, s2, np.diff(bounds).astype(float), metric)


def _cscv_callable(m: np.ndarray, bounds: np.ndarray, fn: Callable[[np.ndarray], np.ndarray]) -> PBOResult:
    n_splits = bounds.shape[0] - 1
    a = _combinations(n_splits).astype(bool)
    rows_of = [np.arange(bounds[i], bounds[i + 1]) for i in range(n_splits)]
    is_perf = np.empty((a.shape[0], m.shape[1]))
    oos_perf = np.empty_like(is_perf)
    for c in range(a.shape[0]):
        is_rows = np.concatenate([rows_of[i] for i in range(n_splits) if a[c, i]])
        oos_rows = np.concatenate([rows_of[i] for i in range(n_splits) if not a[c, i]])
        is_perf[c] = np.asarray(fn(m[is_rows]), dtype=float)
        oos_perf[c] = np.asarray(fn(m[oos_rows]), dtype=float)
    best, is_b, oos_b, omega = _select(is_perf, oos_perf)
    name = getattr(fn, "__name__", "callable")
    return _finish(best, is_b, oos_b, omega, n_splits, m.shape[1], name)


def pbo_from_part_sums(part_sums: Any, part_bars: Any = None, *, metric: str = "sharpe") -> PBOResult:
    """Return the PBO by CSCV from per-part return sums, as every sweep keeps them.

    Parameters
    ----------
    part_sums
        (N, S, 2) array: for each of N combinations and S contiguous parts, the sum of bar returns
        and the sum of squared bar returns (``SweepResult.part_sums``). A ``SweepResult`` is
        accepted too (``part_bars`` then comes from it).
    part_bars
        (S,) bars in each part (``SweepResult.part_bars``).
    metric
        ``"sharpe"`` (default) or ``"mean"``; computed exactly from the sums of the parts in each half.

    Returns
    -------
    PBOResult
    """
    if hasattr(part_sums, "part_sums") and part_bars is None:
        part_sums, part_bars = part_sums.part_sums, part_sums.part_bars
    ps = np.asarray(part_sums, dtype=float)
    if ps.ndim != 3 or ps.shape[2] != 2 or ps.shape[0] < 2:
        raise BacktestError(f"part_sums has shape {ps.shape}: expected (n_combinations >= 2, n_parts, 2)")
    if not np.isfinite(ps).all():
        raise BacktestError("part_sums contains NaN or inf: expected finite sums")
    pb = np.asarray(part_bars, dtype=float).ravel() if part_bars is not None else None
    if pb is None or pb.shape[0] != ps.shape[1] or (pb < 2).any():
        raise BacktestError(f"part_bars={part_bars!r} is invalid: expected {ps.shape[1]} bar counts >= 2 "
                            "(one per part)")
    _check_splits("n_parts", ps.shape[1], ps.shape[1])
    if metric not in ("sharpe", "mean"):
        raise BacktestError(bad_value("metric", metric, "'sharpe' or 'mean'"))
    return _cscv_from_sums(ps[:, :, 0].T.copy(), ps[:, :, 1].T.copy(), pb, metric)


# --------------------------------------------------------------------------------------------
# sweeps


def _pbo_part_sums(sweep_result: Any) -> np.ndarray | None:
    """The sweep's part sums of the combinations that were not ruined (None when PBO cannot be computed)."""
    ps = getattr(sweep_result, "part_sums", None)
    if ps is None or getattr(ps, "ndim", 0) != 3 or ps.shape[1] % 2:
        return None
    if getattr(sweep_result, "part_sample", None) is not None:  # top=/out= sweeps: a sample of non-ruined rows
        return np.ascontiguousarray(ps) if ps.shape[0] >= 2 else None
    table = sweep_result.table
    keep = (table["ruined"] != 1.0).to_numpy() if "ruined" in table else np.ones(ps.shape[0], dtype=bool)
    return np.ascontiguousarray(ps[keep]) if keep.sum() >= 2 else None


def _pbo_entries(sweep_result: Any) -> dict[str, Any]:
    """``pbo`` with its ``pbo_null_mean`` and ``pbo_convention`` (NaN / empty when not computable).

    Ruined combinations are never candidates (they are still counted as trials for the DSR).
    """
    ps = _pbo_part_sums(sweep_result)
    if ps is None:
        return {"pbo": math.nan, "pbo_null_mean": math.nan, "pbo_convention": "",
                "pbo_reading": pbo_reading(math.nan, math.nan)}
    res = pbo_from_part_sums(ps, sweep_result.part_bars)
    return {"pbo": res.pbo, "pbo_null_mean": res.null_mean,
            "pbo_convention": pbo_convention(res.n_splits, res.n_strategies), "pbo_reading": res.reading}


def with_pbo_convention(overfitting: pd.Series, sweep_result: Any) -> pd.Series:
    """Return ``overfitting`` with ``pbo_null_mean``, ``pbo_convention`` and ``pbo_reading`` right after a
    finite ``pbo``, and ``dsr_reading`` right after a ``dsr`` (with ``n_trials``, else the sweep's rows).

    For callers that print or log a PBO or DSR of ``sweep_result`` (reports, MLflow): entries already
    present are kept; without a finite ``pbo`` or the sweep's part sums no PBO entry is added.
    """
    ps = _pbo_part_sums(sweep_result)
    v = overfitting.get("pbo")
    extra: dict[str, dict[str, Any]] = {}
    if ("pbo_convention" not in overfitting and ps is not None
            and isinstance(v, (int, float, np.floating)) and math.isfinite(v)):
        extra["pbo"] = {"pbo_null_mean": pbo_null_mean(ps.shape[0]),
                        "pbo_convention": pbo_convention(ps.shape[1], ps.shape[0]),
                        "pbo_reading": pbo_reading(float(v), pbo_null_mean(ps.shape[0]),
                                                   math.comb(ps.shape[1], ps.shape[1] // 2))}
    elif "pbo_reading" not in overfitting and isinstance(v, (int, float, np.floating)) and math.isfinite(v) \
            and isinstance(overfitting.get("pbo_null_mean"), (int, float, np.floating)):
        extra["pbo"] = {"pbo_reading": pbo_reading(float(v), float(overfitting["pbo_null_mean"]))}
    if "dsr" in overfitting and "dsr_reading" not in overfitting:
        n_trials = overfitting.get("n_trials", len(getattr(sweep_result, "table", ())))
        extra["dsr"] = {"dsr_reading": dsr_reading(overfitting["dsr"], int(n_trials))}
    if not extra:
        return overfitting
    items: dict[str, Any] = {}
    for k, val in overfitting.items():
        items[k] = val
        items.update(extra.get(str(k), {}))
    return pd.Series(items, name=overfitting.name, dtype=object)


def sweep_overfitting(sweep_result: Any, bars: pd.DataFrame, *, metric: str = "sharpe", minimize: bool = False,
                      **run_kw: Any) -> pd.Series:
    """Return the overfitting statistics of a sweep's best combination.

    The best combination by ``metric`` is re-run with :func:`peaktrade.backtest.run` on ``bars``
    with the backtest options the sweep ran with (``SweepResult.options``, overridable through
    ``run_kw``) to get its bar returns: their per-bar Sharpe ratio (ddof=1), skewness and raw kurtosis
    feed the PSR and the DSR. The trials are the sweep's combinations (``n_trials`` = table rows);
    their per-bar Sharpe variance is the variance (ddof=1) of the table's annualized ``sharpe``
    divided by the bars per year of ``bars`` (combinations without a Sharpe ratio, e.g. never
    trading, are left out of the variance). The PBO comes from the sweep's per-part sums and always
    ranks by Sharpe ratio. Ruined combinations (equity reached zero) are never the best one and are
    left out of the PBO's candidates (a ruined account has no returns after its ruin, which CSCV
    would score as flat); they still count as trials.

    Parameters
    ----------
    sweep_result
        A :class:`~peaktrade.backtest.SweepResult` with at least two combinations.
    bars
        The bars the sweep ran on.
    metric, minimize
        How the best combination is chosen (as in ``SweepResult.best``).
    **run_kw
        Backtest options overriding the sweep's own for the re-run (rarely needed).

    Returns
    -------
    pandas.Series
        ``dsr``, ``psr``, ``pbo``, ``pbo_null_mean`` (its value without skill, :func:`pbo_null_mean`),
        ``pbo_convention`` (how it was computed), ``n_trials``, ``sharpe`` (annualized), ``sharpe_per_bar``,
        ``expected_max_sharpe`` (per bar), ``trials_sharpe_variance`` (per bar), ``skew``,
        ``kurtosis`` (raw), ``n_obs``, then the best parameters by name.
    """
    from peaktrade.backtest import run
    from peaktrade.backtest.stats import annualization

    if not hasattr(sweep_result, "table") or not hasattr(sweep_result, "best_params"):
        raise BacktestError(f"sweep_result is a {type(sweep_result).__name__}: expected a SweepResult")
    if getattr(sweep_result, "n_bars", len(bars)) != len(bars):
        raise BacktestError(f"bars has {len(bars)} rows but the sweep ran on {sweep_result.n_bars}: expected the "
                            "sweep's bars")
    table = sweep_result.table
    # a top=/out= sweep keeps only some rows: its trials are every combination it ran
    n_trials = getattr(sweep_result, "n_combos", 0) if getattr(sweep_result, "part_sample", None) else len(table)
    if n_trials < 2:
        raise BacktestError(f"the sweep has {n_trials} combination(s): expected at least 2 trials")
    from peaktrade.experiments.walk_forward import _typed
    from peaktrade.strategies.registry import get_strategy

    params = _typed(get_strategy(sweep_result.strategy), sweep_result.best_params(metric, minimize=minimize))
    options = {k: v for k, v in getattr(sweep_result, "options", {}).items() if v is not None}
    res = run(sweep_result.strategy, bars, **{**options, **run_kw}, **params)
    return best_overfitting(sweep_result, res.returns.to_numpy(), annualization(bars.index)[0], n_trials, params)


def best_overfitting(sweep_result: Any, returns: np.ndarray, ann: float, n_trials: int,
                     params: dict[str, Any]) -> pd.Series:
    """Return the overfitting statistics (as :func:`sweep_overfitting`) of a sweep whose best combination
    (``params``) had the bar ``returns``; ``ann`` is the bars per year of the sweep's bars. Shared by every
    kind of sweep (single strategies, portfolios)."""
    table = sweep_result.table
    mom = return_moments(returns)
    sr_bar = table["sharpe"].to_numpy(dtype=float) / math.sqrt(ann)
    sr_bar = sr_bar[np.isfinite(sr_bar)]
    v = float(np.var(sr_bar, ddof=1)) if sr_bar.shape[0] > 1 else 0.0
    c, s1, s2 = getattr(sweep_result, "sharpe_moments", (0, 0.0, 0.0))
    if getattr(sweep_result, "part_sample", None) and c > 1:  # the variance of every trial, not the kept rows
        v = max(s2 - s1 * s1 / c, 0.0) / (c - 1) / ann
    sr = mom["sharpe"]
    ok = math.isfinite(sr)
    out: dict[str, Any] = {
        "dsr": (dsr := deflated_sharpe_ratio(sr, n_trials=n_trials, trials_sharpe_variance=v, n_obs=mom["n_obs"],
                                             skew=mom["skew"], kurtosis=mom["kurtosis"]) if ok else math.nan),
        "dsr_reading": dsr_reading(dsr, n_trials),
        "psr": probabilistic_sharpe_ratio(sr, n_obs=mom["n_obs"], skew=mom["skew"],
                                          kurtosis=mom["kurtosis"]) if ok else math.nan,
        **_pbo_entries(sweep_result),
        "n_trials": n_trials,
        "sharpe": sr * math.sqrt(ann) if ok else math.nan,
        "sharpe_per_bar": sr,
        "expected_max_sharpe": expected_max_sharpe(n_trials, v),
        "trials_sharpe_variance": v,
        "skew": mom["skew"],
        "kurtosis": mom["kurtosis"],
        "n_obs": mom["n_obs"],
    }
    out.update(params)
    return pd.Series(out, name="overfitting", dtype=object)


__all__ = [
    "EULER_GAMMA",
    "PBOResult",
    "best_overfitting",
    "deflated_sharpe_ratio",
    "dsr_reading",
    "expected_max_sharpe",
    "norm_cdf",
    "norm_ppf",
    "pbo_reading",
    "pbo",
    "pbo_convention",
    "pbo_from_part_sums",
    "pbo_label",
    "pbo_null_mean",
    "with_pbo_convention",
    "probabilistic_sharpe_ratio",
    "return_moments",
    "sweep_overfitting",
]
