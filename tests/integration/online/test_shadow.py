"""Shadow tests end to end: lifecycle, mirroring, baseline first, results (H1–H9)."""

from __future__ import annotations

import statistics
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from integration.experiments.conftest import Lab, ok, wait_for
from runyard.services import online


def shadow(lab: Lab, test_id: str, comparisons: dict[str, list[str]], maximum_runs: int, **extra: Any) -> dict[str, Any]:
    body = {"id": test_id, "name": test_id, "comparisons": comparisons, "termination_events": {"maximum_runs": maximum_runs}, **extra}
    return ok(lab.api.post(f"{lab.base}/experiments/shadow", json=body))


def get(lab: Lab, test_id: str) -> dict[str, Any]:
    return ok(lab.api.get(f"{lab.base}/experiments/shadow/{test_id}"))


def test_two_candidates_and_k_runs_make_exactly_2k_mirrors_then_complete(lab: Lab) -> None:
    base, c1, c2 = lab.instance("base"), lab.instance("double", scale="2"), lab.instance("plus", offset="10")
    created = shadow(lab, "sh", {base: [c1, c2]}, 3)
    assert created["status"] == "draft"
    assert created["comparisons"] == [{"baseline_instance_id": base, "candidate_instance_ids": [c1, c2]}]
    before = lab.submit({"x": 100.0}, base)  # a draft mirrors nothing
    ok(lab.api.put(f"{lab.base}/experiments/shadow/sh/start"), 204)
    assert get(lab, "sh")["status"] == "started"

    xs = [1.0, 2.0, 4.0, 8.0]
    baseline_ids = [lab.submit({"x": x}, base) for x in xs]  # the 4th comes after maximum_runs = 3
    other = lab.submit({"x": 5.0}, c1)  # a run on a candidate instance is not a baseline run
    for run_id in [before, other, *baseline_ids]:
        assert lab.wait_run(run_id)["status_v2"] == "succeeded"
    test = wait_for(lambda: (t := get(lab, "sh"))["status"] == "completed" and t, what="the shadow test to complete")

    runs = ok(lab.api.get(f"{lab.base}/experiments/shadow/sh/runs"))["runs"]
    baselines = [r for r in runs if r["arm"] == "baseline"]
    candidates = [r for r in runs if r["arm"] == "candidate"]
    assert [r["id"] for r in baselines] == baseline_ids[:3]
    assert len(candidates) == 6  # exactly 2k
    assert sorted((r["baseline_run_id"], r["application_instance_id"]) for r in candidates) == sorted(
        (b, c) for b in baseline_ids[:3] for c in (c1, c2))
    assert all(r["status_v2"] == "succeeded" and r["experiment_id"] == "sh" for r in candidates)
    meta = lab.metadata(candidates[0]["id"])
    assert meta["experiment_type"] == "shadow" and meta["routing"]["baseline_run_id"] == candidates[0]["baseline_run_id"]
    assert meta["queuing_priority"] == online.CANDIDATE_PRIORITY

    # the same input went to every arm: each arm's values follow from it
    by_instance = {g["group_values"][0]: g for g in test["grouped_distributional_summaries"]}
    expect = {base: [1.0, 2.0, 4.0], c1: [2.0, 4.0, 8.0], c2: [11.0, 12.0, 14.0]}
    for instance_id, values in expect.items():
        dist = by_instance[instance_id]["indicator_distributions"]["result.value"]
        assert dist["count"] == 3 and dist["mean"] == pytest.approx(statistics.fmean(values))
        assert dist["std"] == pytest.approx(statistics.stdev(values))
    assert test["number_of_baseline_runs"] == 3 and test["number_of_candidate_runs"] == 6
    meta = ok(lab.api.get(f"{lab.base}/experiments/shadow/sh/metadata"))
    assert meta["status"] == "completed" and meta["completed_at"]
    assert lab.api.put(f"{lab.base}/experiments/shadow/sh/start").status_code == 409  # an ended test stays ended


def test_cancel_stops_pending_candidates_and_keeps_production_runs(lab: Lab) -> None:
    base, cand = lab.instance("base"), lab.instance("cand")
    shadow(lab, "sh", {base: [cand]}, 10)
    ok(lab.api.put(f"{lab.base}/experiments/shadow/sh/start"), 204)
    slow = [lab.submit({"x": 1.0, "sleep": 30}, base) for _ in range(3)]  # concurrency 2: the candidates wait
    ok(lab.api.put(f"{lab.base}/experiments/shadow/sh/stop", json={"intent": "cancel"}), 204)
    runs = ok(lab.api.get(f"{lab.base}/experiments/shadow/sh/runs"))["runs"]
    candidates = [r["id"] for r in runs if r["arm"] == "candidate"]
    assert len(candidates) == 3
    for run_id in candidates:
        assert lab.wait_run(run_id)["status_v2"] == "canceled"
    assert get(lab, "sh")["status"] == "canceled"
    assert all(lab.metadata(r)["status_v2"] in ("queued", "running") for r in slow)  # production goes on
    for run_id in slow:
        ok(lab.api.patch(f"{lab.base}/runs/{run_id}/cancel"))
    assert lab.api.put(f"{lab.base}/experiments/shadow/sh/stop", json={"intent": "complete"}).status_code == 409


def test_start_and_end_follow_the_clock(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    base, cand = lab.instance("base"), lab.instance("cand")
    t0 = datetime(2030, 1, 1, tzinfo=UTC)
    now = [t0]
    monkeypatch.setattr(online, "clock", lambda: now[0])
    shadow(lab, "timed", {base: [cand]}, 50, start_events={"time": "2030-01-01T01:00:00Z"},
           termination_events={"maximum_runs": 50, "time": "2030-01-01T02:00:00Z"})
    lab.submit({"x": 1.0}, base)
    assert get(lab, "timed")["status"] == "draft"
    now[0] = t0 + timedelta(hours=1)
    inside = lab.submit({"x": 2.0}, base)
    assert get(lab, "timed")["status"] == "started"
    now[0] = t0 + timedelta(hours=2, seconds=1)
    lab.submit({"x": 3.0}, base)
    runs = ok(lab.api.get(f"{lab.base}/experiments/shadow/timed/runs"))["runs"]
    assert [r["id"] for r in runs if r["arm"] == "baseline"] == [inside]
    wait_for(lambda: get(lab, "timed")["status"] == "completed", what="the window to close")


def test_bad_input_is_a_clear_4xx(lab: Lab) -> None:
    base = lab.instance("base")
    url = f"{lab.base}/experiments/shadow"
    cases = [
        ({"comparisons": {base: ["nope"]}, "termination_events": {"maximum_runs": 3}}, 404, "nope"),
        ({"comparisons": {base: [base]}, "termination_events": {"maximum_runs": 3}}, 400, "own candidate"),
        ({"comparisons": {base: ["x"]}, "termination_events": {"maximum_runs": 301}}, 400, "maximum_runs"),
        ({"comparisons": {base: ["x"]}}, 400, "maximum_runs"),
        ({"comparisons": "x", "termination_events": {"maximum_runs": 3}}, 400, "comparisons"),
    ]
    for body, status, words in cases:
        response = lab.api.post(url, json=body)
        assert response.status_code == status and words in response.text, response.text
    assert lab.api.get(f"{url}/missing").status_code == 404
    shadow(lab, "s1", {base: [lab.instance("c")]}, 2)
    assert lab.api.put(f"{url}/s1/stop", json={"intent": "pause"}).status_code == 400


def test_the_analysis_pairs_each_candidate_run_with_the_baseline_run_it_mirrors(lab: Lab) -> None:
    from scipy import stats as sps

    base, cand = lab.instance("base"), lab.instance("plus", offset="0.5")
    shadow(lab, "an", {base: [cand]}, 8)
    ok(lab.api.put(f"{lab.base}/experiments/shadow/an/start"), 204)
    xs = [1.0, 7.0, 3.0, 9.0, 2.0, 8.0, 4.0, 6.0]
    for run_id in [lab.submit({"x": x}, base) for x in xs]:
        lab.wait_run(run_id)
    wait_for(lambda: get(lab, "an")["status"] == "completed", what="the shadow test to complete")
    out = ok(lab.api.get(f"{lab.base}/experiments/shadow/an/analysis"))
    (comparison,) = out["comparisons"]
    assert (comparison["baseline_instance_id"], comparison["candidate_instance_id"]) == (base, cand)
    value = comparison["metrics"]["result.value"]
    assert value["n"] == 8 and value["mean_difference"] == pytest.approx(0.5) and value["median_difference"] == pytest.approx(0.5)
    assert value["p_value"] == pytest.approx(sps.wilcoxon([0.5] * 8).pvalue)  # every pair differs by the offset
    assert value["verdict"] == "candidate higher" and value["ci95"] == pytest.approx([0.5, 0.5])
    down = comparison["metrics"]["result.down"]
    assert down["verdict"] == "candidate lower"
    assert lab.api.get(f"{lab.base}/experiments/shadow/missing/analysis").status_code == 404
