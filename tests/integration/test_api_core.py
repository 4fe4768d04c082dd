"""The HTTP API in-process on SQLite and PostgreSQL: auth, isolation, bad input, apps to runs."""

from __future__ import annotations

import time
from pathlib import Path

from integration.conftest import ECHO_APP, Api, make_bundle

TERMINAL = {"succeeded", "failed", "canceled"}


def wait_run(api: Api, app_id: str, run_id: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = api.get(f"/v1/applications/{app_id}/runs/{run_id}/metadata").json()
        if info["metadata"]["status_v2"] in TERMINAL:
            return info
        time.sleep(0.02)
    raise AssertionError(f"run {run_id} did not finish")


def test_health_needs_no_key(client) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/healthz").status_code == 200


def test_every_endpoint_needs_a_valid_key(client, api: Api) -> None:  # type: ignore[no-untyped-def]
    api.new_app("a1", push=False)
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer ry_key-x_y"}):
        for method, path in (("get", "/v1/applications"), ("get", "/v1/applications/a1"), ("post", "/v1/applications/a1/runs"),
                             ("delete", "/v1/applications/a1"), ("get", "/v1/admin/accounts")):
            r = getattr(client, method)(path, headers=headers)
            assert r.status_code == 401, (method, path, headers, r.text)
            assert "request_id" in r.json()
    assert api.get("/v1/applications/a1").status_code == 200


def test_accounts_do_not_see_each_other(api: Api, client) -> None:  # type: ignore[no-untyped-def]
    api.new_app("shared-name")
    acct = api.post("/v1/admin/accounts", json={"name": "team b"}).json()
    key_b = api.post(f"/v1/admin/accounts/{acct['id']}/keys", json={"name": "k", "role": "developer"}).json()["key"]
    b = Api(client, key_b)
    assert b.get("/v1/applications/shared-name").status_code == 404
    assert b.get("/v1/applications/shared-name/versions").status_code == 404
    assert b.post("/v1/applications/shared-name/runs", json={"input": {}}).status_code == 404
    assert b.get("/v1/applications").json() == []
    # B may use the same id for its own app, and A's app is untouched.
    assert b.post("/v1/applications", json={"id": "shared-name", "name": "mine"}).status_code == 200
    assert api.get("/v1/applications/shared-name").json()["name"] == "shared-name"
    # A developer key of B cannot manage accounts.
    assert b.post("/v1/admin/accounts", json={"name": "c"}).status_code == 403


def test_revoked_keys_stop_working(api: Api, client) -> None:  # type: ignore[no-untyped-def]
    issued = api.post("/v1/admin/accounts/default/keys", json={"role": "viewer"}).json()
    viewer = Api(client, issued["key"])
    assert viewer.get("/v1/applications").status_code == 200
    assert viewer.post("/v1/applications", json={"id": "x", "name": "x"}).status_code == 403
    assert api.delete(f"/v1/admin/accounts/default/keys/{issued['id']}").status_code == 204
    assert viewer.get("/v1/applications").status_code == 401


def test_unknown_resources_are_404(api: Api) -> None:
    api.new_app("a2")
    for path in ("/v1/applications/nope", "/v1/applications/a2/versions/nope", "/v1/applications/a2/instances/nope",
                 "/v1/applications/a2/runs/nope/metadata", "/v1/applications/a2/runs/nope", "/v1/applications/a2/runs/nope/logs"):
        r = api.get(path)
        assert r.status_code == 404, path
        assert "does not exist" in r.json()["error"]
    assert api.post("/v1/applications/a2/runs?instance_id=nope", json={"input": {}}).status_code == 404


def test_bad_bodies_name_the_problem(api: Api) -> None:
    r = api.post("/v1/applications", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and "json" in r.json()["error"].lower()
    r = api.post("/v1/applications", json={"id": "a3", "name": 5})
    assert r.status_code == 400 and "name" in r.json()["error"]
    r = api.post("/v1/applications", json={"id": "bad id with spaces", "name": "x"})
    assert r.status_code == 400 and "application id" in r.json()["error"]
    api.new_app("a3")
    r = api.post("/v1/applications/a3/runs", json={"input": {}, "options": "x"})
    assert r.status_code == 400 and "options" in r.json()["error"]
    r = api.post("/v1/applications/a3/runs", json={"input": {}, "configuration": {"queuing": {"priority": 12}}})
    assert r.status_code == 400 and "priority" in r.json()["error"]
    r = api.post("/v1/applications/a3/runs", json={"input": {}, "configuration": {"execution_class": "huge"}})
    assert r.status_code == 400 and "execution_class" in r.json()["error"]
    r = api.post("/v1/applications/a3/instances", json={"id": "i", "version_id": "missing"})
    assert r.status_code == 404
    assert api.post("/v1/applications", json={"id": "a3", "name": "again"}).status_code == 409
    assert len(api.get("/v1/applications").json()) == 1  # nothing was lost or duplicated


def test_unsafe_bundle_is_rejected_and_nothing_is_written_outside(api: Api, tmp_path: Path) -> None:
    api.new_app("a4", push=False)
    for evil in ("../evil", "../../evil", "/tmp/evil-abs-runyard"):
        r = api.push("a4", make_bundle({"main.py": "print(1)", evil: "x"}))
        assert r.status_code == 400, r.text
        assert "'..'" in r.json()["error"] or "absolute" in r.json()["error"]
    assert not list(tmp_path.rglob("evil")) and not Path("/tmp/evil-abs-runyard").exists()
    assert not Path("evil").exists()
    r = api.push("a4", make_bundle({"app.yaml": "type: python\n", "other.py": "x"}))
    assert r.status_code == 400 and "main.py" in r.json()["error"]
    assert api.post("/v1/applications/a4/versions", json={}).status_code == 409  # still nothing pushed


def test_activation_without_upload_is_a_conflict(api: Api) -> None:
    api.new_app("a5", push=False)
    r = api.put("/v1/applications/a5/binary", json={"requirements": {}})
    assert r.status_code == 409 and "upload" in r.json()["error"]


def test_signed_urls_are_bound_to_method_object_and_time(api: Api, client) -> None:  # type: ignore[no-untyped-def]
    api.new_app("a6", push=False)
    url = api.post("/v1/applications/a6/runs/uploadurl").json()["upload_url"]
    assert url.startswith("http")
    assert client.get(url.replace("method=PUT", "method=GET")).status_code == 403
    tampered = url.replace("uploads/upload-", "uploads/uploadx-")
    assert client.put(tampered, content=b"{}").status_code == 403
    assert client.put(url.replace("signature=", "signature=0"), content=b"{}").status_code == 403
    assert client.put(url, content=b'{"a": 1}').status_code == 200


def test_versions_instances_and_lists(api: Api) -> None:
    api.new_app("a7")
    v = api.post("/v1/applications/a7/versions", json={"id": "v1", "name": "first"}).json()
    assert v["executable"]["requirements"]["executable_type"] == "python"
    inst = api.post("/v1/applications/a7/instances", json={"id": "i1", "version_id": "v1", "configuration": {"options": {"a": "1"}}}).json()
    assert inst["configuration"] == {"options": {"a": "1"}} and inst["locked"] is False
    # 1.13.0 sends the whole object back with read-only keys; they are ignored.
    full = {**inst, "name": "renamed", "locked": True, "created_at": "2000-01-01T00:00:00Z"}
    updated = api.put("/v1/applications/a7/instances/i1", json=full).json()
    assert updated["name"] == "renamed" and updated["locked"] is False
    assert api.put("/v1/applications/a7/instances/i1/lock", json={"locked": True}).json()["locked"] is True
    assert api.delete("/v1/applications/a7/instances/i1").status_code == 409
    assert isinstance(api.get("/v1/applications/a7/versions").json(), list)
    paged = api.get("/v1/applications/a7/instances?pagereturn=true").json()
    assert [i["id"] for i in paged["items"]] == ["i1"]
    assert api.get("/v1/applications/a7/instances/latest").json()["id"] == "latest"


def test_a_run_executes_what_its_instance_points_at(api: Api, client) -> None:  # type: ignore[no-untyped-def]
    """A submission resolves the application, instance, version and executable in one read: each way of
    naming (or not naming) the instance, each missing piece, and every change seen by the next run."""
    archive_app = {**ECHO_APP, "app.yaml": "type: python\nfiles: [main.py]\nconfiguration:\n  content:\n    format: csv-archive\n"}
    api.new_app("t1")  # the first executable: JSON out
    assert api.post("/v1/applications/t1/versions", json={"id": "v1"}).status_code == 200
    assert api.push("t1", archive_app).status_code == 200  # the latest executable: csv-archive out
    assert api.post("/v1/applications/t1/instances", json={"id": "i1", "version_id": "v1"}).status_code == 200

    def submit(query: str = "") -> tuple[str, str, str]:
        response = api.post(f"/v1/applications/t1/runs{query}", json={"input": {"x": 1}})
        assert response.status_code == 200, response.text
        meta = api.get(f"/v1/applications/t1/runs/{response.json()['run_id']}/metadata").json()["metadata"]
        return meta["application_instance_id"], meta["application_version_id"], meta["format"]["output"]["type"]

    def refused(query: str = "", as_api: Api = api) -> tuple[int, str]:
        response = as_api.post(f"/v1/applications/t1/runs{query}", json={"input": {"x": 1}})
        return response.status_code, response.json()["error"]

    assert submit("?instance_id=i1") == ("i1", "v1", "json")
    assert submit() == ("latest", "", "csv-archive")
    assert submit("?instance_id=devint") == ("devint", "", "csv-archive")
    assert api.put("/v1/applications/t1", json={"default_instance": "i1"}).status_code == 200
    assert submit() == ("i1", "v1", "json")
    assert submit("?instance_id=latest") == ("latest", "", "csv-archive")
    # The instance moves to a version of the latest executable: the very next run follows it.
    assert api.post("/v1/applications/t1/versions", json={"id": "v2"}).status_code == 200
    assert api.put("/v1/applications/t1/instances/i1", json={"version_id": "v2"}).status_code == 200
    assert submit() == ("i1", "v2", "csv-archive")
    assert api.put("/v1/applications/t1/instances/i1", json={"version_id": "v1"}).status_code == 200
    assert submit("?instance_id=i1") == ("i1", "v1", "json")
    # Missing pieces are the same errors as on every other endpoint.
    assert refused("?instance_id=nope") == (404, "instance 'nope' of application 't1' does not exist")
    assert api.put("/v1/applications/t1", json={"default_instance": "gone"}).status_code == 200
    assert refused() == (404, "instance 'gone' of application 't1' does not exist")
    assert api.delete("/v1/applications/t1/versions/v1").status_code == 409  # i1 still runs it
    acct = api.post("/v1/admin/accounts", json={"name": "team b"}).json()
    other = Api(client, api.post(f"/v1/admin/accounts/{acct['id']}/keys", json={"role": "developer"}).json()["key"])
    assert refused("?instance_id=latest", as_api=other) == (404, "application 't1' does not exist")
    api.new_app("t2", push=False)
    nothing = api.post("/v1/applications/t2/runs", json={"input": {}})
    assert nothing.status_code == 409 and "no pushed executable" in nothing.json()["error"]


def test_pagination_walks_every_item_once(api: Api) -> None:
    for i in range(55):
        api.new_app(f"p{i:02d}", push=False)
    first = api.get("/v1/applications?pagereturn=true").json()
    assert len(first["items"]) == 50 and first["next_page_token"]
    second = api.get(f"/v1/applications?pagereturn=true&pagetoken={first['next_page_token']}").json()
    assert "next_page_token" not in second
    ids = [a["id"] for a in first["items"] + second["items"]]
    assert sorted(ids) == [f"p{i:02d}" for i in range(55)]
    assert len(api.get("/v1/applications").json()) == 55
    assert api.get("/v1/applications?pagereturn=true&pagetoken=garbage").status_code == 400


def test_run_list_of_an_app_the_caller_cannot_see_is_404(api: Api, client) -> None:  # type: ignore[no-untyped-def]
    api.new_app("listed", push=False)
    for query in ("", "?pagereturn=true"):
        assert api.get(f"/v1/applications/listed/runs{query}").json() == {"runs": []}  # no runs yet: 200, empty
        missing = api.get(f"/v1/applications/nope/runs{query}")
        assert missing.status_code == 404 and "application 'nope'" in missing.json()["error"]
    tracked = {"input": {}, "result": {"status": "succeeded"}}
    run_ids = [api.post("/v1/applications/listed/runs", json=tracked).json()["run_id"] for _ in range(2)]
    page = api.get("/v1/applications/listed/runs?pagereturn=true").json()
    assert [r["id"] for r in page["runs"]] == run_ids[::-1] and "next_page_token" not in page
    assert {r["status_v2"] for r in page["runs"]} == {"succeeded"} and page["runs"][0]["application_id"] == "listed"
    acct = api.post("/v1/admin/accounts", json={"name": "team b"}).json()
    other = Api(client, api.post(f"/v1/admin/accounts/{acct['id']}/keys", json={"role": "developer"}).json()["key"])
    hidden = other.get("/v1/applications/listed/runs?pagereturn=true")
    assert hidden.status_code == 404 and "application 'listed'" in hidden.json()["error"]
    assert other.post("/v1/applications", json={"id": "listed", "name": "mine"}).status_code == 200
    assert other.get("/v1/applications/listed/runs").json() == {"runs": []}  # its own app of the same id: not A's runs


def test_run_end_to_end_with_the_stub_executor(api: Api) -> None:
    api.new_app("a8")
    run_id = api.post("/v1/applications/a8/runs", json={"input": {"x": 1}, "name": "n"}).json()["run_id"]
    info = wait_run(api, "a8", run_id)
    meta = info["metadata"]
    assert meta["status_v2"] == "succeeded" and meta["status"] == "succeeded"
    assert meta["format"] == {"input": {"type": "json"}, "output": {"type": "json"}}
    assert meta["run_type"] == {"type": "standard"} and meta["error"] == ""
    assert meta["application_instance_id"] == "latest" and meta["input_size"] == 7
    result = api.get(f"/v1/applications/a8/runs/{run_id}").json()
    assert result["output"] == {"x": 1}
    assert api.get(f"/v1/applications/a8/runs/{run_id}/input").json() == {"x": 1}
    url = api.get(f"/v1/applications/a8/runs/{run_id}?format=url").json()["output"]["url"]
    assert api.client.get(url).json() == {"x": 1}


def test_idempotency_key_makes_one_run(api: Api) -> None:
    api.new_app("a9")
    headers = {"Idempotency-Key": "abc-123"}
    first = api.post("/v1/applications/a9/runs", json={"input": {}}, headers=headers).json()["run_id"]
    again = api.post("/v1/applications/a9/runs", json={"input": {}}, headers=headers).json()["run_id"]
    assert first == again
    assert len(api.get("/v1/applications/a9/runs").json()["runs"]) == 1


def test_deleting_an_app_removes_its_runs_and_payloads(api: Api, server_settings) -> None:  # type: ignore[no-untyped-def]
    api.new_app("a10")
    run_id = api.post("/v1/applications/a10/runs", json={"input": {"big": "x" * 1000}}).json()["run_id"]
    wait_run(api, "a10", run_id)
    blobs = server_settings.data_dir / "blobs" / "runs" / run_id
    assert blobs.exists()
    assert api.delete("/v1/applications/a10").status_code == 204
    assert api.get("/v1/applications/a10").status_code == 404
    assert not blobs.exists()
