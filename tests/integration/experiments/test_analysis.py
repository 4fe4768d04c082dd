"""The analysis block on batch experiments and acceptance tests: the candidate's runs paired with the
baseline's by input, with every figure recomputed here with numpy and scipy from the app's known numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from runyard.domain import analysis

from .conftest import Lab, ok

XS = [1.0, 7.0, 3.0, 9.0, 2.0, 8.0, 4.0, 6.0]
SCALE = 1.1  # the candidate's value is 1.1 x, so the paired difference is 0.1 x: a different one per input


def reference(d: np.ndarray) -> dict[str, float]:
    n = d.size
    rng = np.random.default_rng(0)
    boots = d[rng.integers(0, n, size=(analysis.BOOTSTRAP, n))].mean(axis=1)
    effect = d.mean() / d.std(ddof=1)
    z = stats.norm.ppf(0.975) + stats.norm.ppf(0.8)
    return {"mean_difference": d.mean(), "median_difference": float(np.median(d)), "p_value": stats.wilcoxon(d).pvalue,
            "effect_size": effect, "runs_needed": math.ceil((z / abs(effect)) ** 2),
            "ci95": list(np.percentile(boots, [2.5, 97.5]))}


def assert_matches(block: dict, d: np.ndarray) -> None:
    assert block["n"] == d.size and block["seed"] == 0
    for key, value in reference(d).items():
        assert block[key] == pytest.approx(value), key


def test_batch_and_acceptance_analyses_pair_runs_by_input(lab: Lab) -> None:
    base, cand = lab.instance("base"), lab.instance("wider", scale=str(SCALE))
    input_set = lab.input_set("eight", lab.inputs("x", XS))
    lab.batch("exp", input_set_id=input_set, instance_ids=[base, cand])
    metric = {"field": "result.value", "metric_type": "direct-comparison", "statistic": "mean",
              "params": {"operator": "le", "tolerance": {"type": "relative", "value": 0}}}
    ok(lab.api.post(f"{lab.base}/experiments/acceptance", json={
        "id": "exp", "name": "exp", "control": {"instance_id": base}, "candidate": {"instance_id": cand}, "metrics": [metric]}))
    lab.wait_experiment("exp")
    d = np.array([x * SCALE - x for x in XS])

    batch = ok(lab.api.get(f"{lab.base}/experiments/batch/exp/analysis"))
    assert batch["paired_by"] == ["input_id", "scenario_id", "repetition"] and batch["status"] == "completed"
    (comparison,) = batch["comparisons"]
    assert (comparison["baseline_instance_id"], comparison["candidate_instance_id"]) == (base, cand)
    assert comparison["pairs"] == 8 and comparison["unpaired_runs"] == 0
    assert set(comparison["metrics"]) == {"result.value", "result.down", "value"}
    assert_matches(comparison["metrics"]["result.value"], d)
    assert_matches(comparison["metrics"]["result.down"], -d)
    assert comparison["metrics"]["result.value"]["verdict"] == "candidate higher"
    assert comparison["metrics"]["result.down"]["verdict"] == "candidate lower"

    swapped = ok(lab.api.get(f"{lab.base}/experiments/batch/exp/analysis", params={"baseline_instance_id": cand}))
    assert_matches(swapped["comparisons"][0]["metrics"]["result.value"], -d)

    accepted = ok(lab.api.get(f"{lab.base}/experiments/acceptance/exp/analysis"))
    assert accepted["id"] == "exp" and accepted["status"] == "completed"
    (comparison,) = accepted["comparisons"]
    assert list(comparison["metrics"]) == ["result.value"]  # the metrics the test judges, no others
    assert_matches(comparison["metrics"]["result.value"], d)


def test_three_inputs_are_not_enough_and_bad_requests_are_clear(lab: Lab) -> None:
    base, cand = lab.instance("base"), lab.instance("wider", scale="2")
    lab.batch("small", input_set_id=lab.input_set("three", lab.inputs("s", [1.0, 2.0, 3.0])), instance_ids=[base, cand])
    lab.wait_experiment("small")
    (comparison,) = ok(lab.api.get(f"{lab.base}/experiments/batch/small/analysis"))["comparisons"]
    value = comparison["metrics"]["result.value"]
    assert value["n"] == 3 and value["mean_difference"] == pytest.approx(2.0) and value["verdict"] == "not enough runs"

    response = lab.api.get(f"{lab.base}/experiments/batch/small/analysis", params={"baseline_instance_id": "nope"})
    assert response.status_code == 400 and "nope" in response.text and base in response.text
    assert lab.api.get(f"{lab.base}/experiments/batch/missing/analysis").status_code == 404
    assert lab.api.get(f"{lab.base}/experiments/acceptance/missing/analysis").status_code == 404
