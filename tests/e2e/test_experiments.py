"""The experiment pages, on data made with the official nextmv 1.13.0 SDK: a batch experiment (one box
per instance), an acceptance test (each metric's verdict), a scenario test (the scenarios × metrics
grid), the experiments index and input sets with managed inputs (download included)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from compat.harness import SdkRunner

from . import builders
from .conftest import ConsoleServer


@pytest.fixture(scope="module")
def data(console_server: ConsoleServer, sdk113_venv_e2e: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    work = tmp_path_factory.mktemp("experiments-data")
    sdk = SdkRunner("1.13.0", sdk113_venv_e2e, console_server.server, work)
    out = builders.experiments(sdk, work)
    assert out["batch_status"].lower().endswith("completed"), out
    return out


def cells(row: Any) -> list[str]:
    row.wait_for()
    return [c.inner_text().strip() for c in row.get_by_role("cell").all()]


def row_with(table: Any, text: str) -> Any:
    return table.get_by_role("row").filter(has_text=text).first


def test_batch_experiment_shows_one_box_per_instance_a_summary_and_its_runs(page: Any, data: dict[str, Any], shot: Any, axe: Any) -> None:
    app, base, cand = data["app_id"], data["base"], data["cand"]
    page.goto(f"/app/{app}/experiments")
    page.get_by_role("heading", name="Experiments", level=1).wait_for()
    page.get_by_role("link", name="baseline vs candidate").click()
    page.wait_for_url(f"**/app/{app}/experiments/batch/{data['batch']}")
    page.get_by_role("heading", name="baseline vs candidate", level=1).wait_for()
    assert page.title() == f"Batch experiment {data['batch']} · Runyard"
    assert "completed" in page.locator(".page-head").inner_text()
    assert "10 of 10 ended · 10 succeeded · 0 failed" in page.locator(".card").first.inner_text()

    figure = page.get_by_role("img", name=re.compile("result.value: distribution per instance"))
    figure.wait_for()
    boxes = page.locator("svg.box-plot g.box")
    assert boxes.count() == 2  # one box per instance
    assert sorted(boxes.nth(i).get_attribute("data-label") for i in range(2)) == sorted([base, cand])
    # The text alternative names each box's median: x = 1..5 gives 3 (baseline) and 6 (candidate, scale 2).
    caption = page.locator("figure.chart-figure figcaption").first.text_content()
    assert f"{base}: median 3" in caption and f"{cand}: median 6" in caption

    summary = page.get_by_role("table", name="Summary of result.value")
    headers = [h.inner_text() for h in summary.get_by_role("columnheader").all()]
    assert headers == ["Instance", "Version", "Option set", "Runs (succeeded / total)", "Mean", "Median", "p90", "Min", "Max", "Count"]
    assert cells(row_with(summary, base)) == [base, data["v1"], "—", "5 / 5", "3", "3", "4.6", "1", "5", "5"]
    assert cells(row_with(summary, cand)) == [cand, data["v2"], "—", "5 / 5", "6", "6", "9.2", "2", "10", "5"]
    assert summary.locator("td.num").first.evaluate("td => getComputedStyle(td).textAlign") == "right"

    runs = page.get_by_role("table", name=re.compile("^Runs of baseline vs candidate"))
    runs.get_by_role("row").nth(10).wait_for()
    assert runs.get_by_role("row").count() == 11  # header + 10 runs
    first = runs.get_by_role("link").first
    href = first.get_attribute("href")
    assert re.fullmatch(rf"/app/{app}/run/[^/?]+\?view=details", href), href
    axe(page, context="batch experiment page")
    shot(page, "batch")

    # Keyboard alone: the metric picker redraws the chart and the table for another metric.
    page.get_by_label("Metric").focus()
    page.keyboard.press("ArrowDown")  # result.value → result.custom.x
    page.get_by_role("table", name="Summary of result.custom.x").wait_for()
    assert cells(row_with(page.get_by_role("table", name="Summary of result.custom.x"), cand))[4] == "3"
    page.get_by_role("img", name=re.compile("result.custom.x: distribution")).wait_for()
    shot(page, "batch-other-metric")

    first.click()
    page.wait_for_url(re.compile(rf"/app/{app}/run/[^/?]+\?view=details$"))
    assert page.errors == []


def test_acceptance_test_shows_each_metrics_verdict(page: Any, data: dict[str, Any], shot: Any, axe: Any) -> None:
    app = data["app_id"]
    page.goto(f"/app/{app}/experiments?tab=acceptance")
    page.get_by_role("tab", name="Acceptance tests", selected=True).wait_for()
    listing = page.get_by_role("tabpanel")
    assert "✕ failed" in row_with(listing, "candidate acceptance").inner_text()
    listing.get_by_role("link", name="candidate acceptance").click()
    page.get_by_role("heading", name="candidate acceptance", level=1).wait_for()
    verdicts = page.get_by_role("table", name="Verdict per metric")
    headers = [h.inner_text() for h in verdicts.get_by_role("columnheader").all()]
    assert headers == ["Metric", "Statistic", "Comparison", "Control", "Candidate", "Difference", "Difference %", "Result"]
    rows = verdicts.locator("tbody tr")
    assert rows.count() == 3
    assert cells(rows.nth(0)) == ["result.value", "mean", "candidate < control within 5 % relative tolerance (lower is better)",
                                  "3", "6", "+3", "+100 %", "✕ fail"]
    assert cells(rows.nth(1)) == ["result.value", "p90", "candidate > control (higher is better)", "4.6", "9.2", "+4.6", "+100 %", "✓ pass"]
    assert cells(rows.nth(2)) == ["result.custom.x", "p50", "candidate = control (equal)", "3", "3", "0", "0 %", "✓ pass"]
    assert "2 of 3 metrics passed" in page.locator(".overall").inner_text()
    # The paired analysis (the API's …/analysis): the candidate against the control, by input.
    paired = page.get_by_role("table", name="Candidate against baseline, per metric")
    paired.locator("tbody tr").first.wait_for()
    analysed = {cells(r)[2]: cells(r) for r in paired.locator("tbody tr").all()}
    assert set(analysed) == {"result.value", "result.custom.x"}
    assert analysed["result.value"][4] == "5" and analysed["result.value"][5] == "3"  # 5 pairs, candidate 3 higher on average
    assert analysed["result.custom.x"][5] == "0" and all(row[8] for row in analysed.values())  # equal inputs; a verdict each
    # Each side's distribution, per metric, opened from the keyboard.
    summary = page.locator("details.analysis summary").first
    summary.focus()
    page.keyboard.press("Enter")
    dist = page.get_by_role("table", name="Distribution of result.value").first
    dist.wait_for()
    assert cells(row_with(dist, "std"))[1:] == ["1.58114", "3.16228"]
    axe(page, context="acceptance test page")
    shot(page, "acceptance")
    page.get_by_role("link", name=data["acceptance"]).click()  # the underlying batch experiment
    page.locator("svg.box-plot g.box").nth(1).wait_for()
    assert page.locator("svg.box-plot g.box").count() == 2
    against = page.get_by_role("table", name="Candidate against baseline, per metric")
    against.locator("tbody tr").first.wait_for()
    compared = [cells(r) for r in against.locator("tbody tr").all()]
    pair = {(row[0], row[1]) for row in compared}  # (candidate, baseline): one instance against the other
    assert pair in ({(data["cand"], data["base"])}, {(data["base"], data["cand"])}) and "result.value" in {row[2] for row in compared}
    assert f"against {next(iter(pair))[1]}," in page.get_by_text("Each instance against").inner_text()
    assert page.errors == []


def test_scenario_test_shows_a_grid_of_scenarios_and_metrics(page: Any, data: dict[str, Any], shot: Any, axe: Any) -> None:
    app = data["app_id"]
    page.goto(f"/app/{app}/experiments?tab=scenario")
    page.get_by_role("tabpanel").get_by_role("link", name="scales and offsets").click()
    page.wait_for_url(f"**/experiments/scenario/{data['scenario']}")
    grid = page.get_by_role("table", name="Scenarios × metrics")
    grid.wait_for()
    headers = [h.inner_text() for h in grid.get_by_role("columnheader").all()]
    assert headers == ["Scenario", "Option set", "Runs", "result.value", "result.custom.x"]
    got = {tuple(cells(r)[:2]): cells(r)[2:] for r in grid.locator("tbody tr").all()}
    assert got == {("sweep", "sweep_0"): ["5 / 5", "3", "3"], ("sweep", "sweep_1"): ["5 / 5", "9", "3"],
                   ("shifted", "shifted_0"): ["2 / 2", "11.5", "1.5"]}
    assert page.locator("svg.box-plot g.box").count() == 3
    page.get_by_label("Statistic in the grid").select_option("max")
    assert cells(row_with(grid, "sweep_1"))[3] == "15"
    options = page.get_by_role("table", name="Option sets")
    assert "scale = 3" in row_with(options, "sweep_1").inner_text()
    axe(page, context="scenario test page")
    shot(page, "scenario")
    assert page.errors == []


def test_experiments_index_picks_an_app_and_switches_tabs_by_keyboard(page: Any, data: dict[str, Any], shot: Any, axe: Any) -> None:
    page.goto("/experiments")
    page.get_by_label("Application").select_option(data["app_id"])
    page.wait_for_url(re.compile(rf"app={data['app_id']}"))
    batch_tab = page.get_by_role("tab", name="Batch experiments")
    panel = page.get_by_role("tabpanel")
    panel.get_by_role("link", name="baseline vs candidate").wait_for()
    batch_tab.focus()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    assert page.get_by_role("tab", name="Scenario tests").get_attribute("aria-selected") == "true"
    page.get_by_role("tabpanel").get_by_role("link", name="scales and offsets").wait_for()
    assert "tab=scenario" in page.url
    page.keyboard.press("ArrowRight")
    page.get_by_role("tabpanel").get_by_text("No shadow tests yet").wait_for()
    axe(page, context="experiments index")
    shot(page, "experiments-index")
    assert page.errors == []


def test_input_sets_and_managed_inputs_with_download(page: Any, data: dict[str, Any], shot: Any, axe: Any) -> None:
    app = data["app_id"]
    page.goto(f"/input-sets?app={app}")
    panel = page.get_by_role("tabpanel")
    assert cells(row_with(panel, "five inputs"))[1:3] == [data["input_set"], "5"]
    axe(page, context="input sets list")
    panel.get_by_role("link", name="five inputs").click()
    page.get_by_role("heading", name="five inputs", level=1).wait_for()
    inputs = page.get_by_role("table", name="Inputs of five inputs")
    assert inputs.locator("tbody tr").count() == 5
    shot(page, "input-set")
    axe(page, context="input set page")
    with page.expect_download() as download:
        inputs.get_by_role("button", name="Download input x=3").click()
    assert json.loads(Path(download.value.path()).read_text()) == {"x": 3}

    inputs.get_by_role("link", name="input x=2").click()
    page.get_by_role("heading", name="input x=2", level=1).wait_for()
    assert "upload" in page.locator(".card").first.inner_text()
    tree = page.get_by_role("list", name="Input input x=2")  # the JSON drawn as a tree
    tree.get_by_text("x:").wait_for()
    assert "2" in tree.inner_text()
    with page.expect_download() as download:
        page.get_by_role("button", name="Download the input input x=2").click()
    assert json.loads(Path(download.value.path()).read_text()) == {"x": 2}
    shot(page, "managed-input")
    axe(page, context="managed input page")
    page.goto(f"/input-sets?app={app}&tab=inputs")
    assert page.get_by_role("tab", name="Managed inputs").get_attribute("aria-selected") == "true"
    page.get_by_role("tabpanel").locator("tbody tr").nth(4).wait_for()
    assert page.get_by_role("tabpanel").locator("tbody tr").count() == 5
    axe(page, context="managed inputs list")
    assert page.errors == []
