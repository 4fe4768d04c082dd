"""Organizations (v1/organization) on SQLite and PostgreSQL: who may do what, members and their keys,
and that deleting one removes everything it held, blobs included, and nothing of anyone else's."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from integration.conftest import ADMIN_KEY, Api
from integration.test_api_core import wait_run
from runyard.server.app import create_app
from runyard.services import blob_keys
from runyard.settings import Settings
from runyard.storage.db import (
    Account,
    AccountMember,
    ApiKey,
    Application,
    Bundle,
    Event,
    Run,
    Upload,
    Webhook,
)


def _org(api: Api, name: str = "Acme", admins: list[str] | None = None) -> dict:
    r = api.post("/v1/organization", json={"name": name, "admins": admins or ["Boss@Acme.example"]})
    assert r.status_code == 200, r.text
    return r.json()


def _member_key(api: Api, org_id: str, email: str) -> str:
    r = api.post(f"/v1/organization/{org_id}/members/{email}/keys", json={})
    assert r.status_code == 200, r.text
    return r.json()["key"]


def test_create_get_update_with_members_and_roles(api: Api, client: TestClient) -> None:
    org = _org(api, admins=["Boss@Acme.example", "second@acme.example"])
    assert org["name"] == "Acme" and org["id"]
    assert org["members"] == [
        {"email": "boss@acme.example", "role": "admin", "pending_invite": True},
        {"email": "second@acme.example", "role": "admin", "pending_invite": True},
    ]
    key = _member_key(api, org["id"], "boss@acme.example")
    boss = Api(client, key)
    got = boss.get(f"/v1/organization/{org['id']}").json()
    assert got["members"][0] == {"email": "boss@acme.example", "role": "admin", "pending_invite": False}
    assert got["members"][1]["pending_invite"] is True

    # 1.13.0's update: the whole object back, name replaced, read-only id included.
    renamed = boss.put(f"/v1/organization/{org['id']}", json={**got, "id": "ignored", "name": "Acme Ltd"}).json()
    assert renamed["name"] == "Acme Ltd" and renamed["members"] == got["members"]

    added = boss.post(f"/v1/organization/{org['id']}/members", json={"email": "viewer@acme.example", "role": "viewer"})
    assert {"email": "viewer@acme.example", "role": "viewer", "pending_invite": True} in added.json()["members"]
    viewer = Api(client, _member_key(boss, org["id"], "viewer@acme.example"))
    assert viewer.get(f"/v1/organization/{org['id']}").status_code == 200
    assert viewer.put(f"/v1/organization/{org['id']}", json={"name": "mine"}).status_code == 403
    assert viewer.post(f"/v1/organization/{org['id']}/members/x@acme.example/keys", json={}).status_code == 403

    # A run made with a member's key carries the member's email.
    boss.new_app("member-app")
    run_id = boss.post("/v1/applications/member-app/runs", json={"input": {"a": 1}}).json()["run_id"]
    assert wait_run(boss, "member-app", run_id)["user_email"] == "boss@acme.example"

    # Removing a member revokes their keys at once.
    assert boss.delete(f"/v1/organization/{org['id']}/members/viewer@acme.example").status_code == 204
    assert viewer.get(f"/v1/organization/{org['id']}").status_code == 401


def test_who_may_create_read_and_delete(api: Api, client: TestClient) -> None:
    viewer_key = api.post("/v1/admin/accounts/default/keys", json={"role": "viewer"}).json()["key"]
    r = Api(client, viewer_key).post("/v1/organization", json={"name": "x", "admins": ["a@b.example"]})
    assert r.status_code == 403 and "admin" in r.json()["error"]

    a, b = _org(api, "A", ["a@a.example"]), _org(api, "B", ["b@b.example"])
    a_admin = Api(client, _member_key(api, a["id"], "a@a.example"))
    # Another account's organization does not exist for it, whatever the verb.
    assert a_admin.get(f"/v1/organization/{b['id']}").status_code == 404
    assert a_admin.put(f"/v1/organization/{b['id']}", json={"name": "mine"}).status_code == 404
    assert a_admin.delete(f"/v1/organization/{b['id']}").status_code == 404
    assert a_admin.post(f"/v1/organization/{b['id']}/members/b@b.example/keys", json={}).status_code == 404
    assert a_admin.get("/v1/organization/default").status_code == 404
    # Only the server's admins (the default account's) create organizations.
    assert a_admin.post("/v1/organization", json={"name": "C", "admins": ["c@c.example"]}).status_code == 403
    assert api.get(f"/v1/organization/{b['id']}").json()["name"] == "B"
    assert api.delete("/v1/organization/default").status_code == 409


def test_bad_input_is_a_clear_400(api: Api) -> None:
    cases = [
        ({"name": "x", "admins": []}, "admins"),
        ({"name": "x"}, "admins"),
        ({"name": "", "admins": ["a@b.example"]}, "name"),
        ({"name": 3, "admins": ["a@b.example"]}, "name"),
        ({"name": "x", "admins": ["not-an-email"]}, "not-an-email"),
        ({"name": "x", "admins": "a@b.example"}, "admins"),
    ]
    for body, word in cases:
        r = api.post("/v1/organization", json=body)
        assert r.status_code == 400 and word in r.json()["error"], (body, r.text)
    org = _org(api)
    r = api.put(f"/v1/organization/{org['id']}", json={"members": [{"email": "a@b.example", "role": "root"}]})
    assert r.status_code == 400 and "role" in r.json()["error"]
    assert api.post(f"/v1/organization/{org['id']}/members/nobody@x.example/keys", json={}).status_code == 404
    assert api.get("/v1/organization/acct-missing").status_code == 404


class _S3AwareClient(TestClient):
    """The in-process client, sending requests to presigned S3 URLs over the network instead."""

    s3_endpoint = "\0"

    def request(self, method: str, url: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        if str(url).startswith(self.s3_endpoint):
            return httpx.request(method, str(url), content=kwargs.get("content"), timeout=30)
        return super().request(method, url, **kwargs)


@pytest.fixture(params=["file", "s3"])
def blob_client(request: pytest.FixtureRequest, database_url: str, tmp_path: Path,
                monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    """A server on the filesystem blob store, and one on S3 (SeaweedFS)."""
    blob_url, endpoint = None, "\0"
    if request.param == "s3":
        server = request.getfixturevalue("seaweedfs")
        endpoint = server.endpoint
        for name, value in server.env().items():
            monkeypatch.setenv(name, value)
        blob_url = f"s3://orgs/{uuid.uuid4().hex[:10]}?create=true"
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url, api_key=ADMIN_KEY, executor="stub",
                        blob_url=blob_url)
    with _S3AwareClient(create_app(settings)) as c:
        c.s3_endpoint = endpoint
        yield c


def _blob_keys(db: Any, account_id: str) -> set[str]:
    """Every blob key the account's rows name: bundles, uploads, and each run's input, output and log."""
    with db.session() as s:
        pks = list(s.scalars(select(Application.pk).where(Application.account_id == account_id)))
        keys = set(s.scalars(select(Bundle.blob_key).where(Bundle.app_pk.in_(pks))))
        keys |= set(s.scalars(select(Upload.blob_key).where(Upload.app_pk.in_(pks))))
        for run_id in s.scalars(select(Run.id).where(Run.account_id == account_id)):
            keys |= {blob_keys.input_key(run_id), blob_keys.output_key(run_id)}
    return keys


def test_deleting_an_organization_deletes_its_data_and_blobs(blob_client: TestClient) -> None:
    client = blob_client
    api = Api(client)
    platform = client.app.state.platform
    # The default account's own data, which must survive.
    api.new_app("keep")
    kept_run = api.post("/v1/applications/keep/runs", json={"input": {"keep": 1}}).json()["run_id"]
    wait_run(api, "keep", kept_run)
    kept = {key for key in _blob_keys(platform.db, "default") if platform.blobs.exists(key)}
    assert kept

    org = _org(api)
    admin = Api(client, _member_key(api, org["id"], "boss@acme.example"))
    admin.new_app("gone")
    run_id = admin.post("/v1/applications/gone/runs", json={"input": {"x": 1}}).json()["run_id"]
    wait_run(admin, "gone", run_id)
    upload = admin.post("/v1/applications/gone/runs/uploadurl").json()
    assert client.put(upload["upload_url"], content=b'{"big": true}').status_code == 200
    uploaded_run = admin.post("/v1/applications/gone/runs", json={"upload_id": upload["upload_id"]}).json()["run_id"]
    wait_run(admin, "gone", uploaded_run)
    assert admin.post("/v1/applications/gone/secrets", json={
        "id": "s1", "name": "s1", "secrets": [{"type": "env", "location": "TOKEN", "value": "t0p"}]}).status_code == 200
    assert admin.post("/v1/webhooks", json={"id": "w1", "event_types": ["run.status"],
                                            "endpoint_url": "https://hooks.example/x"}).status_code == 200
    theirs = {key for key in _blob_keys(platform.db, org["id"]) if platform.blobs.exists(key)}
    assert {k.split("/")[0] for k in theirs} == {"apps", "runs", "uploads"}, theirs

    assert admin.delete(f"/v1/organization/{org['id']}").status_code == 204

    assert [key for key in theirs if platform.blobs.exists(key)] == []
    assert all(platform.blobs.exists(key) for key in kept)
    assert api.get(f"/v1/organization/{org['id']}").status_code == 404
    assert admin.get("/v1/applications").status_code == 401
    with platform.db.session() as s:
        for table, column in ((Account, Account.id), (AccountMember, AccountMember.account_id),
                              (ApiKey, ApiKey.account_id), (Application, Application.account_id),
                              (Run, Run.account_id), (Webhook, Webhook.account_id), (Event, Event.account_id)):
            assert s.scalar(select(func.count()).select_from(table).where(column == org["id"])) == 0, table
        assert s.scalar(select(func.count()).select_from(Upload)) == 0
    assert api.get(f"/v1/applications/keep/runs/{kept_run}").json()["output"] == {"keep": 1}
