"""The analysis block against reference computations done here with numpy and scipy on fixed data."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from runyard.domain import analysis

BASE = [10.0, 12.5, 9.0, 11.0, 14.0, 13.5, 10.5, 12.0, 9.5, 11.5]
CAND = [9.0, 11.0, 8.5, 10.8, 12.0, 12.9, 10.0, 11.1, 9.7, 10.2]


def test_paired_figures_equal_the_reference() -> None:
    out = analysis.paired(BASE, CAND, seed=7)
    d = np.array(CAND) - np.array(BASE)
    assert out["n"] == 10
    assert out["mean_difference"] == pytest.approx(d.mean()) and out["median_difference"] == pytest.approx(np.median(d))
    assert out["p_value"] == pytest.approx(stats.wilcoxon(d).pvalue)
    assert out["effect_size"] == pytest.approx(d.mean() / d.std(ddof=1))
    z = stats.norm.ppf(0.975) + stats.norm.ppf(0.8)
    assert out["runs_needed"] == math.ceil((z / abs(d.mean() / d.std(ddof=1))) ** 2)
    rng = np.random.default_rng(7)
    boots = d[rng.integers(0, 10, size=(analysis.BOOTSTRAP, 10))].mean(axis=1)
    assert out["ci95"] == pytest.approx(list(np.percentile(boots, [2.5, 97.5])))
    assert out["ci95"][0] < out["mean_difference"] < out["ci95"][1]
    assert out["verdict"] == "candidate lower"  # p < 0.05: every pair but one went down
    assert analysis.paired(BASE, CAND, seed=7) == out  # reproducible from the seed


def test_unpaired_figures_equal_the_reference() -> None:
    out = analysis.unpaired(BASE, CAND, seed=3)
    a, b = np.array(BASE), np.array(CAND)
    assert out["mean_difference"] == pytest.approx(b.mean() - a.mean())
    assert out["median_difference"] == pytest.approx(np.median(b) - np.median(a))
    assert out["p_value"] == pytest.approx(stats.mannwhitneyu(b, a, alternative="two-sided").pvalue)
    pooled = math.sqrt((9 * a.var(ddof=1) + 9 * b.var(ddof=1)) / 18)
    assert out["effect_size"] == pytest.approx((b.mean() - a.mean()) / pooled)
    z = stats.norm.ppf(0.975) + stats.norm.ppf(0.8)
    assert out["runs_needed"] == math.ceil(2 * (z / abs(out["effect_size"])) ** 2)
    rng = np.random.default_rng(3)
    boots = b[rng.integers(0, 10, size=(analysis.BOOTSTRAP, 10))].mean(axis=1) - a[rng.integers(0, 10, size=(analysis.BOOTSTRAP, 10))].mean(axis=1)
    assert out["ci95"] == pytest.approx(list(np.percentile(boots, [2.5, 97.5])))
    # unpaired, the same data cannot tell: the spread between inputs hides the shift
    assert out["p_value"] > 0.05 and out["verdict"] == "not enough runs"


def test_three_runs_are_not_enough() -> None:
    out = analysis.paired([1.0, 2.0, 3.0], [5.0, 6.0, 7.5])
    assert out["n"] == 3 and out["verdict"] == "not enough runs"
    assert analysis.unpaired([1.0, 2.0, 3.0], [5.0, 6.0, 7.0])["verdict"] == "not enough runs"


def test_an_undetected_difference_says_how_many_runs_it_would_take() -> None:
    same = [float(i) for i in range(20)]
    out = analysis.paired(same, same)
    assert out["p_value"] == 1.0 and out["mean_difference"] == 0.0 and out["verdict"] == "not enough runs"
    noisy = np.random.default_rng(1)
    base = noisy.normal(100, 1, 400)
    cand = base + noisy.normal(0, 1, 400)
    out = analysis.paired(list(base), list(cand))
    assert out["p_value"] > 0.05 and out["runs_needed"] > 400 and out["verdict"] == "not enough runs"
