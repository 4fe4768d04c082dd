"""Comparisons a statistician would sign: a candidate against a baseline, one metric at a time.

Paired (shadow tests: a candidate run and the baseline run it mirrors share their input): the
differences candidate − baseline, their mean and median, a seeded bootstrap 95 % confidence interval
of the mean, the Wilcoxon signed-rank p-value, Cohen's d_z, and the number of pairs a paired test
needs to detect the observed effect at 80 % power. Unpaired (switchback tests: the unit is the
sample, one value per unit): the difference of means, a bootstrap interval resampling each arm,
the Mann–Whitney U p-value, Cohen's d, and the units needed per arm.

numpy and scipy do the numbers (the ``analysis`` extra); nothing here is hand-rolled.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

ALPHA, POWER = 0.05, 0.8
BOOTSTRAP = 2000
MIN_PAIRS = 6  # below this a two-sided signed-rank test cannot reach p < 0.05 (n = 5: p ≥ 0.0625)
MIN_UNITS = 4  # per arm: with 3 and 3, Mann–Whitney's smallest two-sided p is 0.1
NOT_ENOUGH, NO_DIFFERENCE = "not enough runs", "no difference detected"


def available() -> bool:
    try:
        import numpy  # noqa: F401
        import scipy  # noqa: F401
    except ImportError:
        return False
    return True


def _needed(effect: float, groups: int) -> int | None:
    """Samples (pairs, or units per arm) that detect ``effect`` (standardized) two-sided at ALPHA with POWER."""
    from scipy.stats import norm

    if not math.isfinite(effect) or effect == 0:
        return None
    z = norm.ppf(1 - ALPHA / 2) + norm.ppf(POWER)
    return math.ceil(groups * (z / abs(effect)) ** 2)


def _verdict(n: int, minimum: int, p: float | None, mean: float, needed: int | None) -> str:
    if n < minimum or p is None:
        return NOT_ENOUGH
    if p < ALPHA:
        return "candidate higher" if mean > 0 else "candidate lower"
    return NO_DIFFERENCE if needed is not None and n >= needed else NOT_ENOUGH


def paired(baseline: Sequence[float], candidate: Sequence[float], *, seed: int = 0) -> dict[str, Any]:
    """Candidate − baseline over pairs (``baseline[i]`` and ``candidate[i]`` share an input)."""
    import numpy as np
    from scipy.stats import wilcoxon

    d = np.asarray(candidate, dtype=float) - np.asarray(baseline, dtype=float)
    n = int(d.size)
    out: dict[str, Any] = {"test": "wilcoxon signed-rank (paired)", "n": n, "seed": seed}
    if n == 0:
        return {**out, "verdict": NOT_ENOUGH}
    mean, median = float(d.mean()), float(np.median(d))
    sd = float(d.std(ddof=1)) if n > 1 else 0.0
    rng = np.random.default_rng(seed)
    boots = d[rng.integers(0, n, size=(BOOTSTRAP, n))].mean(axis=1)
    lo, hi = np.percentile(boots, [2.5, 97.5])
    p = None if n < 2 else (1.0 if not d.any() else float(wilcoxon(d).pvalue))
    effect = mean / sd if sd > 0 else (0.0 if mean == 0 else math.copysign(math.inf, mean))
    needed = _needed(effect, 1)
    return {**out, "mean_difference": mean, "median_difference": median, "ci95": [float(lo), float(hi)],
            "p_value": p, "effect_size": effect if math.isfinite(effect) else None, "effect_size_kind": "cohen d_z",
            "runs_needed": needed, "verdict": _verdict(n, MIN_PAIRS, p, mean, needed)}


def unpaired(baseline: Sequence[float], candidate: Sequence[float], *, seed: int = 0) -> dict[str, Any]:
    """Candidate − baseline over independent samples (switchback units)."""
    import numpy as np
    from scipy.stats import mannwhitneyu

    a, b = np.asarray(baseline, dtype=float), np.asarray(candidate, dtype=float)
    out: dict[str, Any] = {"test": "mann-whitney u (unpaired, per unit)", "n_baseline": int(a.size),
                           "n_candidate": int(b.size), "seed": seed}
    if a.size == 0 or b.size == 0:
        return {**out, "verdict": NOT_ENOUGH}
    mean = float(b.mean() - a.mean())
    median = float(np.median(b) - np.median(a))
    rng = np.random.default_rng(seed)
    boots = (b[rng.integers(0, b.size, size=(BOOTSTRAP, b.size))].mean(axis=1)
             - a[rng.integers(0, a.size, size=(BOOTSTRAP, a.size))].mean(axis=1))
    lo, hi = np.percentile(boots, [2.5, 97.5])
    p = float(mannwhitneyu(b, a, alternative="two-sided").pvalue)
    pooled = math.sqrt(((a.size - 1) * a.var(ddof=1) + (b.size - 1) * b.var(ddof=1)) / (a.size + b.size - 2)) \
        if a.size + b.size > 2 else 0.0
    effect = mean / pooled if pooled > 0 else (0.0 if mean == 0 else math.copysign(math.inf, mean))
    needed = _needed(effect, 2)
    return {**out, "mean_difference": mean, "median_difference": median, "ci95": [float(lo), float(hi)], "p_value": p,
            "effect_size": effect if math.isfinite(effect) else None, "effect_size_kind": "cohen d",
            "runs_needed": needed, "verdict": _verdict(min(a.size, b.size), MIN_UNITS, p, mean, needed)}
