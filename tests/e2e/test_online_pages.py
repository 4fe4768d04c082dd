"""Shadow tests, switchback tests (the plan as a timeline) and ensembles (definition, an ensemble run's
children and the rule that chose the winner), on apps pushed with the official nextmv 1.13.0 SDK and
tests created through the public API."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from compat.harness import SdkRunner

from . import builders
from .conftest import ConsoleServer

TERMINAL = ("succeeded", "failed", "canceled")


def cells(row: Any) -> list[str]:
    row.wait_for()
    return [c.inner_text().strip() for c in row.get_by_role("cell").all()]


def ok(response: Any) -> Any:
    assert response.status_code in (200, 201, 204), response.text
    return response.json() if response.content else None


def wait_runs(server: Any, app_id: str, run_ids: list[str], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    for run_id in run_ids:
        while ok(server.api("GET", f"v1/applications/{app_id}/runs/{run_id}/metadata"))["metadata"]["status_v2"] not in TERMINAL:
            assert time.monotonic() < deadline, f"run {run_id} did not end"
            time.sleep(0.1)


@pytest.fixture(scope="module")
def apps(console_server: ConsoleServer, sdk113_venv_e2e: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = {}
    for name in ("shadow", "switchback", "ensemble"):
        work = tmp_path_factory.mktemp(f"online-{name}")
        out[name] = builders.deployed_app(SdkRunner("1.13.0", sdk113_venv_e2e, console_server.server, work), work)
    return out


def test_shadow_test_page(page: Any, console_server: ConsoleServer, apps: dict[str, Any], shot: Any, axe: Any) -> None:
    server, a = console_server.server, apps["shadow"]
    app_id, path = a["app_id"], f"v1/applications/{a['app_id']}/experiments/shadow"
    ok(server.api("POST", path, json={"id": f"{app_id}-sh", "name": "shadow the candidate", "comparisons": {a["base"]: [a["cand"]]},
                                      "termination_events": {"maximum_runs": 6}}))
    page.goto(f"/app/{app_id}/experiments/shadow/{app_id}-sh")
    page.get_by_role("heading", name="shadow the candidate", level=1).wait_for()
    assert "draft" in page.locator(".page-head").inner_text()
    page.get_by_role("button", name="Start").click()  # an operator's action, with the CSRF token
    page.locator(".page-head [data-status='started']").wait_for()
    runs = [ok(server.api("POST", f"v1/applications/{app_id}/runs", params={"instance_id": a["base"]},
                          json={"input": {"x": x}}))["run_id"] for x in range(1, 7)]
    wait_runs(server, app_id, runs)
    table = page.get_by_role("table", name="Runs of the test")
    table.locator("tbody tr").nth(11).wait_for()  # six baseline runs and their six shadows, without a reload
    wait_runs(server, app_id, [r["id"] for r in ok(server.api("GET", f"{path}/{app_id}-sh/runs"))["runs"]])
    page.reload()
    table.locator("tbody tr").nth(11).wait_for()
    arms = [cells(r)[1] for r in table.locator("tbody tr").all()]
    assert sorted(arms) == ["baseline"] * 6 + ["candidate"] * 6
    summary = page.get_by_role("table", name="Summary per instance and metric")
    row = summary.get_by_role("row").filter(has_text=a["cand"]).filter(has_text="result.value")
    assert cells(row)[3] == "7"  # candidate: x = 1..6, doubled: mean 7
    analysis = page.get_by_role("table", name="Candidate against baseline, per metric")
    value_row = analysis.get_by_role("row").filter(has_text="result.value").first
    assert cells(value_row)[4:6] == ["6", "3.5"]  # six pairs; mean difference 3.5
    assert "candidate higher" in cells(value_row)[-1]
    axe(page, context="shadow test page")
    shot(page, "shadow")
    assert page.errors == []


def test_switchback_test_page_draws_the_plan(page: Any, console_server: ConsoleServer, apps: dict[str, Any], shot: Any, axe: Any) -> None:
    server, a = console_server.server, apps["switchback"]
    app_id = a["app_id"]
    test = ok(server.api("POST", f"v1/applications/{app_id}/experiments/switchback", json={
        "id": f"{app_id}-sw", "name": "alternate hourly",
        "comparison": {"baseline_instance_id": a["base"], "candidate_instance_id": a["cand"]},
        "generate_random_plan": {"unit_duration_minutes": 60, "units": 12, "start": "2030-01-01T00:00:00Z", "seed": 7}}))
    units = test["plan"]["units"]
    page.goto(f"/app/{app_id}/experiments/switchback/{app_id}-sw")
    page.get_by_role("heading", name="alternate hourly", level=1).wait_for()
    timeline = page.get_by_role("img", name=re.compile("^Switchback plan: 12 units over 720 minutes"))
    timeline.wait_for()
    blocks = page.locator("svg.plan-timeline g.unit")
    assert blocks.count() == 12
    want = ["candidate" if u["instance_id"] == a["cand"] else "baseline" for u in sorted(units, key=lambda u: u["index"])]
    assert [blocks.nth(i).get_attribute("data-arm") for i in range(12)] == want
    assert [blocks.nth(i).locator("text").text_content() for i in range(12)] == ["C" if w == "candidate" else "B" for w in want]
    assert f"{want.count('baseline')} baseline (B), {want.count('candidate')} candidate (C)" in timeline.get_attribute("aria-label")
    assert "B = baseline" in page.locator("svg.plan-timeline").text_content()
    fills = {blocks.nth(i).get_attribute("data-arm"): blocks.nth(i).locator("rect").evaluate("r => getComputedStyle(r).fill") for i in range(12)}
    assert fills["baseline"] != fills["candidate"]  # coloured by arm, and labelled B / C as well
    axe(page, context="switchback test page")
    shot(page, "switchback")
    assert page.errors == []


def test_ensemble_definition_and_run_show_the_winner_and_its_rule(page: Any, console_server: ConsoleServer, apps: dict[str, Any],
                                                                  shot: Any, axe: Any) -> None:
    server, a = console_server.server, apps["ensemble"]
    app_id = a["app_id"]
    ok(server.api("POST", f"v1/applications/{app_id}/ensembles", json={
        "id": f"{app_id}-ens", "name": "smallest value wins", "description": "",
        "run_groups": [{"id": "g-base", "instance_id": a["base"]}, {"id": "g-cand", "instance_id": a["cand"], "repetitions": 1}],
        "rules": [{"id": "lowest", "statistics_path": "$.result.value", "objective": "minimize",
                   "tolerance": {"value": 0, "type": "absolute"}, "index": 0}]}))
    run_id = ok(server.api("POST", f"v1/applications/{app_id}/runs", json={
        "input": {"x": 2}, "configuration": {"run_type": {"type": "ensemble", "definition_id": f"{app_id}-ens"}}}))["run_id"]
    wait_runs(server, app_id, [run_id])
    page.goto(f"/app/{app_id}/experiments?tab=ensembles")
    page.get_by_role("tabpanel").get_by_role("link", name="smallest value wins").click()
    page.get_by_role("heading", name="smallest value wins", level=1).wait_for()
    groups = page.get_by_role("table", name=re.compile("^Run groups"))
    assert [cells(r)[0] for r in groups.locator("tbody tr").all()] == ["g-base", "g-cand"]
    rules = page.get_by_role("table", name="Evaluation rules, applied in order")
    assert cells(rules.locator("tbody tr").first) == ["0", "lowest", "$.result.value", "minimize", "0 absolute"]
    page.get_by_role("table", name="Ensemble runs of this definition").get_by_role("link", name=run_id).click()
    page.get_by_role("heading", name=f"Ensemble run {run_id}", level=1).wait_for()
    children = page.get_by_role("table", name="Child runs and their value under each rule")
    rows = children.locator("tbody tr")
    assert rows.count() == 3  # one baseline child, two candidate repetitions
    winner = children.get_by_role("row").filter(has_text="★ winner")
    assert cells(winner)[1] == "g-base" and cells(winner)[5].startswith("2")
    assert "(kept)" in cells(winner)[5]
    assert "The winner was chosen by rule lowest: minimize $.result.value (best 2" in page.get_by_role("status").first.inner_text()
    axe(page, context="ensemble run page")
    shot(page, "ensemble-run")
    assert page.errors == []


def test_a_viewer_cannot_start_a_test_on_the_page_or_through_the_api(viewer_page: Any, console_server: ConsoleServer,
                                                                      apps: dict[str, Any], shot: Any) -> None:
    a = apps["switchback"]
    app_id = a["app_id"]
    ok(console_server.server.api("POST", f"v1/applications/{app_id}/experiments/switchback", json={
        "id": f"{app_id}-sw2", "name": "viewer looks", "generate_random_plan": {"unit_duration_minutes": 30, "units": 4},
        "comparison": {"baseline_instance_id": a["base"], "candidate_instance_id": a["cand"]}}))
    page = viewer_page
    page.goto(f"/app/{app_id}/experiments/switchback/{app_id}-sw2")
    page.get_by_role("heading", name="viewer looks", level=1).wait_for()
    page.locator("svg.plan-timeline").wait_for()
    assert page.get_by_role("button", name="Start").count() == 0
    status = page.evaluate("""async (path) => {
        const s = await (await fetch('/v1/console/session')).json();
        return (await fetch(path, {method: 'PUT', headers: {'X-CSRF-Token': s.csrf_token}})).status;
    }""", f"/v1/applications/{app_id}/experiments/switchback/{app_id}-sw2/start")
    assert status == 403
    shot(page, "switchback-viewer")
    assert page.errors == []
