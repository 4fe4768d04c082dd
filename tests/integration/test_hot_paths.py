"""The poll endpoint's fast path (``server/hot.py``) answers exactly as the full stack does, errors included."""

from __future__ import annotations

import json
import time
from typing import Any

import anyio.to_thread
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


def test_a_run_id_no_run_can_have_is_not_found(api: Api, run_id: str) -> None:
    """A NUL in the path (which PostgreSQL refuses in any text) or an overlong id: 404, not a 500, and
    polls of real runs read on as before (on PostgreSQL they share queries with other runs' polls)."""
    for bad in ("run%00x", "r" * 300):
        response = api.get(f"/v1/applications/hot/runs/{bad}/metadata")
        assert response.status_code == 404, response.text
        assert "does not exist" in response.json()["error"]
    assert api.get(f"/v1/applications/hot/runs/{run_id}/metadata").status_code == 200


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


@pytest.fixture
def thread_hops(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What the server runs through ``anyio.to_thread.run_sync`` (a worker thread), by function name;
    each still runs there."""
    hops: list[str] = []
    run_sync = anyio.to_thread.run_sync

    async def counted(fn: Any, *args: Any, **kwargs: Any) -> Any:
        hops.append(getattr(fn, "__name__", repr(fn)))
        return await run_sync(fn, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counted)
    return hops


def _batch(api: Api) -> str:
    base = "/v1/applications/hot"
    assert api.post(f"{base}/versions", json={"id": "v1", "name": "v1"}).status_code == 200
    assert api.post(f"{base}/instances", json={"id": "base", "name": "base", "version_id": "v1"}).status_code == 200
    slot = api.post(f"{base}/runs/uploadurl").json()
    assert api.client.put(slot["upload_url"], content=json.dumps({"x": 1}).encode()).status_code == 200
    assert api.post(f"{base}/inputs", json={"id": "in", "name": "in", "upload_id": slot["upload_id"]}).status_code == 200
    body = {"id": "polled", "name": "polled", "runs": [{"input_id": "in", "instance_id": "base"}]}
    assert api.post(f"{base}/experiments/batch", json=body).status_code == 200
    return f"{base}/experiments/batch/polled"


def test_polls_are_answered_without_a_worker_thread(api: Api, thread_hops: list[str]) -> None:
    """A run's metadata and a batch experiment, polled: on SQLite the reads run inline (microseconds),
    on PostgreSQL they are awaited on the event loop; neither hops to a worker thread (which, on
    PostgreSQL under load, cost more than the query: benchmark P3R)."""
    api.new_app("hot")
    body = {"input": {"x": 1}, "result": {"status": "succeeded"}}
    run_path = f"/v1/applications/hot/runs/{api.post('/v1/applications/hot/runs', json=body).json()['run_id']}/metadata"
    exp_path = _batch(api)
    deadline = time.monotonic() + 60
    while api.get(exp_path + "?full=1").json()["status"] == "started":  # (the stub ends its run at once)
        assert time.monotonic() < deadline, "the experiment did not complete"
        time.sleep(0.02)
    expected = {path: api.get(path + "?full=1").json() for path in (run_path, exp_path, exp_path + "/metadata")}
    thread_hops.clear()
    for _ in range(3):
        for path, answer in expected.items():
            got = api.get(path)
            assert got.status_code == 200 and got.json() == answer, path
    assert thread_hops == []
    assert api.get("/v1/applications/hot").status_code == 200 and thread_hops  # a plain route does (the spy sees it)
