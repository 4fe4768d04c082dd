"""The Applications pages and the runs lists, driven in Chromium against a server that the official
nextmv 1.13.0 SDK pushes to and runs on."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from compat.harness import SdkRunner, copy_app, unique

from .conftest import ConsoleServer, sign_in

SLOT_HOLD_SECONDS = 8  # how long the runs that fill the server's two slots sleep


@dataclass
class Deployed:
    app_id: str
    version_id: str
    instance_id: str


@pytest.fixture(scope="module")
def deployed(console_server: ConsoleServer, sdk113_venv_e2e: Any, tmp_path_factory: pytest.TempPathFactory) -> Deployed:
    """The ctl-json test app pushed with the official SDK: one version, one instance (configured, locked)
    and one finished run, so the environment is built before any test watches a run."""
    work = tmp_path_factory.mktemp("deployed")
    sdk = SdkRunner("1.13.0", sdk113_venv_e2e, console_server.server, work)
    app_id = unique("console")
    out = sdk.run(f"""
        app, version_id, instance_id = deploy({app_id!r}, {str(copy_app("ctl-json", work / "apps"))!r})
        run_id = app.new_run(input={{"warm": True}}, instance_id=instance_id)
        wait_terminal(app, run_id)
        emit({{"version": version_id, "instance": instance_id}})
    """)
    server = console_server.server
    path = f"v1/applications/{app_id}/instances/{out['instance']}"
    instance = server.api("GET", path).json()
    instance["configuration"] = {"options": {"alpha": "from-the-instance"}}
    assert server.api("PUT", path, json=instance).status_code == 200
    assert server.api("PUT", f"{path}/lock", json={"locked": True}).status_code == 200
    return Deployed(app_id, out["version"], out["instance"])


def submit(sdk: SdkRunner, app_id: str, *runs: tuple[str, float]) -> list[str]:
    """Submit runs ``(instance, seconds to sleep)`` in order through the official SDK, without waiting."""
    return sdk.run(f"""
        app = Application(client=client, id={app_id!r})
        emit([app.new_run(input={{"n": k}}, instance_id=instance, options={{"sleep": str(sleep)}})
              for k, (instance, sleep) in enumerate({list(runs)!r})])
    """)


def row(page: Any, run_id: str) -> Any:
    return page.locator(f'tr[data-key="{run_id}"]')


def wait_status(page: Any, run_id: str, status: str, timeout: float = 120_000) -> None:
    row(page, run_id).locator(f'[data-status="{status}"]').wait_for(timeout=timeout)


def test_applications_list_and_app_page(page: Any, deployed: Deployed, shot: Callable[..., Path], axe: Any) -> None:
    page.goto("/apps")
    app_row = page.locator(f'tr[data-key="{deployed.app_id}"]')
    app_row.get_by_role("link", name=deployed.app_id, exact=True).wait_for()
    app_row.get_by_text("v1", exact=True).wait_for()  # its latest version, filled in after the list
    axe(page, context="applications list")
    shot(page, "apps")

    app_row.get_by_role("link", name=deployed.app_id, exact=True).click()
    page.wait_for_url(f"**/app/{deployed.app_id}")
    page.get_by_role("heading", name=deployed.app_id, level=1).wait_for()
    assert page.title() == f"{deployed.app_id} · Runyard"
    versions = page.get_by_role("region", name="Versions")
    versions.get_by_text(deployed.version_id).wait_for()
    instances = page.get_by_role("region", name="Instances")
    instance = instances.locator(f'tr[data-key="{deployed.instance_id}"]')
    instance.get_by_text("locked", exact=True).wait_for()
    instance.get_by_text("from-the-instance", exact=False).wait_for()  # its configuration, as a tree
    recent = page.get_by_role("region", name="Recent runs")
    link = recent.get_by_role("link").first
    link.wait_for()
    assert re.fullmatch(rf"/app/{deployed.app_id}/run/[^/?]+\?view=details", link.get_attribute("href"))
    axe(page, context="application page")
    shot(page, "app")
    assert page.errors == []


def test_a_run_goes_queued_running_succeeded_live_and_can_be_canceled(
        page: Any, deployed: Deployed, sdk: SdkRunner, shot: Callable[..., Path], axe: Any) -> None:
    page.goto(f"/app/{deployed.app_id}/runs")
    page.get_by_role("heading", name=f"Runs of {deployed.app_id}").wait_for()
    page.get_by_role("status").filter(has_text="Live").wait_for()
    page.evaluate("() => { window.__sameDocument = true; }")
    i = deployed.instance_id
    # Two runs hold the server's two slots, so the watched run waits in the queue before it runs.
    blockers = submit(sdk, deployed.app_id, (i, SLOT_HOLD_SECONDS),
                      (i, SLOT_HOLD_SECONDS))
    watched, = submit(sdk, deployed.app_id, (i, 2))
    wait_status(page, watched, "queued")
    shot(page, "queued")
    assert row(page, blockers[0]).get_by_role("button", name=f"Cancel run {blockers[0]}").count() == 1
    wait_status(page, watched, "running")
    shot(page, "running")
    wait_status(page, watched, "succeeded")
    assert page.evaluate("() => window.__sameDocument") is True  # no reload on the way
    axe(page, context="runs list")
    shot(page, "succeeded")

    slow, = submit(sdk, deployed.app_id, ("latest", 120))
    cancel = row(page, slow).get_by_role("button", name=f"Cancel run {slow}")
    cancel.click()
    wait_status(page, slow, "canceled")
    assert cancel.count() == 0  # an ended run has nothing to cancel
    assert page.evaluate("() => window.__sameDocument") is True
    assert page.errors == []


def test_filters_are_in_the_url_and_pages_go_both_ways(page: Any, deployed: Deployed, sdk: SdkRunner,
                                                       console_server: ConsoleServer, shot: Callable[..., Path]) -> None:
    done = submit(sdk, deployed.app_id, (deployed.instance_id, 0),
                  ("latest", 0), (deployed.instance_id, 0))
    server = console_server.server
    for run_id in done:
        assert server.api("GET", f"v1/applications/{deployed.app_id}/runs/{run_id}/metadata?wait=60").json()[
            "metadata"]["status_v2"] == "succeeded"
    page.goto(f"/app/{deployed.app_id}/runs")
    form = page.get_by_role("search", name="Filter runs")
    form.get_by_label("Status").select_option("succeeded")
    form.get_by_label("Instance").select_option("latest")
    form.get_by_role("button", name="Apply filters").click()
    page.wait_for_url(re.compile(r".*\?status=succeeded&instance=latest$"))
    row(page, done[1]).wait_for()
    statuses = page.locator("tbody [data-status]").all_inner_texts()
    instances = page.locator("tbody tr td:nth-child(4)").all_inner_texts()
    assert statuses and all("succeeded" in s for s in statuses)
    assert set(instances) == {"latest"}
    assert row(page, done[0]).count() == 0
    shot(page, "filtered")

    page.reload()  # the URL alone brings the same filters back
    row(page, done[1]).wait_for()
    assert page.get_by_label("Status").input_value() == "succeeded"
    assert page.get_by_label("Instance").input_value() == "latest"
    assert row(page, done[0]).count() == 0

    form = page.get_by_role("search", name="Filter runs")
    form.get_by_label("Created from").fill("2099-01-01T00:00")
    form.get_by_role("button", name="Apply filters").click()
    page.get_by_text("No runs match these filters.").wait_for()
    assert "from=2099-01-01T00%3A00" in page.url
    form.get_by_role("button", name="Clear").click()
    page.wait_for_url(f"**/app/{deployed.app_id}/runs")
    row(page, done[0]).wait_for()

    form.get_by_label("Version").select_option(deployed.version_id)
    form.get_by_role("button", name="Apply filters").click()
    page.wait_for_url(re.compile(rf".*version={deployed.version_id}"))
    row(page, done[0]).wait_for()

    page.goto(f"/app/{deployed.app_id}/runs?limit=2")
    newest = [page.locator("tbody tr").nth(k).get_attribute("data-key") for k in range(2)]
    assert newest == [done[2], done[1]]
    pages = page.get_by_role("navigation", name="Run pages")
    assert pages.get_by_role("button", name="← Previous").is_disabled()
    pages.get_by_role("button", name="Next →").click()
    row(page, done[0]).wait_for()
    assert row(page, done[2]).count() == 0
    assert "page=" in page.url
    pages.get_by_role("button", name="← Previous").click()
    row(page, done[2]).wait_for()
    assert page.errors == []


def test_account_wide_runs_list(page: Any, deployed: Deployed, shot: Callable[..., Path], axe: Any) -> None:
    page.goto("/runs")
    page.get_by_role("heading", name="Runs", level=1).wait_for()
    first = page.locator("tbody tr").first
    first.wait_for()
    assert page.get_by_role("columnheader", name="Application").count() == 1
    form = page.get_by_role("search", name="Filter runs")
    form.get_by_label("Application").select_option(deployed.app_id)
    form.get_by_role("button", name="Apply filters").click()
    page.wait_for_url(f"**/runs?app={deployed.app_id}")
    page.locator("tbody tr").first.wait_for()
    apps = page.locator("tbody tr td:nth-child(3)").all_inner_texts()
    assert set(apps) == {deployed.app_id}
    axe(page, context="account runs list")
    shot(page, "account-runs")


def test_a_viewer_sees_no_cancel_button(viewer_page: Any, page: Any, deployed: Deployed, sdk: SdkRunner) -> None:
    slow, = submit(sdk, deployed.app_id, ("latest", 60))
    try:
        for p in (page, viewer_page):
            p.goto(f"/app/{deployed.app_id}/runs")
            row(p, slow).wait_for()
        # The admin's page offers it; the viewer's has no button of any kind in the table.
        row(page, slow).get_by_role("button", name=f"Cancel run {slow}").wait_for()
        assert viewer_page.get_by_role("columnheader", name="Actions").count() == 0
        assert viewer_page.locator("main table button").count() == 0
        assert "viewer" in viewer_page.get_by_role("banner").inner_text()
        viewer_page.goto(f"/app/{deployed.app_id}")
        viewer_page.get_by_role("region", name="Recent runs").get_by_role("link").first.wait_for()
        assert viewer_page.get_by_role("button", name=re.compile("cancel", re.I)).count() == 0
        assert "Admin" not in viewer_page.get_by_role("navigation", name="Main").inner_text()
    finally:
        page.evaluate(f"""async () => {{
            const s = await (await fetch('/v1/console/session')).json();
            await fetch('/v1/applications/{deployed.app_id}/runs/{slow}/cancel',
                        {{method: 'PATCH', headers: {{'X-CSRF-Token': s.csrf_token}}}});
        }}""")


def test_keyboard_alone_reaches_the_nav_and_a_table(page: Any, deployed: Deployed, shot: Callable[..., Path]) -> None:
    page.goto(f"/app/{deployed.app_id}")
    page.get_by_role("region", name="Recent runs").get_by_role("link").first.wait_for()
    page.locator("body").focus()
    seen = []
    for _ in range(12):  # skip link, product name, then the nav in order
        page.keyboard.press("Tab")
        seen.append(page.evaluate("() => document.activeElement.textContent.trim()"))
        if seen[-1] == "Runs":
            break
    assert seen[0] == "Skip to content" and "Applications" in seen and seen[-1] == "Runs"
    shot(page, "nav-focus")
    page.keyboard.press("Enter")
    page.wait_for_url("**/runs")
    page.get_by_role("heading", name="Runs", level=1).wait_for()
    page.wait_for_function("() => document.activeElement.tagName === 'H1'")  # focus moves to the new page
    page.locator("tbody tr").first.wait_for()
    for _ in range(40):
        page.keyboard.press("Tab")
        href = page.evaluate("() => document.activeElement.getAttribute('href') || ''")
        if "/run/" in href:
            break
    assert re.fullmatch(r"/app/[^/]+/run/[^/?]+\?view=details", href)
    shot(page, "table-focus")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/run/[^/?]+\?view=details$"))


def test_the_sdk_console_link_opens_in_the_console(new_page: Callable[..., Any], console_server: ConsoleServer,
                                                   deployed: Deployed, sdk: SdkRunner) -> None:
    out = sdk.run(f"""
        linked = Client(api_key=KEY, url=URL, console_url=URL)
        app = Application(client=linked, id={deployed.app_id!r})
        result = app.new_run_with_result(input={{"x": 1}}, instance_id={deployed.instance_id!r})
        emit({{"run": result.id, "url": result.console_url}})
    """)
    assert out["url"] == f"{console_server.url}/app/{deployed.app_id}/run/{out['run']}?view=details"
    page = new_page()
    page.goto(out["url"])  # not signed in yet: the sign-in page, then back to the link itself
    page.wait_for_url("**/sign-in?next=*")
    sign_in(page, console_server.admin_key, path=page.url)
    page.wait_for_url(out["url"])


def test_the_app_pages_recent_runs_follow_live(page: Any, deployed: Deployed, sdk: SdkRunner) -> None:
    page.goto(f"/app/{deployed.app_id}")
    recent = page.get_by_role("region", name="Recent runs")
    recent.locator("tbody tr").first.wait_for()
    page.evaluate("() => { window.__sameDocument = true; }")
    fresh, = submit(sdk, deployed.app_id, (deployed.instance_id, 1))
    recent.locator(f'tr[data-key="{fresh}"]').wait_for()  # added at the top as it is queued
    assert recent.locator("tbody tr").first.get_attribute("data-key") == fresh
    wait_status(page, fresh, "succeeded")
    assert page.evaluate("() => window.__sameDocument") is True
