"""The statistics behind the gates and the engine comparison (scipy.stats where it has the test).

- ``wilson_interval``: a binomial proportion's interval (scipy's ``binomtest(...).proportion_ci``).
- ``newcombe_interval``: the difference of two proportions (Newcombe's hybrid score interval).
- ``msprt_proportions``: a mixture sequential probability ratio test on the difference of two
  error rates (Johari et al., "Always valid inference", the test behind Optimizely's stats engine).
  Its p-value and confidence sequence stay valid however often the gate looks at a growing
  window, which a fixed-sample test does not: checking a z-test every few minutes for a day
  inflates false alarms many times over.
- ``shifted_mann_whitney``: Kayenta's idea — is the canary worse than the baseline by more than a
  tolerance? — as a one-sided Mann-Whitney U test on the tolerance-adjusted samples.
- ``mcnemar``: paired per-field comparison on shadow-read documents (exact binomial form).
"""

from __future__ import annotations

import math
import warnings
from typing import NamedTuple

import numpy as np
from scipy import stats


class Sequential(NamedTuple):
    delta: float           # canary rate - baseline rate
    p_value: float         # always valid, one-sided (canary worse by more than the tolerance)
    ci_low: float          # confidence sequence for delta (two-sided, level 1 - alpha)
    ci_high: float


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    if n == 0:
        return 0.0, 1.0
    ci = stats.binomtest(successes, n).proportion_ci(confidence_level=confidence, method="wilson")
    return float(ci.low), float(ci.high)


def newcombe_interval(k1: int, n1: int, k2: int, n2: int, confidence: float = 0.95) -> tuple[float, float]:
    """Interval for k1/n1 - k2/n2 (Newcombe 1998, method 10: from the two Wilson intervals)."""
    p1, p2 = k1 / n1, k2 / n2
    l1, u1 = wilson_interval(k1, n1, confidence)
    l2, u2 = wilson_interval(k2, n2, confidence)
    d = p1 - p2
    return d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)


def msprt_proportions(k_canary: int, n_canary: int, k_baseline: int, n_baseline: int, alpha: float,
                      tau: float = 0.05, tolerance: float = 0.0) -> Sequential:
    """Sequential test of H0: rate_canary - rate_baseline <= tolerance, normal mixture N(0, tau^2).

    Lambda_n = sqrt(V / (V + tau^2)) * exp(d^2 tau^2 / (2 V (V + tau^2))), d = observed difference
    minus the tolerance, V its variance under H0 (pooled). By Ville's inequality P(sup_n Lambda_n
    >= 1/alpha) <= alpha under H0, so rejecting when the p-value 1/Lambda drops below alpha keeps
    the false-alarm rate at alpha over any number of looks. Only a canary that is worse counts.
    """
    if n_canary == 0 or n_baseline == 0:
        return Sequential(math.nan, 1.0, -1.0, 1.0)
    p_c, p_b = k_canary / n_canary, k_baseline / n_baseline
    delta = p_c - p_b
    pooled = (k_canary + k_baseline) / (n_canary + n_baseline)
    # A rate of exactly 0 or 1 has no sampling variance; half a success keeps V finite (the usual
    # continuity correction), so an all-clean baseline cannot make one canary failure significant.
    pooled = min(max(pooled, 0.5 / (n_canary + n_baseline)), 1 - 0.5 / (n_canary + n_baseline))
    # A baseline that happens to look clean in a small sample must not make an ordinary canary look
    # bad: the null variance uses at least the baseline's plausible (95 % upper) rate.
    pooled = max(pooled, min(wilson_interval(k_baseline, n_baseline)[1], 0.5))
    v = pooled * (1 - pooled) * (1 / n_canary + 1 / n_baseline)
    d = delta - tolerance
    log_lambda = 0.5 * math.log(v / (v + tau * tau)) + d * d * tau * tau / (2 * v * (v + tau * tau))
    p_value = 1.0 if d <= 0 else min(1.0, math.exp(-log_lambda))
    # the confidence sequence uses the unpooled variance (no null assumed)
    var_c = max(p_c * (1 - p_c), 0.25 / n_canary) / n_canary
    var_b = max(p_b * (1 - p_b), 0.25 / n_baseline) / n_baseline
    vu = var_c + var_b
    radius = math.sqrt(2 * vu * (vu + tau * tau) / (tau * tau)
                       * (math.log(1 / alpha) + 0.5 * math.log((vu + tau * tau) / vu)))
    return Sequential(delta, p_value, delta - radius, delta + radius)


def shifted_mann_whitney(canary, baseline, worse: str, tolerance: float, relative: bool) -> float:
    """One-sided p-value that the canary is worse than the baseline beyond the tolerance.

    worse="greater" (durations: larger is worse) compares canary / (1 + tolerance) — or canary -
    tolerance when not relative — against the baseline; worse="less" (confidence) compares canary
    + tolerance (or canary * (1 + tolerance))."""
    c, b = np.asarray(canary, dtype=float), np.asarray(baseline, dtype=float)
    if len(c) == 0 or len(b) == 0:
        return 1.0
    if worse == "greater":
        shifted = c / (1 + tolerance) if relative else c - tolerance
    else:
        shifted = c * (1 + tolerance) if relative else c + tolerance
    return float(stats.mannwhitneyu(shifted, b, alternative=worse, method="asymptotic").pvalue)


def mean_difference_interval(canary, baseline, confidence: float = 0.95) -> tuple[float, float, float]:
    """(difference of means, low, high): Welch's t interval."""
    c, b = np.asarray(canary, dtype=float), np.asarray(baseline, dtype=float)
    delta = float(c.mean() - b.mean())
    if len(c) < 2 or len(b) < 2 or (c.std() == 0 and b.std() == 0):
        return delta, delta, delta
    with warnings.catch_warnings():  # nearly identical samples: scipy warns, the interval is still right
        warnings.simplefilter("ignore", RuntimeWarning)
        ci = stats.ttest_ind(c, b, equal_var=False).confidence_interval(confidence)
    return delta, float(ci.low), float(ci.high)


def mean_upper_bound(values, alpha: float) -> float:
    """One-sided 1 - alpha upper bound of the mean (t distribution); inf below two values."""
    v = np.asarray(values, dtype=float)
    if len(v) < 2:
        return math.inf
    return float(v.mean() + stats.t.ppf(1 - alpha, len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v)))


def quantile_difference_interval(canary, baseline, q: float, confidence: float = 0.95, resamples: int = 999,
                                 max_sample: int = 4000, seed: int = 0) -> tuple[float, float, float]:
    """(difference of the q-quantiles, low, high): percentile bootstrap, samples capped for speed."""
    rng = np.random.default_rng(seed)
    c, b = np.asarray(canary, dtype=float), np.asarray(baseline, dtype=float)
    delta = float(np.quantile(c, q) - np.quantile(b, q))
    if len(c) < 2 or len(b) < 2:
        return delta, delta, delta
    c = rng.choice(c, max_sample, replace=False) if len(c) > max_sample else c
    b = rng.choice(b, max_sample, replace=False) if len(b) > max_sample else b
    res = stats.bootstrap((c, b), lambda x, y, axis: np.quantile(x, q, axis=axis) - np.quantile(y, q, axis=axis),
                          vectorized=True, n_resamples=resamples, confidence_level=confidence,
                          method="percentile", rng=rng)
    return delta, float(res.confidence_interval.low), float(res.confidence_interval.high)


def mcnemar(only_control: int, only_candidate: int) -> float:
    """Exact McNemar p-value (two-sided) from the discordant pairs: documents where only the
    control (Google) found the field vs documents where only the candidate did."""
    n = only_control + only_candidate
    if n == 0:
        return 1.0
    return float(stats.binomtest(only_control, n, 0.5).pvalue)
