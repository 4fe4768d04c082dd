"""Ensemble definitions (N1–N5) and ensemble runs: fan-out, the winner by the rules, failure and cancel."""

from __future__ import annotations

import math
from typing import Any

import pytest

from integration.conftest import Api
from integration.experiments.conftest import ok, wait_for
from runyard.domain.online import choose_winner, rule_from

ENSEMBLE_MAIN = r'''
import json, sys, time
argv, opts = sys.argv[1:], {}
for i in range(0, len(argv) - 1, 2):
    opts[argv[i].lstrip("-")] = argv[i + 1]
doc = json.load(sys.stdin)
time.sleep(float(opts.get("sleep", 0)))
if opts.get("fail"):
    print("child failed: " + opts["fail"], file=sys.stderr)
    sys.exit(3)
a, b = float(opts.get("a", 0)), float(opts.get("b", 0))
json.dump({"solution": {"a": a, "b": b, "seen": doc}, "statistics": {"result": {"value": a, "b": b}}}, sys.stdout)
'''
ENSEMBLE_APP = {"app.yaml": "type: python\nruntime: ghcr.io/nextmv-io/runtime/python:3.11\nfiles: [main.py]\n",
                "main.py": ENSEMBLE_MAIN}
TERMINAL = ("succeeded", "failed", "canceled")


class Ens:
    def __init__(self, api: Api) -> None:
        self.api, self.base = api, "/v1/applications/ens"
        ok(api.post("/v1/applications", json={"id": "ens", "name": "ens"}))
        ok(api.push("ens", ENSEMBLE_APP))
        ok(api.post(f"{self.base}/versions", json={"id": "v1", "name": "v1"}))
        for name in ("i1", "i2"):
            ok(api.post(f"{self.base}/instances", json={"id": name, "name": name, "version_id": "v1"}))

    def define(self, def_id: str, groups: list[dict[str, Any]], rules: list[dict[str, Any]]) -> dict[str, Any]:
        body = {"id": def_id, "name": def_id, "description": def_id, "run_groups": groups, "rules": rules}
        return ok(self.api.post(f"{self.base}/ensembles", json=body))

    def run(self, def_id: str, data: Any = None) -> str:
        body = {"input": data or {"k": 1}, "configuration": {"run_type": {"type": "ensemble", "definition_id": def_id}}}
        return ok(self.api.post(f"{self.base}/runs", json=body))["run_id"]

    def wait(self, run_id: str) -> dict[str, Any]:
        def ended() -> Any:
            meta = ok(self.api.get(f"{self.base}/runs/{run_id}/metadata"))
            return meta if meta["metadata"]["status_v2"] in TERMINAL else None

        return wait_for(ended, what=f"ensemble run {run_id}", timeout=180)


@pytest.fixture
def ens(start_server: Any) -> Ens:
    return Ens(start_server(concurrency=3))


def group(gid: str, instance: str = "i1", reps: int = 0, **options: Any) -> dict[str, Any]:
    return {"id": gid, "instance_id": instance, "repetitions": reps, "options": {k: str(v) for k, v in options.items()}}


def rule(rid: str, index: int, objective: str, value: float, kind: str = "absolute", path: str = "$.result.value") -> dict[str, Any]:
    return {"id": rid, "statistics_path": path, "objective": objective, "tolerance": {"value": value, "type": kind}, "index": index}


def test_the_winner_is_the_hand_computed_child_with_ties_broken_by_the_second_rule(ens: Ens) -> None:
    groups = [group("A", a=10, b=5), group("B", "i2", a=9.5, b=1), group("C", a=8, b=0), group("D", reps=1, a=10, b=7)]
    rules = [rule("cost", 0, "maximize", 0.5), rule("speed", 1, "minimize", 0.0, path="$.result.b")]
    defined = ens.define("pick", groups, list(reversed(rules)))  # index, not list order, decides
    assert [r["index"] for r in defined["rules"]] == [0, 1] and defined["application_id"] == "ens"
    run_id = ens.run("pick", {"k": 42})
    info = ens.wait(run_id)
    assert info["metadata"]["status_v2"] == "succeeded"
    assert info["metadata"]["run_type"] == {"type": "ensemble", "definition_id": "pick"}

    detail = ok(ens.api.get(f"{ens.base}/runs/{run_id}/ensemble"))
    children = detail["child_runs"]
    assert [(c["run_group_id"], c["repetition"]) for c in children] == [("A", 0), ("B", 0), ("C", 0), ("D", 0), ("D", 1)]
    # by hand: "cost" keeps a within 0.5 of the best 10 (A, B, D, D); "speed" keeps the least b (B)
    by_group = {c["run_group_id"]: c["id"] for c in children}
    first, second = detail["rule_evaluations"]
    assert first["rule_id"] == "cost" and first["best"] == 10.0
    assert sorted(first["kept"]) == sorted([by_group["A"], by_group["B"], *[c["id"] for c in children if c["run_group_id"] == "D"]])
    assert second["rule_id"] == "speed" and second["kept"] == [by_group["B"]]
    assert detail["winner_run_id"] == by_group["B"]
    result = ok(ens.api.get(f"{ens.base}/runs/{run_id}"))
    assert result["output"]["solution"] == {"a": 9.5, "b": 1.0, "seen": {"k": 42}}  # the winner's output, same input
    child_meta = ok(ens.api.get(f"{ens.base}/runs/{by_group['C']}/metadata"))["metadata"]
    assert child_meta["run_type"] == {"type": "ensemble-child", "reference_id": run_id}


def test_when_every_child_fails_the_ensemble_fails_with_their_errors(ens: Ens) -> None:
    ens.define("bad", [group("x", fail="one"), group("y", "i2", fail="two")], [rule("r", 0, "minimize", 0)])
    run_id = ens.run("bad")
    meta = ens.wait(run_id)["metadata"]
    assert meta["status_v2"] == "failed"
    detail = ok(ens.api.get(f"{ens.base}/runs/{run_id}/ensemble"))
    for child in detail["child_runs"]:
        assert child["id"] in meta["error"] and child["status_v2"] == "failed"
    assert detail["winner_run_id"] is None


def test_one_success_is_enough(ens: Ens) -> None:
    ens.define("mixed", [group("x", fail="one"), group("y", a=3)], [rule("r", 0, "minimize", 0)])
    run_id = ens.run("mixed")
    assert ens.wait(run_id)["metadata"]["status_v2"] == "succeeded"
    assert ok(ens.api.get(f"{ens.base}/runs/{run_id}"))["output"]["solution"]["a"] == 3.0


def test_cancelling_the_ensemble_run_cancels_its_children(ens: Ens) -> None:
    ens.define("slow", [group("x", reps=3, sleep=60, a=1)], [])
    run_id = ens.run("slow")
    detail = ok(ens.api.get(f"{ens.base}/runs/{run_id}/ensemble"))
    assert len(detail["child_runs"]) == 4 and detail["status_v2"] == "running"
    ok(ens.api.patch(f"{ens.base}/runs/{run_id}/cancel"))
    assert ens.wait(run_id)["metadata"]["status_v2"] == "canceled"
    for child in ok(ens.api.get(f"{ens.base}/runs/{run_id}/ensemble"))["child_runs"]:
        assert child["status_v2"] == "canceled"


def test_definitions_crud_and_bad_input(ens: Ens) -> None:
    url = f"{ens.base}/ensembles"
    ens.define("d1", [group("g")], [rule("r", 0, "maximize", 0.1, "relative")])
    assert [d["id"] for d in ok(ens.api.get(url))["items"]] == ["d1"]
    assert ok(ens.api.patch(f"{url}/d1", json={"name": "renamed"}))["name"] == "renamed"
    assert ok(ens.api.get(f"{url}/d1"))["description"] == "d1"
    bad = [
        ({"run_groups": [], "rules": []}, 400, "run_groups"),
        ({"run_groups": [group("g", "nope")], "rules": []}, 404, "nope"),
        ({"run_groups": [group("g")], "rules": [rule("r", 0, "best", 1)]}, 400, "objective"),
        ({"run_groups": [group("g")], "rules": [rule("r", 0, "maximize", 1, "percent")]}, 400, "tolerance"),
        ({"run_groups": [group("g"), group("g")], "rules": []}, 400, "twice"),
        ({"id": "d1", "run_groups": [group("g")], "rules": []}, 409, "d1"),
    ]
    for body, status, words in bad:
        response = ens.api.post(url, json=body)
        assert response.status_code == status and words in response.text, response.text
    ok(ens.api.delete(f"{url}/d1"), 204)
    assert ens.api.get(f"{url}/d1").status_code == 404
    response = ens.api.post(f"{ens.base}/runs", json={"input": {}, "configuration": {"run_type": {"type": "ensemble", "definition_id": "d1"}}})
    assert response.status_code == 404 and "d1" in response.text


def test_an_unknown_run_type_is_refused_by_name(ens: Ens) -> None:
    body = {"input": {}, "configuration": {"run_type": {"type": "quantum"}}}
    response = ens.api.post(f"{ens.base}/runs", json=body, params={"instance_id": "i1"})
    assert response.status_code == 400 and "quantum" in response.text
    assert ok(ens.api.get(f"{ens.base}/runs"))["runs"] == []


@pytest.mark.parametrize("kind,best", [("absolute", 10.0), ("relative", 10.0), ("relative", -10.0)])
def test_tolerance_flips_exactly_at_its_boundary(kind: str, best: float) -> None:
    tol = 0.5 if kind == "absolute" else 0.05
    edge = best - (tol if kind == "absolute" else tol * abs(best))  # maximize: the lowest value still kept
    r = rule_from(rule("r", 0, "maximize", tol, kind))
    inside = [{"id": "best", "status": "succeeded", "statistics": {"result": {"value": best}}},
              {"id": "edge", "status": "succeeded", "statistics": {"result": {"value": edge}}}]
    _, (ev,) = choose_winner([r], inside)
    assert ev["kept"] == ["best", "edge"]
    below = [inside[0], {"id": "edge", "status": "succeeded", "statistics": {"result": {"value": math.nextafter(edge, -math.inf)}}}]
    _, (ev,) = choose_winner([r], below)
    assert ev["kept"] == ["best"]
    # minimize mirrors it
    m = rule_from(rule("m", 0, "minimize", tol, kind))
    top = -best + (tol if kind == "absolute" else tol * abs(best))
    for value, kept in ((top, ["best", "edge"]), (math.nextafter(top, math.inf), ["best"])):
        _, (ev,) = choose_winner([m], [{"id": "best", "status": "succeeded", "statistics": {"result": {"value": -best}}},
                                       {"id": "edge", "status": "succeeded", "statistics": {"result": {"value": value}}}])
        assert ev["kept"] == kept


def test_the_first_child_left_wins_and_failed_children_never_do() -> None:
    r = rule_from(rule("r", 0, "minimize", 1.0))
    kids = [{"id": "f", "status": "failed", "statistics": None},
            {"id": "a", "status": "succeeded", "statistics": {"result": {"value": 2.0}}},
            {"id": "b", "status": "succeeded", "statistics": {"result": {"value": 1.0}}}]
    assert choose_winner([r], kids)[0] == "a"
    assert choose_winner([], kids)[0] == "a"
    assert choose_winner([r], kids[:1])[0] is None


def test_an_ensemble_whose_children_ended_without_a_report_ends_when_read(ens: Ens) -> None:
    from sqlalchemy import update

    from runyard.storage.db import Run

    ens.define("lost", [group("x", sleep=60, a=1)], [])
    run_id = ens.run("lost")
    (child,) = ok(ens.api.get(f"{ens.base}/runs/{run_id}/ensemble"))["child_runs"]
    platform = ens.api.client.app.state.platform
    with platform.db.session() as s:  # as recovery fails a lost worker's run: a transition, not a report
        s.execute(update(Run).where(Run.id == child["id"]).values(status="failed", error="worker lost", cancel_requested=True))
    detail = ok(ens.api.get(f"{ens.base}/runs/{run_id}/ensemble"))
    assert detail["status_v2"] == "failed"
    assert "worker lost" in ok(ens.api.get(f"{ens.base}/runs/{run_id}/metadata"))["metadata"]["error"]
