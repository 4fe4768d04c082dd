"""Console sessions over the public API: the cookie stands in for the key, state changes need the CSRF
token and the console's own origin, roles and accounts hold, and sessions end (sign-out, revoked key,
expiry). On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from http.cookies import SimpleCookie
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from runyard.server.app import create_app
from runyard.settings import Settings
from runyard.storage.db import ConsoleSession

from .conftest import ADMIN_KEY, Api


def sign_in(client: TestClient, key: str) -> dict:
    response = client.post("/v1/console/session", json={"api_key": key})
    assert response.status_code == 201, response.text
    return response.json()


def new_key(api: Api, role: str, account: str = "default") -> str:
    response = api.post(f"/v1/admin/accounts/{account}/keys", json={"name": f"{role} key", "role": role})
    assert response.status_code == 200, response.text
    return response.json()["key"]


def set_cookie(response) -> SimpleCookie:  # type: ignore[no-untyped-def]
    jar: SimpleCookie = SimpleCookie()
    jar.load(response.headers["set-cookie"])
    return jar


def test_sign_in_sets_an_http_only_strict_cookie_that_authenticates(client: TestClient, api: Api) -> None:
    refused = client.post("/v1/console/session", json={"api_key": "ry_nokey_" + "x" * 43})
    assert refused.status_code == 401 and "not valid" in refused.json()["error"]
    assert client.post("/v1/console/session", json={}).status_code == 400
    assert client.get("/v1/console/session").status_code == 401

    response = client.post("/v1/console/session", json={"api_key": ADMIN_KEY})
    assert response.status_code == 201
    morsel = set_cookie(response)["runyard_session"]
    assert morsel["httponly"] and morsel["samesite"].lower() == "strict" and morsel["path"] == "/"
    assert morsel["max-age"] == str(12 * 3600) and not morsel["secure"]
    body = response.json()
    assert body["account_id"] == "default" and body["role"] == "admin" and body["csrf_token"]
    assert body["key_name"] == "RUNYARD_API_KEY" and body["expires_at"].endswith("Z")
    assert client.get("/v1/console/session").json() == body
    assert client.get("/v1/applications").status_code == 200  # the cookie, no Authorization header


def test_cookie_is_secure_over_tls(server_settings: Settings) -> None:
    with TestClient(create_app(server_settings), base_url="https://testserver") as client:
        response = client.post("/v1/console/session", json={"api_key": ADMIN_KEY})
    assert set_cookie(response)["runyard_session"]["secure"]


def test_state_changes_need_the_csrf_token_and_our_origin(client: TestClient) -> None:
    csrf = sign_in(client, ADMIN_KEY)["csrf_token"]
    missing = client.post("/v1/applications", json={"id": "a1", "name": "a1"})
    assert missing.status_code == 403 and "X-CSRF-Token" in missing.json()["error"]
    wrong = client.post("/v1/applications", json={"id": "a1", "name": "a1"}, headers={"X-CSRF-Token": "guess"})
    assert wrong.status_code == 403 and "does not match" in wrong.json()["error"]
    foreign = client.post("/v1/applications", json={"id": "a1", "name": "a1"},
                          headers={"X-CSRF-Token": csrf, "Origin": "https://evil.example"})
    assert foreign.status_code == 403 and "https://evil.example" in foreign.json()["error"]
    assert client.get("/v1/applications/a1").status_code == 404  # nothing was made by the refused calls
    ok = client.post("/v1/applications", json={"id": "a1", "name": "a1"},
                     headers={"X-CSRF-Token": csrf, "Origin": "http://testserver"})
    assert ok.status_code == 200, ok.text
    assert client.delete("/v1/applications/a1", headers={"X-CSRF-Token": csrf}).status_code == 204


def test_roles_and_accounts_hold_under_a_session(client: TestClient, api: Api, server_settings: Settings) -> None:
    api.new_app("a1")
    run_id = api.post("/v1/applications/a1/runs", json={"input": {"x": 1}}).json()["run_id"]
    csrf = sign_in(client, new_key(api, "viewer"))["csrf_token"]
    assert client.get("/v1/applications/a1/runs").status_code == 200
    cancel = client.patch(f"/v1/applications/a1/runs/{run_id}/cancel", headers={"X-CSRF-Token": csrf})
    assert cancel.status_code == 403 and "operator" in cancel.json()["error"]

    other = api.post("/v1/admin/accounts", json={"name": "other team"}).json()["id"]
    with TestClient(create_app(server_settings)) as second:
        sign_in(second, new_key(api, "admin", other))
        assert second.get("/v1/applications/a1").status_code == 404
        assert [a["id"] for a in second.get("/v1/applications").json()] == []


def test_sessions_end_on_sign_out_revocation_and_expiry(client: TestClient, api: Api) -> None:
    csrf = sign_in(client, ADMIN_KEY)["csrf_token"]
    token = client.cookies["runyard_session"]
    signed_out = client.delete("/v1/console/session", headers={"X-CSRF-Token": csrf})
    assert signed_out.status_code == 204 and 'runyard_session=""' in signed_out.headers["set-cookie"]
    client.cookies.set("runyard_session", token)  # a copy of the old cookie is worth nothing now
    assert client.get("/v1/applications").status_code == 401
    client.cookies.clear()

    key = new_key(api, "developer")
    key_id = key.split("_")[1]
    sign_in(client, key)
    assert client.get("/v1/applications").status_code == 200
    assert api.delete(f"/v1/admin/accounts/default/keys/{key_id}").status_code == 204
    ended = client.get("/v1/applications")
    assert ended.status_code == 401 and "sign in again" in ended.json()["error"]

    sign_in(client, ADMIN_KEY)
    platform = client.app.state.platform  # type: ignore[attr-defined]
    with platform.db.session() as s:  # twelve hours later
        s.execute(update(ConsoleSession).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    assert client.get("/v1/console/session").status_code == 401


@pytest.mark.parametrize("path", ["/ui/x/../../__init__.py", "/ui/x/%2e%2e/%2e%2e/__init__.py", "/ui/x/index.html"])
def test_assets_stay_inside_the_console_folder(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 404


def test_assets_are_cached_for_good_under_their_version(client: TestClient, tmp_path: Path) -> None:
    from runyard.console import asset_version

    page = client.get("/app/a1/run/r1?view=details")
    assert page.status_code == 200 and f"/ui/{asset_version()}/js/main.js" in page.text
    assert page.headers["cache-control"] == "no-cache"
    js = client.get(f"/ui/{asset_version()}/js/main.js")
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    assert "immutable" in js.headers["cache-control"]
    assert "immutable" not in client.get("/ui/old/js/main.js").headers["cache-control"]
