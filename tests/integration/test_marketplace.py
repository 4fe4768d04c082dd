"""The marketplace in-process on SQLite and PostgreSQL: who may publish, bad input, retraction, and
that a subscription reaches the published executables only."""

from __future__ import annotations

from fastapi.testclient import TestClient

from integration.conftest import Api
from integration.test_api_core import wait_run


def _account(api: Api, client: TestClient, name: str) -> tuple[str, Api]:
    email = f"admin@{name}.example"
    org = api.post("/v1/organization", json={"name": name, "admins": [email]}).json()
    key = api.post(f"/v1/organization/{org['id']}/members/{email}/keys", json={}).json()["key"]
    return org["id"], Api(client, key)


def _publisher(api: Api, client: TestClient) -> tuple[str, Api]:
    a_id, a = _account(api, client, "pub")
    a.new_app("solver")
    assert a.post("/v1/applications/solver/versions", json={"id": "v1"}).status_code == 200
    made = a.post(f"/v1/marketplace/partners/{a_id}/apps", json={"id": "solver", "ref_app_id": "solver", "title": "Solver"})
    assert made.status_code == 200, made.text
    assert made.json()["state"] == "pre-release"
    return a_id, a


def test_publishing_is_for_the_partner_itself(api: Api, client: TestClient) -> None:
    a_id, a = _publisher(api, client)
    b_id, b = _account(api, client, "other")
    body = {"id": "x", "ref_app_id": "solver", "title": "t"}
    assert b.post(f"/v1/marketplace/partners/{a_id}/apps", json=body).status_code == 403
    assert b.post(f"/v1/marketplace/partners/{b_id}/apps", json=body).status_code == 404  # A's app is not B's
    assert b.put(f"/v1/marketplace/partners/{a_id}/apps/solver", json={"title": "mine"}).status_code == 403
    versions = f"/v1/marketplace/partners/{a_id}/apps/solver/versions"
    assert b.post(versions, json={"id": "m1", "change_log": [], "ref_app_version_id": "v1"}).status_code == 403
    assert a.post(versions, json={"id": "m1", "change_log": [], "ref_app_version_id": "nope"}).status_code == 404
    assert b.get(f"/v1/marketplace/partners/{a_id}/apps/solver").json()["title"] == "Solver"
    viewer = api.post(f"/v1/admin/accounts/{a_id}/keys", json={"role": "viewer"}).json()["key"]
    assert Api(client, viewer).post(f"/v1/marketplace/partners/{a_id}/apps", json=body).status_code == 403


def test_bad_input_is_a_clear_400(api: Api, client: TestClient) -> None:
    a_id, a = _publisher(api, client)
    apps = f"/v1/marketplace/partners/{a_id}/apps"
    for body, word in (({"ref_app_id": "solver"}, "title"), ({"ref_app_id": "solver", "title": "t", "categories": "x"}, "categories"),
                       ({"title": "t"}, "ref_app_id"), ({"id": "bad id!", "ref_app_id": "solver", "title": "t"}, "id")):
        r = a.post(apps, json=body)
        assert r.status_code == 400 and word in r.json()["error"], (body, r.text)
    assert a.post(apps, json={"id": "solver", "ref_app_id": "solver", "title": "t"}).status_code == 409
    r = a.put(f"{apps}/solver", json={"state": "gone"})
    assert r.status_code == 400 and "state" in r.json()["error"]
    r = a.post("/v1/marketplace/subscriptions", json={"subscription_id": "nobody-nothing"})
    assert r.status_code == 404 and "nobody-nothing" in r.json()["error"]
    assert a.post("/v1/marketplace/subscriptions", json={}).status_code == 400


def test_subscription_runs_published_versions_only(api: Api, client: TestClient) -> None:
    a_id, a = _publisher(api, client)
    _, b = _account(api, client, "sub")
    a.post(f"/v1/marketplace/partners/{a_id}/apps/solver/versions", json={"id": "m1", "change_log": ["one"], "ref_app_version_id": "v1"})
    assert a.push("solver").status_code == 200  # a newer executable, never published
    a.post("/v1/applications/solver/versions", json={"id": "v2"})
    sub_id = f"{a_id}-solver"
    sub = b.post("/v1/marketplace/subscriptions", json={"subscription_id": sub_id})
    assert sub.status_code == 200, sub.text
    assert b.post("/v1/marketplace/subscriptions", json={"subscription_id": sub_id}).status_code == 409
    app = b.get(f"/v1/applications/{sub_id}").json()
    assert app["type"] == "subscription" and app["subscription_id"] == sub_id
    assert [v["id"] for v in b.get(f"/v1/applications/{sub_id}/versions").json()] == ["m1"]
    published = a.get("/v1/applications/solver/versions/v1").json()["executable"]["id"]
    assert b.get(f"/v1/applications/{sub_id}/versions/m1").json()["executable"]["id"] == published
    run_id = b.post(f"/v1/applications/{sub_id}/runs", json={"input": {"b": 1}}).json()["run_id"]
    assert wait_run(b, sub_id, run_id)["metadata"]["status_v2"] == "succeeded"
    assert b.get("/v1/applications/solver").status_code == 404
    assert b.get(f"/v1/applications/{sub_id}/binary").status_code == 409
    assert a.get(f"/v1/applications/solver/runs/{run_id}").status_code == 404

    # Retracted: no new subscriptions; the existing one keeps running.
    assert a.put(f"/v1/marketplace/partners/{a_id}/apps/solver", json={"state": "retracted"}).json()["state"] == "retracted"
    _, c = _account(api, client, "late")
    r = c.post("/v1/marketplace/subscriptions", json={"subscription_id": sub_id})
    assert r.status_code == 409 and "retracted" in r.json()["error"]
    again = b.post(f"/v1/applications/{sub_id}/runs", json={"input": {"b": 2}}).json()["run_id"]
    assert wait_run(b, sub_id, again)["metadata"]["status_v2"] == "succeeded"

    assert b.delete(f"/v1/marketplace/subscriptions/{sub_id}").status_code == 204
    assert b.get(f"/v1/applications/{sub_id}").status_code == 404
    assert b.get("/v1/marketplace/subscriptions").json() == []
