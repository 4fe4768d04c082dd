"""The audit log: who did what to which resource, when and from where; admins read it, nobody edits it."""

from __future__ import annotations

from integration.conftest import Api

from .apps import TOOL_APP, steps


def test_the_audit_log_shows_a_push_a_run_a_cancel_and_a_key_revocation_with_who(start_server, gates) -> None:  # type: ignore[no-untyped-def]
    api = start_server()
    client = api.client
    dev_key = api.post("/v1/admin/accounts/default/keys", json={"role": "developer", "name": "ci-pipeline"}).json()
    ops_key = api.post("/v1/admin/accounts/default/keys", json={"role": "operator", "name": "on-call"}).json()
    dev, ops = Api(client, dev_key["key"]), Api(client, ops_key["key"])
    assert dev.post("/v1/applications", json={"id": "audited", "name": "audited"}).status_code == 200
    assert dev.push("audited", TOOL_APP).status_code == 200
    run_id = ops.post("/v1/applications/audited/runs", json={"input": steps({"wait_file": str(gates / "never")})},
                      headers={"X-Request-Id": "req-run-1"}).json()["run_id"]
    assert ops.patch(f"/v1/applications/audited/runs/{run_id}/cancel").status_code == 200
    assert api.delete(f"/v1/admin/accounts/default/keys/{ops_key['id']}").status_code == 204
    assert ops.get("/v1/applications").status_code == 401  # revoked: and its failed calls are not attributed

    page = api.get("/v1/audit")
    assert page.status_code == 200, page.text
    events = page.json()["items"]
    ids = [e["id"] for e in events]
    assert ids == sorted(ids, reverse=True)  # newest first

    def find(action: str, resource: str) -> dict:
        found = [e for e in events if e["action"] == action and e["resource"] == resource]
        assert len(found) == 1, (action, resource, events)
        return found[0]

    push = find("PUT /v1/applications/{app_id}/binary", "/v1/applications/audited/binary")
    assert push["key"] == {"id": dev_key["id"], "name": "ci-pipeline", "role": "developer"} and push["status"] == 200
    run = find("POST /v1/applications/{app_id}/runs", "/v1/applications/audited/runs")
    assert run["key"]["name"] == "on-call" and run["request_id"] == "req-run-1"
    cancel = find("PATCH /v1/applications/{app_id}/runs/{run_id}/cancel", f"/v1/applications/audited/runs/{run_id}/cancel")
    assert cancel["key"]["id"] == ops_key["id"]
    revoke = find("DELETE /v1/admin/accounts/{account_id}/keys/{key_id}", f"/v1/admin/accounts/default/keys/{ops_key['id']}")
    assert revoke["key"]["name"] == "RUNYARD_API_KEY" and revoke["status"] == 204
    for event in (push, run, cancel, revoke):
        assert event["client"] and event["at"].endswith("Z")
    assert not any(e["action"].startswith("GET ") for e in events)  # reads are not state changes


def test_only_admins_read_the_audit_log_and_nobody_edits_it(api: Api, client) -> None:  # type: ignore[no-untyped-def]
    api.post("/v1/applications", json={"id": "a", "name": "a"})
    dev = Api(client, api.post("/v1/admin/accounts/default/keys", json={"role": "developer"}).json()["key"])
    assert dev.get("/v1/audit").status_code == 403
    for method in ("post", "put", "patch", "delete"):
        assert getattr(api, method)("/v1/audit").status_code == 405
    # Another account's admin sees only its own account's events.
    other = api.post("/v1/admin/accounts", json={"name": "team b"}).json()
    b_admin = Api(client, api.post(f"/v1/admin/accounts/{other['id']}/keys", json={"role": "admin"}).json()["key"])
    assert b_admin.get("/v1/audit").json()["items"] == []
    assert api.get("/v1/audit", params={"limit": 0}).status_code == 400
    assert api.get("/v1/audit", params={"before": -1}).status_code == 400
    first = api.get("/v1/audit", params={"limit": 1}).json()
    older = api.get("/v1/audit", params={"limit": 1, "before": first["next_before"]}).json()["items"]
    assert older and older[0]["id"] < first["items"][0]["id"]
