"""The run page: a run pushed and submitted with the official SDK, watched live from the product's deep
link; its log, details, input and output, asset tabs (Plotly, Leaflet, Chart.js), flow graph, cancel
(with roles) and clone."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from compat.harness import APPS as COMPAT_APPS
from compat.harness import SdkRunner, unique

from .conftest import ConsoleServer, sign_in

APPS = Path(__file__).resolve().parent / "apps"
TERMINAL = ("succeeded", "failed", "canceled")
INPUT = {"values": [3, 5, 4, 6, 8], "depot": {"name": "Dallas", "open": True}, "stops": [{"id": f"s{i}"} for i in range(12)]}

pytestmark = pytest.mark.slow


def wait_for(check: Callable[[], Any], what: str, timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


class Deployed:
    """An app pushed with the official SDK, with a version and an instance."""

    def __init__(self, console: ConsoleServer, app_id: str, instance_id: str) -> None:
        self.console, self.app_id, self.instance_id = console, app_id, instance_id

    @property
    def runs(self) -> str:
        return f"v1/applications/{self.app_id}/runs"

    def submit(self, options: dict[str, str] | None = None, payload: Any = None) -> str:
        body = {"input": INPUT if payload is None else payload, "options": options or {}}
        created = self.console.server.api("POST", self.runs, params={"instance_id": self.instance_id}, json=body)
        assert created.status_code == 200, created.text
        return created.json()["run_id"]

    def metadata(self, run_id: str) -> dict[str, Any]:
        got = self.console.server.api("GET", f"{self.runs}/{run_id}/metadata")
        assert got.status_code == 200, got.text
        return got.json()

    def status(self, run_id: str) -> str:
        return self.metadata(run_id)["metadata"]["status_v2"]

    def wait_status(self, run_id: str, *wanted: str, timeout: float = 180) -> str:
        return wait_for(lambda: (s := self.status(run_id)) in wanted and s, f"run {run_id} to be {wanted}", timeout)

    def cancel(self, run_id: str) -> None:
        self.console.server.api("PATCH", f"{self.runs}/{run_id}/cancel")

    def page_url(self, run_id: str, view: str = "details") -> str:
        return f"/app/{self.app_id}/run/{run_id}?view={view}"


def deploy(console: ConsoleServer, runner: SdkRunner, app_dir: Path, prefix: str) -> Deployed:
    app_id = unique(prefix)
    out = runner.run(
        """
        app, version_id, instance_id = deploy(os.environ["APP_ID"], os.environ["APP_DIR"])
        emit({"instance_id": instance_id})
        """,
        env={"APP_ID": app_id, "APP_DIR": str(app_dir)},
    )
    return Deployed(console, app_id, out["instance_id"])


@pytest.fixture(scope="module")
def runner(console_server: ConsoleServer, sdk113_venv_e2e: Any, tmp_path_factory: pytest.TempPathFactory) -> SdkRunner:
    return SdkRunner("1.13.0", sdk113_venv_e2e, console_server.server, tmp_path_factory.mktemp("run-page-sdk"))


@pytest.fixture(scope="module")
def visual(console_server: ConsoleServer, runner: SdkRunner) -> Deployed:
    """The test app that logs for a while and writes plotly, geojson and chartjs assets."""
    return deploy(console_server, runner, APPS / "visual", "visual")


@pytest.fixture(scope="module")
def finished(visual: Deployed, runner: SdkRunner) -> str:
    """A run of the visual app, submitted and awaited with the official SDK."""
    out = runner.run(
        """
        app = Application(client=client, id=os.environ["APP_ID"])
        run_id = app.new_run(input=json.loads(os.environ["INPUT"]), instance_id=os.environ["INSTANCE_ID"],
                             name="weekly plan", description="five days", options={"duration": "0.2"})
        info = wait_terminal(app, run_id)
        emit({"run_id": run_id, "status": info.metadata.status_v2.value})
        """,
        env={"APP_ID": visual.app_id, "INSTANCE_ID": visual.instance_id, "INPUT": json.dumps(INPUT)},
    )
    assert out["status"] == "succeeded", visual.console.server.api("GET", f"{visual.runs}/{out['run_id']}/logs").text
    return out["run_id"]


class Holds:
    """Runs that hold every slot of the default execution class, so the next run waits in the queue."""

    SLOTS = 2  # the default class's concurrency

    def __init__(self, app: Deployed) -> None:
        self.app = app
        self.ids = [app.submit({"hold": "true", "duration": "0"}) for _ in range(self.SLOTS)]
        for run_id in self.ids:
            app.wait_status(run_id, "running")

    def release_one(self) -> None:
        self.app.cancel(self.ids[0])

    def release(self) -> None:
        for run_id in self.ids:
            self.app.cancel(run_id)
        for run_id in self.ids:
            self.app.wait_status(run_id, *TERMINAL)


@pytest.fixture
def holds(visual: Deployed) -> Any:
    made: list[Holds] = []

    def make() -> Holds:
        made.append(Holds(visual))
        return made[-1]

    yield make
    for h in made:
        h.release()


def badge(page: Any) -> str:
    return page.locator(".run-status .badge").get_attribute("data-status") or ""


def log_lines(page: Any) -> list[str]:
    return page.locator(".log .log-text").all_inner_texts()


def open_tab(page: Any, name: str) -> Any:
    tab = page.get_by_role("tab", name=name)
    tab.click()
    assert tab.get_attribute("aria-selected") == "true"
    return page.locator(f"#{tab.get_attribute('aria-controls')}")


def test_deep_link_watches_a_run_live_and_follows_its_log(page: Any, visual: Deployed, runner: SdkRunner,
                                                            holds: Any, shot: Any, axe: Any) -> None:
    held = holds()
    out = runner.run(
        """
        app = Application(client=client, id=os.environ["APP_ID"])
        run_id = app.new_run(input=json.loads(os.environ["INPUT"]), instance_id=os.environ["INSTANCE_ID"],
                             name="live run", options={"duration": "4"})
        emit({"run_id": run_id})
        """,
        env={"APP_ID": visual.app_id, "INSTANCE_ID": visual.instance_id, "INPUT": json.dumps(INPUT)},
    )
    run_id = out["run_id"]
    assert visual.status(run_id) == "queued"  # both slots are held

    page.goto(visual.page_url(run_id))  # the product's deep link
    page.get_by_role("heading", name="live run", level=1).wait_for()
    assert page.title() == f"Run {run_id} · Runyard"
    page.evaluate("() => { window.__sameDocument = true; }")  # gone if the page reloads
    assert badge(page) == "queued"
    timeline = page.get_by_role("list", name="Status timeline")
    assert timeline.locator("[aria-current=step]").inner_text().startswith("Queued")
    assert page.get_by_role("tab", name="Details").get_attribute("aria-selected") == "true"
    axe(page, context="run page, queued")
    shot(page, "queued")

    open_tab(page, "Log")
    assert "view=logs" in page.url
    held.release_one()
    page.wait_for_function("() => document.querySelector('.run-status .badge')?.dataset.status === 'running'")
    page.wait_for_function("() => document.querySelectorAll('.log .log-text').length >= 2")
    assert badge(page) == "running"  # lines arrive while it runs, not only at the end
    seen_running = len(log_lines(page))
    shot(page, "running-log")
    page.wait_for_function(f"() => document.querySelectorAll('.log .log-text').length > {seen_running}")
    page.wait_for_function("() => document.querySelector('.run-status .badge')?.dataset.status === 'succeeded'",
                           timeout=120_000)
    page.get_by_text("The run has ended; this is its whole log.").wait_for()
    lines = log_lines(page)
    assert lines[-1] == "visual: done"
    assert sum("improving the plan" in line for line in lines) >= 6  # 4 s of a line every 0.25 s, on a loaded machine
    box = page.locator("[role=tabpanel]:not([hidden]) .log")  # (the views were redrawn with the assets)
    assert box.evaluate("el => el.scrollHeight - el.scrollTop - el.clientHeight") < 30  # it followed the end
    assert page.evaluate("() => window.__sameDocument === true")
    axe(page, context="run page, log")
    shot(page, "succeeded-log")

    steps = timeline.locator("li")
    assert steps.count() == 3
    assert steps.nth(2).get_attribute("aria-current") == "step"
    assert steps.nth(2).inner_text().startswith("Succeeded")
    assert all(re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", steps.nth(i).inner_text()) for i in range(3))
    assert page.get_by_role("button", name="Cancel run").count() == 0  # nothing to cancel any more

    details = open_tab(page, "Details")
    options = {row.locator("td").nth(0).inner_text(): [c.inner_text() for c in row.locator("td").all()[1:]]
               for row in details.locator("#run-options ~ * tbody tr, section[aria-labelledby=run-options] tbody tr").all()}
    assert options["duration"] == ["4", "This run"]
    assert options["region"] == ["dallas", "App version (manifest default)"]
    assert options["hold"] == ["false", "App version (manifest default)"]
    stats = details.locator("section[aria-labelledby=run-statistics]").inner_text()
    assert "iterations" in stats and "result.custom.region" in stats and "dallas" in stats
    metrics = details.locator("section[aria-labelledby=run-metrics]").inner_text()
    assert "cost" in metrics and "26" in metrics
    assert "Cost chart" in page.get_by_role("tablist", name="Run views").inner_text()  # asset tabs came with the end
    axe(page, context="run page, details")
    shot(page, "succeeded-details")


def test_asset_tabs_draw_plotly_a_leaflet_map_and_chartjs(page: Any, visual: Deployed, finished: str,
                                                           shot: Any, axe: Any) -> None:
    page.goto(visual.page_url(finished))
    page.get_by_role("heading", name="weekly plan", level=1).wait_for()
    tab_names = page.get_by_role("tablist", name="Run views").get_by_role("tab").all_inner_texts()
    assert tab_names == ["Details", "Input", "Output", "Log", "Cost chart", "Route map", "Utilization", "Assets"]
    loaded = "() => [...document.scripts].map((s) => s.src).filter((src) => src.includes('/vendor/'))"
    assert page.evaluate(loaded) == []  # the libraries are loaded only when a tab needs one

    plot = open_tab(page, "Cost chart")
    plot.locator(".main-svg").first.wait_for()
    page.wait_for_function("() => document.querySelectorAll('.asset-plotly .main-svg .trace').length >= 2")
    assert plot.locator(".main-svg .bars .point path").count() == 5  # one bar per day
    assert "Cost by day" in plot.locator(".main-svg").first.evaluate("el => el.parentElement.textContent")
    assert "view=asset-1" in page.url
    assert [src.split("/vendor/")[1] for src in page.evaluate(loaded)] == ["plotly/plotly.min.js"]
    axe(page, context="plotly asset tab")
    shot(page, "plotly")

    open_tab(page, "Route map")
    page.wait_for_function("() => document.querySelectorAll('.asset-map .leaflet-overlay-pane path').length >= 3")
    assert "1 LineString, 1 Point, 1 Polygon" in page.locator(".asset-geojson").inner_text()
    # The depot is the smallest shape (a circle marker): clicking it opens its popup with the feature's metadata.
    depot = min(page.locator(".asset-map .leaflet-overlay-pane path").all(),
                key=lambda p: (lambda b: b["width"] * b["height"])(p.bounding_box()))
    depot.click(force=True)
    popup = page.locator(".leaflet-popup-content")
    popup.wait_for()
    assert "depot" in popup.inner_text() and "Stop" in popup.inner_text()
    page.wait_for_function("() => getComputedStyle(document.querySelector('.leaflet-popup')).opacity === '1'")  # faded in
    axe(page, context="geojson asset tab")
    shot(page, "geojson")

    chart = open_tab(page, "Utilization")
    canvas = chart.locator("canvas")
    canvas.wait_for()
    painted = """el => { const d = el.getContext('2d').getImageData(0, 0, el.width, el.height).data;
        let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; }"""
    wait_for(lambda: canvas.evaluate(painted) > 2000, "the Chart.js canvas to be drawn", timeout=30)
    axe(page, context="chartjs asset tab")
    shot(page, "chartjs")

    plain = open_tab(page, "Assets")
    plain.get_by_text("raw-numbers").click()
    plain.locator(".json-tree").wait_for()
    assert "values" in plain.inner_text()
    axe(page, context="plain assets tab")

    # A deep link to a view opens it directly; every asset tab was drawn without a script error.
    page.goto(visual.page_url(finished, "asset-2"))
    page.wait_for_function("() => document.querySelectorAll('.asset-map .leaflet-overlay-pane path').length >= 3")
    assert page.errors == []


def test_input_and_output_viewers_with_a_keyboard_operable_json_tree(page: Any, visual: Deployed, finished: str,
                                                                      shot: Any, axe: Any) -> None:
    page.goto(visual.page_url(finished, "input"))
    panel = page.locator("[role=tabpanel]:not([hidden])")
    tree = panel.locator(".json-tree")
    tree.wait_for()
    stops = panel.locator("summary", has_text="stops")
    stops.wait_for()
    node = stops.locator("xpath=..")
    assert node.evaluate("el => el.open") is True  # the first levels start open
    stops.focus()
    page.keyboard.press("Enter")
    assert node.evaluate("el => el.open") is False
    page.keyboard.press("Space")
    assert node.evaluate("el => el.open") is True
    assert node.locator(".json-children > li").count() == 12
    assert panel.get_by_role("link", name=re.compile(r"Download input")).get_attribute("href")
    axe(page, context="input view")
    shot(page, "input-tree")

    panel.get_by_role("button", name="Text").click()
    assert json.loads(panel.locator("pre.doc-text").inner_text()) == INPUT

    output = open_tab(page, "Output")
    output.get_by_text("solution").first.wait_for()
    with page.expect_download() as download:
        output.get_by_role("link", name=re.compile(r"Download output")).click()
    saved = json.loads(Path(download.value.path()).read_text())
    assert saved["solution"] == INPUT and saved["metrics"]["cost"] == 26
    axe(page, context="output view")
    shot(page, "output-tree")


@pytest.fixture(scope="module")
def multi_file(console_server: ConsoleServer, runner: SdkRunner, tmp_path_factory: pytest.TempPathFactory) -> tuple[Deployed, str]:
    """The compat suite's multi-file app, run on a directory of CSV files with the official SDK."""
    deployed = deploy(console_server, runner, COMPAT_APPS / "multi-file", "files")
    inputs = tmp_path_factory.mktemp("mf-in")
    (inputs / "sub").mkdir()
    (inputs / "a.csv").write_text("value\n1\n2.5\n")
    (inputs / "sub" / "b.csv").write_text("value\n10\n20\n30\n")
    out = runner.run(
        """
        app = Application(client=client, id=os.environ["APP_ID"])
        run_id = app.new_run(input_dir_path=os.environ["IN"], instance_id=os.environ["INSTANCE_ID"])
        emit({"run_id": run_id, "status": wait_terminal(app, run_id).metadata.status_v2.value})
        """,
        env={"APP_ID": deployed.app_id, "INSTANCE_ID": deployed.instance_id, "IN": str(inputs)},
    )
    assert out["status"] == "succeeded"
    return deployed, out["run_id"]


def test_a_multi_file_run_lists_its_files_for_download(page: Any, multi_file: tuple[Deployed, str],
                                                        shot: Any, axe: Any) -> None:
    app, run_id = multi_file
    page.goto(app.page_url(run_id, "input"))
    panel = page.locator("[role=tabpanel]:not([hidden])")
    files = panel.locator("table.files")
    files.wait_for()
    assert files.locator("tbody th").all_inner_texts() == ["a.csv", "sub/b.csv"]
    assert "Format: multi-file" in panel.inner_text()
    with page.expect_download() as download:
        panel.get_by_role("link", name="Download b.csv").click()
    assert download.value.suggested_filename == "b.csv"
    assert Path(download.value.path()).read_text() == "value\n10\n20\n30\n"
    axe(page, context="multi-file input")
    shot(page, "multi-file-input")

    output = open_tab(page, "Output")
    output.locator("table.files").wait_for()
    assert sorted(output.locator("table.files tbody th").all_inner_texts()) == ["result.json", "totals.csv"]
    output.get_by_role("button", name="Show totals.csv").click()
    assert "sub/b.csv,60.0" in output.locator("pre.doc-text").inner_text()
    with page.expect_download() as download:
        output.get_by_role("link", name=re.compile(r"Download all")).click()
    assert download.value.suggested_filename == f"{run_id}-output.tar.gz"
    axe(page, context="multi-file output")
    shot(page, "multi-file-output")

    # A clone sends the same archive again (through an upload URL) and gets the same answer.
    clone_id = clone_from_page(page, app, run_id)
    assert app.wait_status(clone_id, *TERMINAL) == "succeeded"
    meta = app.metadata(clone_id)["metadata"]
    assert meta["format"]["input"]["type"] == "multi-file" and meta["metrics"] == {"files": 2, "total": 63.5}


def clone_from_page(page: Any, app: Deployed, run_id: str) -> str:
    """Clone the run shown on ``page`` as it is, and return the new run's id once its page is open."""
    page.get_by_role("button", name="Clone run").click()
    page.get_by_role("dialog", name="Clone this run").get_by_role("button", name="Start the clone").click()
    page.wait_for_url(re.compile(rf"/app/{app.app_id}/run/(?!{run_id})[^/?]+\?view=details"))
    clone_id = page.url.split("/run/")[1].split("?")[0]
    page.get_by_role("link", name=run_id).wait_for()  # "Cloned from"
    return clone_id


def test_a_text_run_shows_its_input_as_text_and_clones(page: Any, console_server: ConsoleServer, runner: SdkRunner,
                                                       shot: Any, axe: Any) -> None:
    app = deploy(console_server, runner, COMPAT_APPS / "text-echo", "text")
    text = "first line of the plan\nsecond line: 42 stops"
    out = runner.run(
        """
        app = Application(client=client, id=os.environ["APP_ID"])
        run_id = app.new_run(input=os.environ["TEXT"], instance_id=os.environ["INSTANCE_ID"])
        emit({"run_id": run_id, "status": wait_terminal(app, run_id).metadata.status_v2.value})
        """,
        env={"APP_ID": app.app_id, "INSTANCE_ID": app.instance_id, "TEXT": text},
    )
    assert out["status"] == "succeeded"
    page.goto(app.page_url(out["run_id"], "input"))
    shown = page.locator("[role=tabpanel]:not([hidden]) pre.doc-text")
    shown.wait_for()
    assert shown.inner_text() == text
    axe(page, context="text input")
    shot(page, "text-input")
    clone_id = clone_from_page(page, app, out["run_id"])
    assert app.wait_status(clone_id, *TERMINAL) == "succeeded"
    assert console_server.server.api("GET", f"{app.runs}/{clone_id}/input").json() == text


def test_a_viewer_has_no_cancel_and_the_api_refuses_it_an_operator_cancels(
        viewer_page: Any, new_page: Any, console_server: ConsoleServer, visual: Deployed, holds: Any,
        shot: Any, axe: Any) -> None:
    held = holds()
    run_id = held.ids[1]
    viewer_page.goto(visual.page_url(run_id))
    viewer_page.get_by_role("heading", level=1).wait_for()
    assert badge(viewer_page) == "running"
    assert viewer_page.get_by_role("button", name="Cancel run").count() == 0
    assert viewer_page.get_by_role("button", name="Clone run").count() == 0
    # The API refuses it anyway, with the viewer's own session and CSRF token.
    refused = viewer_page.evaluate("""async (path) => {
        const s = await (await fetch('/v1/console/session')).json();
        const r = await fetch(path, {method: 'PATCH', headers: {'X-CSRF-Token': s.csrf_token}});
        return {status: r.status, body: await r.json()};
    }""", f"/{visual.runs}/{run_id}/cancel")
    assert refused["status"] == 403, refused
    assert visual.status(run_id) == "running"
    shot(viewer_page, "viewer")

    made = console_server.server.api("POST", "v1/admin/accounts/default/keys", json={"name": "operator", "role": "operator"})
    assert made.status_code in (200, 201), made.text
    operator = new_page()
    sign_in(operator, made.json()["key"], visual.page_url(run_id))
    operator.get_by_role("heading", level=1).wait_for()

    # The log follows the end until the user scrolls up; then it stays put and offers to jump back.
    log = open_tab(operator, "Log").locator(".log")
    operator.wait_for_function("() => document.querySelectorAll('.log .log-text').length >= 60")
    gap = "el => el.scrollHeight - el.scrollTop - el.clientHeight"
    wait_for(lambda: log.evaluate(gap) < 30, "the log to follow its end", timeout=10)
    log.hover()
    operator.mouse.wheel(0, -600)
    follow = operator.get_by_label("Follow the log")
    wait_for(lambda: not follow.is_checked(), "following to stop when the user scrolls up", timeout=10)
    top = log.evaluate("el => el.scrollTop")
    jump = operator.get_by_role("button", name=re.compile(r"Jump to the latest line \(\d+ new\)"))
    jump.wait_for()
    assert log.evaluate("el => el.scrollTop") == top and log.evaluate(gap) > 100  # new lines did not move it
    shot(operator, "log-scrolled-up")
    jump.click()
    assert follow.is_checked()
    wait_for(lambda: log.evaluate(gap) < 30, "the log to follow again", timeout=10)

    operator.get_by_role("button", name="Cancel run").click()
    dialog = operator.get_by_role("dialog", name="Cancel this run?")
    dialog.wait_for()
    axe(operator, context="cancel confirmation")
    shot(operator, "cancel-dialog")
    dialog.get_by_role("button", name="Keep it running").click()
    assert visual.status(run_id) == "running"
    operator.get_by_role("button", name="Cancel run").click()
    operator.get_by_role("dialog").get_by_role("button", name="Cancel the run").click()
    operator.wait_for_function("() => document.querySelector('.run-status .badge')?.dataset.status === 'canceled'")
    assert visual.status(run_id) == "canceled"
    assert operator.get_by_role("button", name="Cancel run").count() == 0
    assert operator.get_by_role("list", name="Status timeline").locator("li").nth(2).inner_text().startswith("Canceled")
    viewer_page.wait_for_function("() => document.querySelector('.run-status .badge')?.dataset.status === 'canceled'")
    shot(operator, "canceled")


def test_clone_submits_the_same_input_with_the_edited_options(page: Any, visual: Deployed, finished: str,
                                                               shot: Any, axe: Any) -> None:
    page.goto(visual.page_url(finished))
    page.get_by_role("button", name="Clone run").click()
    dialog = page.get_by_role("dialog", name="Clone this run")
    dialog.wait_for()
    assert dialog.get_by_label("Name", exact=True).input_value() == "weekly plan clone"
    assert dialog.get_by_label("Instance").input_value() == visual.instance_id
    rows = {row.locator(".opt-name").input_value(): row for row in dialog.locator(".option-row").all()}
    assert sorted(rows) == ["duration", "hold", "region"]
    assert rows["duration"].locator(".opt-value").input_value() == "0.2"
    rows["region"].locator(".opt-value").fill("austin")
    axe(page, context="clone form")
    shot(page, "clone-form")
    dialog.get_by_role("button", name="Start the clone").click()
    page.wait_for_url(re.compile(rf"/app/{visual.app_id}/run/(?!{finished})[^/?]+\?view=details"))
    clone_id = page.url.split("/run/")[1].split("?")[0]
    page.get_by_role("heading", name="weekly plan clone", level=1).wait_for()
    page.get_by_role("link", name=finished).wait_for()  # "Cloned from"
    meta = visual.metadata(clone_id)["metadata"]
    assert meta["tracking"]["cloned_run_id"] == finished
    summary = {o["name"]: o["value"] for o in meta["options"]["options_summary"]}
    assert summary == {"duration": "0.2", "region": "austin", "hold": "false"}
    got = visual.console.server.api("GET", f"{visual.runs}/{clone_id}/input").json()
    assert got == INPUT
    visual.wait_status(clone_id, *TERMINAL)
    page.wait_for_function("() => document.querySelector('.run-status .badge')?.dataset.status === 'succeeded'")
    shot(page, "clone")


FLOW = {"pipeline_graph": {
    "steps": [{"id": "prepare", "predecessors": [], "docs": "Reads the orders."},
              {"id": "solve_a", "predecessors": ["prepare"], "docs": "", "app_id": "routing"},
              {"id": "solve_b", "predecessors": ["prepare"], "docs": ""},
              {"id": "pick", "predecessors": ["solve_a", "solve_b"], "docs": "Keeps the cheaper plan."}],
    "nodes": [{"id": "prepare_0", "parent_id": "prepare", "predecessor_ids": [], "status": "succeeded"},
              {"id": "solve_a_0", "parent_id": "solve_a", "predecessor_ids": ["prepare_0"], "status": "succeeded",
               "run_id": "run-child-1"},
              {"id": "solve_b_0", "parent_id": "solve_b", "predecessor_ids": ["prepare_0"], "status": "failed"},
              {"id": "pick_0", "parent_id": "pick", "predecessor_ids": ["solve_a_0", "solve_b_0"], "status": "pending"}]},
    "updated_at": "2026-01-01T00:00:00Z"}


def test_a_workflow_run_shows_its_flow_graph(page: Any, visual: Deployed, finished: str, shot: Any, axe: Any) -> None:
    put = visual.console.server.api("PUT", f"v1/internal/applications/{visual.app_id}/runs/{finished}/flow", json=FLOW)
    assert put.status_code == 204, put.text
    page.goto(visual.page_url(finished, "flow"))
    graph = page.get_by_role("img", name="Flow graph: 4 steps")
    graph.wait_for()
    assert graph.locator("g.flow-step").count() == 4
    assert graph.locator("path.flow-edge").count() == 4
    assert graph.locator("g.flow-failed").get_attribute("data-step") == "solve_b"
    xs = {s: float(graph.locator(f"g[data-step={s}] rect").get_attribute("x")) for s in ("prepare", "solve_a", "pick")}
    assert xs["prepare"] < xs["solve_a"] < xs["pick"]  # drawn in layers, left to right
    rows = page.locator("table.flow-table tbody tr")
    assert rows.count() == 4
    assert "prepare" in rows.nth(3).inner_text() or "solve_a, solve_b" in rows.nth(3).inner_text()
    assert page.get_by_role("link", name="run-child-1").get_attribute("href") == "/app/routing/run/run-child-1?view=details"
    axe(page, context="flow graph")
    shot(page, "flow")


def test_a_missing_run_shows_the_servers_message_and_request_id(page: Any, visual: Deployed, shot: Any) -> None:
    page.goto(visual.page_url("run-doesnotexist"))
    alert = page.get_by_role("alert")
    alert.wait_for()
    text = alert.inner_text()
    assert "run-doesnotexist" in text and "Request id" in text
    assert page.get_by_role("heading", name="Not found", level=1).count() == 1
    shot(page, "missing")


def test_a_build_without_the_chart_library_says_so_and_shows_the_assets_json(page: Any, visual: Deployed,
                                                                              finished: str, shot: Any) -> None:
    """A wheel built where npm was missing has no vendor/ files: the server answers 404 for them, as
    simulated here by refusing those requests in the browser."""
    page.route("**/vendor/chartjs/**", lambda route: route.fulfill(status=404, body="no such console file"))
    page.goto(visual.page_url(finished, "asset-3"))
    note = page.get_by_text("not installed in this build")
    note.wait_for()
    assert "Chart.js" in note.inner_text()
    panel = page.locator("[role=tabpanel]:not([hidden])")
    assert 'type: "line"' in panel.locator(".json-tree").inner_text()
    assert panel.locator("canvas").count() == 0
    shot(page, "no-chart-library")
