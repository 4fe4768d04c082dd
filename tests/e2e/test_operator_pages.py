"""The operator pages: the queue (live), keys and accounts (admins only, refused by the API for others),
and webhooks with their delivery log (a real receiver on a loopback port)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from compat.harness import SdkRunner, start_server
from runyard.testing.receiver import Receiver, receiving

from . import builders
from .conftest import TIMEOUT_MS, VIEWPORT, ConsoleServer, sign_in


def cells(row: Any) -> list[str]:
    row.wait_for()
    return [c.inner_text().strip() for c in row.get_by_role("cell").all()]


def wait_until(check: Any, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def app(console_server: ConsoleServer, sdk113_venv_e2e: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    work = tmp_path_factory.mktemp("operator-data")
    return builders.deployed_app(SdkRunner("1.13.0", sdk113_venv_e2e, console_server.server, work), work)


def test_queue_page_shows_queued_and_running_runs_live(page: Any, console_server: ConsoleServer, app: dict[str, Any],
                                                       shot: Any, axe: Any) -> None:
    server = console_server.server
    page.goto("/queue")
    page.get_by_role("heading", name="Queue", level=1).wait_for()
    page.locator(".live-indicator[data-state='live']").wait_for()
    page.get_by_text("The queue is empty").wait_for()
    axe(page, context="empty queue page")
    submitted: list[str] = []
    try:
        # The default class runs two at once: two sleepers run, the next two wait, priority 1 ahead of 6.
        for name, priority in (("sleeper-a", 6), ("sleeper-b", 6), ("waits-at-6", 6), ("jumps-to-1", 1)):
            r = server.api("POST", f"v1/applications/{app['app_id']}/runs", params={"instance_id": app["base"]},
                           json={"input": {"sleep": 120, "x": 1}, "name": name, "configuration": {"queuing": {"priority": priority}}})
            assert r.status_code == 200, r.text
            submitted.append(r.json()["run_id"])
        section = page.locator("section.queue-class").first
        queued = section.get_by_role("table", name=re.compile("^Queued in"))
        queued.get_by_role("link", name="jumps-to-1").wait_for()  # no reload: the event stream brought it
        queued.get_by_role("link", name="waits-at-6").wait_for()
        running = section.get_by_role("table", name=re.compile("^Running in"))
        running.get_by_role("link", name="sleeper-b").wait_for()
        assert "2 running, 2 queued" in section.get_by_role("heading").inner_text()
        rows = queued.locator("tbody tr")
        assert [cells(rows.nth(i))[:4] for i in range(2)] == [["1", "jumps-to-1", "○ queued", "1"], ["2", "waits-at-6", "○ queued", "6"]]
        axe(page, context="queue page")
        shot(page, "queue")
        # Canceling the waiting run takes it off the page, live.
        assert server.api("PATCH", f"v1/applications/{app['app_id']}/runs/{submitted[3]}/cancel").status_code == 200
        queued.get_by_role("link", name="jumps-to-1").wait_for(state="detached")
    finally:
        for run_id in submitted:
            server.api("PATCH", f"v1/applications/{app['app_id']}/runs/{run_id}/cancel")
    page.get_by_text("The queue is empty").wait_for()
    assert page.errors == []


def test_keys_and_accounts_for_admins(page: Any, console_server: ConsoleServer, shot: Any, axe: Any) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Admin").click()
    page.get_by_role("heading", name="Accounts", level=1).wait_for()
    page.get_by_role("link", name="Manage keys of Default account").wait_for()
    axe(page, context="accounts page")
    shot(page, "accounts")
    page.get_by_role("link", name="Manage keys of Default account").click()
    page.get_by_role("heading", name="API keys of default", level=1).wait_for()
    page.get_by_label("Key name").fill("ci robot")
    page.get_by_label("Role").select_option("operator")
    page.get_by_role("button", name="Create key").click()
    issued = page.get_by_label("New API key").input_value()
    assert issued.startswith("ry")
    keys = page.get_by_role("table", name="API keys")
    row = keys.get_by_role("row").filter(has_text="ci robot")
    assert cells(row)[2:5:2] == ["operator", "✓ active"]
    assert console_server.server.api("GET", "v1/applications", key=issued).status_code == 200
    axe(page, context="keys page")
    shot(page, "keys")
    # Revoking asks once more (keyboard: Enter twice), then the key no longer works.
    revoke = row.get_by_role("button", name="Revoke ci robot")
    revoke.focus()
    page.keyboard.press("Enter")
    row.get_by_role("button", name="Confirm: revoke ci robot").wait_for()
    page.keyboard.press("Enter")
    keys.get_by_role("row").filter(has_text="ci robot").get_by_text("revoked").wait_for()
    wait_until(lambda: console_server.server.api("GET", "v1/applications", key=issued).status_code == 401, timeout=30)
    shot(page, "key-revoked")
    assert page.errors == []


def test_admin_pages_are_hidden_from_a_viewer_and_refused_by_the_api(viewer_page: Any, shot: Any, axe: Any) -> None:
    page = viewer_page
    nav = page.get_by_role("navigation", name="Main")
    assert nav.get_by_role("link", name="Admin").count() == 0
    page.goto("/admin/accounts/default")
    page.get_by_role("alert").filter(has_text="Admins only").wait_for()
    assert page.get_by_role("button", name="Create key").count() == 0
    axe(page, context="admin page for a viewer")
    shot(page, "admin-refused")
    # The API refuses the viewer's session too, whatever the page shows.
    answer = page.evaluate("""async () => {
        const s = await (await fetch('/v1/console/session')).json();
        const list = await fetch('/v1/admin/accounts');
        const make = await fetch('/v1/admin/accounts/default/keys', {method: 'POST', headers: {'Content-Type': 'application/json',
            'X-CSRF-Token': s.csrf_token}, body: JSON.stringify({name: 'sneaky', role: 'admin'})});
        return [list.status, make.status, (await make.json()).error];
    }""")
    assert answer[:2] == [403, 403] and "admin" in answer[2]


# -------------------------------------------------------------------------------------- webhooks

@pytest.fixture(scope="module")
def hook_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A server whose webhooks may target loopback (the receiver lives in this process)."""
    base = tmp_path_factory.mktemp("webhook-console")
    server = start_server(backend="sqlite", base_dir=base, env_dir=tmp_path_factory.mktemp("webhook-envs"),
                          env={"RUNYARD_WEBHOOKS__ALLOW_LOOPBACK": "true"})
    viewer = server.api("POST", "v1/admin/accounts/default/keys", json={"name": "viewer", "role": "viewer"}).json()["key"]
    server.viewer_key = viewer  # type: ignore[attr-defined]
    yield server
    server.stop()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as r:
        yield r


def hook_page(browser: Any, server: Any, key: str) -> Any:
    context = browser.new_context(viewport=VIEWPORT, base_url=server.url)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.errors = []  # type: ignore[attr-defined]
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    sign_in(page, key)
    return page


def test_webhooks_page_shows_deliveries_and_redelivers(browser: Any, hook_server: Any, receiver: Receiver, shot: Any, axe: Any) -> None:
    page = hook_page(browser, hook_server, hook_server.key)
    try:
        page.goto("/webhooks")
        page.get_by_text("No webhooks yet").wait_for()
        page.get_by_label("Endpoint URL").fill(receiver.url)
        page.get_by_label("experiment.status").check()
        page.get_by_role("button", name="Create webhook").click()
        listing = page.get_by_role("table", name="Webhooks")
        row = listing.get_by_role("row").filter(has_text=receiver.url)
        assert cells(row)[2:4] == ["run.status, experiment.status", "✓ enabled"]
        axe(page, context="webhooks page")
        shot(page, "webhooks")
        row.get_by_role("link").click()
        page.get_by_role("heading", name=re.compile("^Webhook "), level=1).wait_for()
        page.get_by_text("No deliveries yet").wait_for()
        page.get_by_role("button", name="Send a test event").click()
        receiver.wait_for(1)
        deliveries = page.get_by_role("table", name="Deliveries, newest first")
        delivered = deliveries.locator("tbody tr").first
        delivered.locator("[data-state='succeeded']").wait_for()
        assert cells(delivered)[1:6] == ["run.status", "test event", "✓ succeeded", "1", "200"]
        # The attempts, opened from the keyboard.
        delivered.locator("summary").focus()
        page.keyboard.press("Enter")
        attempt = delivered.get_by_role("table").locator("tbody tr").first
        assert cells(attempt)[0] == "1" and cells(attempt)[2] == "200"
        axe(page, context="webhook deliveries")
        shot(page, "webhook-deliveries")
        receiver.default.status = 200
        delivered.get_by_role("button", name=re.compile("^Redeliver")).click()
        receiver.wait_for(2)
        deliveries.locator("tbody tr").first.get_by_role("cell").nth(4).filter(has_text="2").wait_for()
        assert page.errors == []
    finally:
        page.context.close()


def test_webhooks_page_for_a_viewer_has_no_actions(browser: Any, hook_server: Any, shot: Any) -> None:
    hook_server.api("POST", "v1/webhooks", json={"endpoint_url": "http://127.0.0.1:9/hook", "event_types": ["run.status"], "id": "viewer-sees"})
    page = hook_page(browser, hook_server, hook_server.viewer_key)
    try:
        page.goto("/webhooks/viewer-sees")
        page.get_by_role("heading", name="Webhook viewer-sees", level=1).wait_for()
        page.get_by_role("heading", name="Deliveries").wait_for()
        assert page.get_by_role("button", name="Send a test event").count() == 0
        page.goto("/webhooks")
        page.get_by_role("link", name="viewer-sees").wait_for()
        assert page.get_by_role("button", name="Create webhook").count() == 0
        refused = requests.post(f"{hook_server.url}/v1/webhooks/viewer-sees/test",
                                headers={"Authorization": f"Bearer {hook_server.viewer_key}"}, timeout=10)
        assert refused.status_code == 403
        shot(page, "webhooks-viewer")
    finally:
        page.context.close()


