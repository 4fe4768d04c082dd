"""The numbers an experiment reports, against values computed here independently.

Summaries: count, min, max, mean, sample std, shifted geometric mean with its shift, and the
percentiles p01…p99 (linear interpolation between closest ranks), per (instance, version, option
set) group. Verdicts: each operator with absolute and relative tolerances, with the candidate
statistic exactly at control ± allowed and one floating-point step (one ulp) either side.
"""

from __future__ import annotations

import math
import statistics
from typing import Any

import pytest

from .conftest import Lab

PERCENTILES = (1, 5, 10, 25, 50, 75, 90, 95, 99)


def expected_summary(values: list[float]) -> dict[str, Any]:
    """Standard-library statistics: ``quantiles(method="inclusive")`` is linear interpolation (NumPy's default)."""
    n = len(values)
    shift = max(1.0, 1.0 - min(values))
    cuts = statistics.quantiles(values, n=100, method="inclusive") if n > 1 else [values[0]] * 99
    return {
        "count": n,
        "min": min(values),
        "max": max(values),
        "mean": statistics.fmean(values),
        "std": statistics.stdev(values) if n > 1 else 0.0,
        # product form, not the log form the server uses: (∏ (v + s))^(1/n) − s
        "shifted_geometric_mean": math.prod(v + shift for v in values) ** (1 / n) - shift,
        "shift_parameter": shift,
        "percentiles": {f"p{p:02d}": cuts[p - 1] for p in PERCENTILES},
    }


def assert_summary(actual: dict[str, Any], values: list[float]) -> None:
    want = expected_summary(values)
    assert actual["count"] == want["count"]
    assert actual["min"] == want["min"] and actual["max"] == want["max"]
    assert actual["shift_parameter"] == want["shift_parameter"]
    for key in ("mean", "std", "shifted_geometric_mean"):
        assert actual[key] == pytest.approx(want[key], rel=1e-12, abs=1e-12), key
    assert set(actual["percentiles"]) == set(want["percentiles"])
    for key, value in want["percentiles"].items():
        assert actual["percentiles"][key] == pytest.approx(value, rel=1e-12, abs=1e-12), key


def by_group(exp: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    out = {}
    for group in exp["grouped_distributional_summaries"]:
        named = dict(zip(group["group_keys"], group["group_values"], strict=True))
        assert named["version_id"] == "v1"
        out[(named["instance_id"], named["option_set"])] = group
    return out


XS = [-3.5, 0.0, 0.25, 1.0, 2.0, 2.0, 7.75, 10.0, 100.0, 1e3 / 7]


def test_distribution_summaries(lab: Lab) -> None:
    base = lab.instance("base")
    shifted = lab.instance("shifted", offset="0.5")
    inputs = lab.inputs("x", XS)
    input_set = lab.input_set("xs", inputs)
    option_sets = {"one": {"scale": "1"}, "neg": {"scale": "-2"}}
    runs = [{"input_id": i, "instance_id": base, "option_set": o, "input_set_id": input_set} for o in option_sets for i in inputs]
    runs += [{"input_id": i, "instance_id": shifted} for i in inputs[:4]]
    runs += [{"input_id": inputs[-1], "instance_id": shifted, "option_set": "one"}]  # a group of one
    lab.batch("numbers", option_sets=option_sets, runs=runs)
    exp = lab.wait_experiment("numbers")

    n = len(runs)
    assert exp["status"] == "completed"
    assert (exp["number_of_requested_runs"], exp["number_of_runs"], exp["number_of_completed_runs"]) == (n, n, n)
    assert (exp["number_of_succeeded_runs"], exp["number_of_failed_runs"]) == (n, 0)
    expected = {
        (base, "one"): [x * 1 for x in XS],
        (base, "neg"): [x * -2 for x in XS],
        (shifted, ""): [x + 0.5 for x in XS[:4]],
        (shifted, "one"): [XS[-1] + 0.5],
    }
    groups = by_group(exp)
    assert set(groups) == set(expected)
    for key, values in expected.items():
        group = groups[key]
        assert group["number_of_runs_total"] == group["number_of_runs_succeeded"] == len(values)
        assert group["number_of_runs_failed"] == 0
        assert {"result.value", "result.down", "value"} <= set(group["indicator_keys"])
        dists = group["indicator_distributions"]
        assert_summary(dists["result.value"], values)
        assert_summary(dists["value"], values)
        assert_summary(dists["result.down"], [-v for v in values])

    # a few values spelled out, so the helper itself is checked too
    one = groups[(base, "one")]["indicator_distributions"]["result.value"]
    assert one["shift_parameter"] == 4.5  # 1 − min = 1 + 3.5
    assert one["percentiles"]["p50"] == 2.0  # rank 4.5, between 2.0 and 2.0
    assert one["percentiles"]["p25"] == 0.4375  # rank 2.25: 0.25 + 0.25 × (1.0 − 0.25)
    assert one["percentiles"]["p10"] == pytest.approx(-3.5 + 0.9 * 3.5)  # rank 0.9
    single = groups[(shifted, "one")]["indicator_distributions"]["result.value"]
    assert single["std"] == 0 and single["count"] == 1 and set(single["percentiles"].values()) == {XS[-1] + 0.5}


# --- acceptance verdicts at the tolerance boundary ----------------------------------------------

CONTROL, BOUND = 8.0, 10.0  # control statistic; control + allowed (allowed = 2 = 8 × 0.25)
BELOW, ABOVE = math.nextafter(BOUND, -math.inf), math.nextafter(BOUND, math.inf)
TOLERANCES = {"absolute": 2.0, "relative": 0.25}
STATS = ("min", "p50", "max")  # the candidate's values are BELOW, BOUND, ABOVE: one per statistic

# (operator, field) → verdict for min, p50, max. On result.value the candidate is 10 − ulp, 10, 10 + ulp
# against control 8 (candidate = control + allowed at p50); on result.down it is −10 − ulp, −10, −10 + ulp
# against −8 (candidate = control − allowed at p50).
VERDICTS = {
    ("lt", "result.value"): (True, False, False),
    ("le", "result.value"): (True, True, False),
    ("eq", "result.value"): (True, True, False),
    ("ne", "result.value"): (False, False, True),
    ("gt", "result.down"): (False, False, True),
    ("ge", "result.down"): (False, True, True),
    ("eq", "result.down"): (False, True, True),
    ("ne", "result.down"): (True, False, False),
}


def test_acceptance_verdicts_flip_exactly_at_the_tolerance(lab: Lab) -> None:
    control = lab.instance("control", scale="0", offset=str(CONTROL))
    candidate = lab.instance("candidate")
    input_set = lab.input_set("edge", lab.inputs("e", [BELOW, BOUND, ABOVE]))
    lab.batch("edge", input_set_id=input_set, instance_ids=[candidate, control])
    metrics, expected = [], []
    for kind, tolerance in TOLERANCES.items():
        for (op, field), verdicts in VERDICTS.items():
            for statistic, verdict in zip(STATS, verdicts, strict=True):
                metrics.append({"field": field, "metric_type": "direct-comparison", "statistic": statistic,
                                "params": {"operator": op, "tolerance": {"type": kind, "value": tolerance}}})
                expected.append(((kind, op, field, statistic), verdict))
    body = {"id": "edge", "experiment_id": "edge", "name": "edge", "control": {"instance_id": control},
            "candidate": {"instance_id": candidate}, "metrics": metrics}
    response = lab.api.post(f"{lab.base}/experiments/acceptance", json=body)
    assert response.status_code == 200, response.text
    lab.wait_experiment("edge")
    test = lab.api.get(f"{lab.base}/experiments/acceptance/edge").json()

    assert test["status"] == "completed"
    results = test["results"]
    assert not results.get("error")
    got = [((m["metric"]["params"]["tolerance"]["type"], m["metric"]["params"]["operator"], m["metric"]["field"],
             m["metric"]["statistic"]), m["passed"]) for m in results["metric_results"]]
    assert got == expected
    assert results["passed"] is False  # some metrics fail by design

    first = results["metric_results"][0]["statistics"]
    assert first["control"]["distribution_summary_statistics"]["min"] == CONTROL
    assert first["control"]["distribution_summary_statistics"]["max"] == CONTROL
    assert first["candidate"]["distribution_summary_statistics"]["min"] == BELOW
    assert first["candidate"]["distribution_percentiles"]["p50"] == BOUND
    assert first["candidate"]["distribution_summary_statistics"]["max"] == ABOVE
    assert first["control"]["number_of_runs_total"] == first["candidate"]["number_of_runs_total"] == 3
    assert (first["control"]["instance_id"], first["candidate"]["instance_id"]) == (control, candidate)


def test_acceptance_all_metrics_passing(lab: Lab) -> None:
    """Overall ``passed`` is true only when every metric passes; the test is made on a finished experiment."""
    control, candidate = lab.instance("control"), lab.instance("candidate", scale="0.5")
    input_set = lab.input_set("s", lab.inputs("x", [2.0, 4.0, 8.0]))
    lab.batch("fine", input_set_id=input_set, instance_ids=[candidate, control])
    lab.wait_experiment("fine")
    metric = {"field": "result.value", "metric_type": "direct-comparison", "statistic": "mean",
              "params": {"operator": "lt", "tolerance": {"type": "relative", "value": 0}}}
    body = {"id": "fine", "name": "fine", "control": {"instance_id": control},
            "candidate": {"instance_id": candidate}, "metrics": [metric]}
    test = lab.api.post(f"{lab.base}/experiments/acceptance", json=body).json()
    assert test["status"] == "completed" and test["results"]["passed"] is True
    (result,) = test["results"]["metric_results"]
    assert result["statistics"]["control"]["distribution_summary_statistics"]["mean"] == pytest.approx(14 / 3)
    assert result["statistics"]["candidate"]["distribution_summary_statistics"]["mean"] == pytest.approx(7 / 3)
