"""The console's frame: sign-in, the layout, the session cookie, CSRF protection and sign-out."""

from __future__ import annotations

import time
from typing import Any

import requests

from .conftest import ConsoleServer

NAV = ["Applications", "Runs", "Experiments", "Input sets", "Queue", "Webhooks", "Admin"]


def test_sign_in_layout_cookie_csrf_and_sign_out(new_page: Any, console_server: ConsoleServer, shot: Any, axe: Any) -> None:
    page = new_page()
    page.goto("/apps")
    page.wait_for_url("**/sign-in?next=%2Fapps")
    page.get_by_role("heading", name="Sign in to Runyard").wait_for()
    assert page.title() == "Sign in · Runyard"
    axe(page, context="sign-in page")
    shot(page, "sign-in")

    page.get_by_label("API key").fill("ry_nosuchkey_" + "x" * 40)
    page.get_by_role("button", name="Sign in").click()
    alert = page.get_by_role("alert")
    alert.wait_for()
    assert "not valid" in alert.inner_text()
    shot(page, "sign-in-refused")

    page.get_by_label("API key").fill(console_server.admin_key)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/apps")  # back where the user was going
    page.get_by_role("heading", name="Applications", level=1).wait_for()
    nav = page.get_by_role("navigation", name="Main")
    assert [link.inner_text() for link in nav.get_by_role("link").all()] == NAV
    assert nav.get_by_role("link", name="Applications").get_attribute("aria-current") == "page"
    banner = page.get_by_role("banner")
    assert "default" in banner.inner_text() and "admin" in banner.inner_text()
    assert page.get_by_role("main").count() == 1
    assert page.title() == "Applications · Runyard"
    axe(page, context="applications page")
    shot(page, "signed-in")

    cookie = next(c for c in page.context.cookies() if c["name"] == "runyard_session")
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    assert cookie["secure"] is False  # plain HTTP on loopback; under TLS the cookie is Secure
    assert cookie["path"] == "/"
    assert 11.9 * 3600 < cookie["expires"] - time.time() <= 12 * 3600 + 60
    assert page.evaluate("() => document.cookie") == ""  # not readable by scripts

    # A state-changing call with the cookie but without the CSRF header is refused, naming the problem.
    refused = page.evaluate("""async () => {
        const r = await fetch('/v1/applications', {method: 'POST', headers: {'Content-Type': 'application/json'},
                                                   body: JSON.stringify({id: 'csrf-probe', name: 'csrf-probe'})});
        return {status: r.status, body: await r.json()};
    }""")
    assert refused["status"] == 403
    assert "X-CSRF-Token" in refused["body"]["error"]
    assert console_server.server.api("GET", "v1/applications/csrf-probe").status_code == 404
    # With the session's token, the same call goes through (the key's role allows it).
    allowed = page.evaluate("""async () => {
        const s = await (await fetch('/v1/console/session')).json();
        const r = await fetch('/v1/applications', {method: 'POST', headers: {'Content-Type': 'application/json',
            'X-CSRF-Token': s.csrf_token}, body: JSON.stringify({id: 'csrf-probe', name: 'csrf-probe'})});
        return r.status;
    }""")
    assert allowed == 200
    assert console_server.server.api("DELETE", "v1/applications/csrf-probe").status_code == 204

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/sign-in")
    page.get_by_label("API key").wait_for()
    assert not [c for c in page.context.cookies() if c["name"] == "runyard_session"]
    # The old cookie is dead on the server too, not only forgotten by the browser.
    stale = requests.get(f"{console_server.url}/v1/applications", cookies={"runyard_session": cookie["value"]}, timeout=10)
    assert stale.status_code == 401
    page.goto("/apps")
    page.wait_for_url("**/sign-in?next=%2Fapps")
    assert page.errors == []


def test_console_urls_serve_the_page_and_never_shadow_the_api(console_server: ConsoleServer) -> None:
    for path in ("/", "/sign-in", "/apps", "/app/a1", "/app/a1/run/r1?view=details", "/runs", "/queue",
                 "/experiments/batch/x", "/admin", "/webhooks", "/input-sets"):
        r = requests.get(console_server.url + path, timeout=10)
        assert r.status_code == 200, path
        assert r.headers["content-type"].startswith("text/html"), path
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
        assert 'type="module"' in r.text
    assert requests.get(console_server.url + "/v1/applications", timeout=10).status_code == 401
    assert requests.get(console_server.url + "/healthz", timeout=10).status_code == 200
    assert requests.get(console_server.url + "/nothing-here", timeout=10).status_code == 404
    assert f"console: {console_server.url}/" in console_server.server.log_tail(200)  # `runyard serve` says where
