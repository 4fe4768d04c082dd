"""Switchback tests end to end: the random plan, routing by the current unit, results (W1–W9)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from integration.experiments.conftest import Lab, ok
from runyard.domain.online import random_plan
from runyard.services import online

T0 = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)


def switchback(lab: Lab, test_id: str, base: str, cand: str, units: int, minutes: float, **plan: Any) -> dict[str, Any]:
    body = {"id": test_id, "name": test_id, "comparison": {"baseline_instance_id": base, "candidate_instance_id": cand},
            "generate_random_plan": {"unit_duration_minutes": minutes, "units": units, **plan}}
    return ok(lab.api.post(f"{lab.base}/experiments/switchback", json=body))


def get(lab: Lab, test_id: str) -> dict[str, Any]:
    return ok(lab.api.get(f"{lab.base}/experiments/switchback/{test_id}"))


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[datetime]:
    now = [T0]
    monkeypatch.setattr(online, "clock", lambda: now[0])
    return now


@pytest.mark.parametrize("units", [1, 7, 24, 1000])
def test_the_plan_is_balanced_within_one_unit_shuffled_and_reproducible(units: int) -> None:
    plan = random_plan("a", "b", units=units, unit_minutes=15, seed=1234)
    counts = Counter(u["instance_id"] for u in plan)
    assert abs(counts["a"] - counts["b"]) <= 1 and sum(counts.values()) == units
    assert [u["index"] for u in plan] == list(range(units))
    assert plan == random_plan("a", "b", units=units, unit_minutes=15, seed=1234)
    if units >= 24:  # not the same sequence for every seed: the order is shuffled
        assert len({tuple(u["instance_id"] for u in random_plan("a", "b", units=units, unit_minutes=1, seed=s))
                    for s in range(20)}) > 1


def test_every_run_goes_to_the_instance_its_unit_names(lab: Lab, clock: list[datetime]) -> None:
    base, cand, other = lab.instance("base"), lab.instance("cand", offset="100"), lab.instance("other")
    created = switchback(lab, "sw", base, cand, 6, 10, start="2030-06-01T13:00:00+00:00")
    plan = created["plan"]
    assert created["status"] == "draft" and len(plan["units"]) == 6 and isinstance(plan["seed"], int)
    assert plan["units"] == random_plan(base, cand, units=6, unit_minutes=10, seed=plan["seed"])  # reproducible from the seed
    assert Counter(u["instance_id"] for u in plan["units"]) == {base: 3, cand: 3}
    early = lab.submit({"x": 1.0}, base)  # before the plan starts: untouched
    ok(lab.api.put(f"{lab.base}/experiments/switchback/sw/start"), 204)
    assert get(lab, "sw")["status"] == "started"

    placed = []
    for unit in plan["units"]:
        for minute in (0, 5, 9):
            clock[0] = datetime(2030, 6, 1, 13, 0, tzinfo=UTC) + timedelta(minutes=10 * unit["index"] + minute, seconds=30)
            run_id = lab.submit({"x": float(unit["index"])}, base)
            placed.append((run_id, unit))
    untouched = lab.submit({"x": 1.0}, other)
    for run_id, unit in placed:
        meta = lab.metadata(run_id)
        assert meta["application_instance_id"] == unit["instance_id"]
        assert meta["routing"]["switchback_test_id"] == "sw" and meta["routing"]["unit_index"] == unit["index"]
        assert meta["routing"]["requested_instance_id"] == base and meta["experiment_type"] == "switchback"
    for run_id in (early, untouched):
        meta = lab.metadata(run_id)
        assert "routing" not in meta and meta["application_instance_id"] in (base, other)

    for run_id, _ in placed:
        assert lab.wait_run(run_id)["status_v2"] == "succeeded"
    clock[0] = datetime(2030, 6, 1, 14, 0, 1, tzinfo=UTC)  # after the last unit
    test = get(lab, "sw")
    assert test["status"] == "completed"
    after = lab.submit({"x": 1.0}, base)
    assert lab.metadata(after)["application_instance_id"] == base

    runs = ok(lab.api.get(f"{lab.base}/experiments/switchback/sw/runs"))["runs"]
    assert sorted(r["id"] for r in runs) == sorted(r for r, _ in placed)
    assert all(r["arm"] == ("baseline" if r["application_instance_id"] == base else "candidate") for r in runs)
    arms = {g["group_values"][0]: g for g in test["grouped_distributional_summaries"]}
    for instance_id, offset in ((base, 0.0), (cand, 100.0)):
        values = [float(u["index"]) + offset for _, u in placed if u["instance_id"] == instance_id]
        dist = arms[instance_id]["indicator_distributions"]["result.value"]
        assert dist["count"] == 9 and dist["mean"] == pytest.approx(sum(values) / len(values))
    units = {int(g["group_values"][0]): g for g in test["unit_summaries"]}
    assert sorted(units) == list(range(6)) and all(g["number_of_runs_total"] == 3 for g in units.values())

    # the unit is the sample: 3 units an arm cannot tell, however large the difference
    (comparison,) = ok(lab.api.get(f"{lab.base}/experiments/switchback/sw/analysis"))["comparisons"]
    value = comparison["metrics"]["result.value"]
    assert (value["n_baseline"], value["n_candidate"]) == (3, 3) and value["verdict"] == "not enough runs"
    unit_means = {u["index"]: float(u["index"]) + (100.0 if u["instance_id"] == cand else 0.0) for u in plan["units"]}
    base_units = [unit_means[u["index"]] for u in plan["units"] if u["instance_id"] == base]
    cand_units = [unit_means[u["index"]] for u in plan["units"] if u["instance_id"] == cand]
    assert value["mean_difference"] == pytest.approx(sum(cand_units) / 3 - sum(base_units) / 3)
    assert value["p_value"] == pytest.approx(0.1)  # Mann-Whitney's smallest two-sided p for 3 and 3
    assert value["seed"] == plan["seed"]


def test_the_plan_starts_when_the_test_starts_and_stop_ends_it(lab: Lab, clock: list[datetime]) -> None:
    base, cand = lab.instance("base"), lab.instance("cand")
    assert switchback(lab, "sw", base, cand, 2, 60)["plan"]["start"] is None
    ok(lab.api.put(f"{lab.base}/experiments/switchback/sw/start"), 204)
    test = get(lab, "sw")
    assert datetime.fromisoformat(test["plan"]["start"]) == T0 and test["started_at"]
    first = test["plan"]["units"][0]["instance_id"]
    assert lab.metadata(lab.submit({"x": 1.0}, base))["application_instance_id"] == first
    ok(lab.api.put(f"{lab.base}/experiments/switchback/sw/stop", json={"intent": "complete"}), 204)
    assert get(lab, "sw")["status"] == "completed"
    assert lab.metadata(lab.submit({"x": 1.0}, base))["application_instance_id"] == base
    listed = ok(lab.api.get(f"{lab.base}/experiments/switchback"))
    assert [t["id"] for t in listed["items"]] == ["sw"]  # an object even unpaginated (spec W1)
    ok(lab.api.patch(f"{lab.base}/experiments/switchback/sw", json={"name": "renamed"}))
    assert get(lab, "sw")["name"] == "renamed"
    ok(lab.api.delete(f"{lab.base}/experiments/switchback/sw"), 204)
    assert lab.api.get(f"{lab.base}/experiments/switchback/sw").status_code == 404


def test_bad_plans_are_refused(lab: Lab) -> None:
    base, cand = lab.instance("base"), lab.instance("cand")
    for plan, words in (({"units": 0, "unit_duration_minutes": 5}, "units"),
                        ({"units": 3, "unit_duration_minutes": 0.5}, "unit_duration_minutes"),
                        ({"units": 3}, "unit_duration_minutes"),
                        ({"units": 3, "unit_duration_minutes": 5, "start": "soon"}, "start")):
        body = {"comparison": {"baseline_instance_id": base, "candidate_instance_id": cand}, "generate_random_plan": plan}
        response = lab.api.post(f"{lab.base}/experiments/switchback", json=body)
        assert response.status_code == 400 and words in response.text, response.text
    body = {"comparison": {"baseline_instance_id": base, "candidate_instance_id": base},
            "generate_random_plan": {"units": 3, "unit_duration_minutes": 5}}
    assert lab.api.post(f"{lab.base}/experiments/switchback", json=body).status_code == 400
