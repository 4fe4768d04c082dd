"""The poll endpoint's fast path (``server/hot.py``) answers exactly as the full stack does, errors included."""

from __future__ import annotations

import pytest

from integration.conftest import Api


@pytest.fixture
def run_id(api: Api) -> str:
    api.new_app("hot", push=False)
    body = {"input": {"x": 1}, "result": {"status": "succeeded", "statistics": {"result": {"value": 3}}}}
    return api.post("/v1/applications/hot/runs", json=body).json()["run_id"]


def test_fast_and_full_paths_agree(api: Api, run_id: str) -> None:
    fast = api.get(f"/v1/applications/hot/runs/{run_id}/metadata")
    full = api.get(f"/v1/applications/hot/runs/{run_id}/metadata?wait=0")  # a query string goes to the full stack
    assert fast.status_code == full.status_code == 200
    assert fast.json() == full.json()
    assert fast.json()["metadata"]["status_v2"] == "succeeded"
    assert fast.headers["content-type"] == "application/json"
    assert fast.headers["x-request-id"] != full.headers["x-request-id"]


def test_errors_fall_through_to_the_full_stack(api: Api, client, run_id: str) -> None:  # type: ignore[no-untyped-def]
    missing = api.get("/v1/applications/hot/runs/nope/metadata")
    assert missing.status_code == 404 and "'nope'" in missing.json()["error"] and missing.json()["request_id"]
    no_app = api.get(f"/v1/applications/other/runs/{run_id}/metadata")
    assert no_app.status_code == 404 and "application 'other'" in no_app.json()["error"]
    assert client.get(f"/v1/applications/hot/runs/{run_id}/metadata").status_code == 401
    assert Api(client, "ry_nokey_nosecret").get(f"/v1/applications/hot/runs/{run_id}/metadata").status_code == 401


def test_another_accounts_key_sees_nothing_even_when_cached(api: Api, client, run_id: str) -> None:  # type: ignore[no-untyped-def]
    acct = api.post("/v1/admin/accounts", json={"name": "team b"}).json()
    other = Api(client, api.post(f"/v1/admin/accounts/{acct['id']}/keys", json={"role": "developer"}).json()["key"])
    assert other.get("/v1/applications").status_code == 200  # the key is verified and cached now
    for _ in range(2):
        assert other.get(f"/v1/applications/hot/runs/{run_id}/metadata").status_code == 404


def test_a_revoked_key_stops_at_once(api: Api, client, run_id: str) -> None:  # type: ignore[no-untyped-def]
    issued = api.post("/v1/admin/accounts/default/keys", json={"role": "viewer"}).json()
    viewer = Api(client, issued["key"])
    assert viewer.get(f"/v1/applications/hot/runs/{run_id}/metadata").status_code == 200
    assert api.delete(f"/v1/admin/accounts/default/keys/{issued['id']}").status_code == 204
    assert viewer.get(f"/v1/applications/hot/runs/{run_id}/metadata").status_code == 401
