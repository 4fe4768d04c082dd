"""The runs list's filters and keyset pages (``GET …/applications/{app}/runs`` and the account-wide
``GET /v1/runs``), on SQLite and PostgreSQL: every filter and combination gives exactly the runs a
reference filter over the same rows gives, in the same order, page after page (ties in ``created_at``
included); tokens survive deletes and new runs; bad filters are 400s naming the value; no account
sees another's runs."""

from __future__ import annotations

import base64
import json
import random
from datetime import UTC, datetime, timedelta
from itertools import product
from typing import Any

import pytest
from sqlalchemy import select

from runyard.storage.db import Application, Run
from runyard.storage.db.bulk import insert_rows

from .conftest import Api

STATUSES = ("queued", "running", "succeeded", "failed", "canceled")
T0 = datetime(2026, 11, 1, 12, 0, 0, tzinfo=UTC)


def _template(engine: Any, app_id: str) -> dict[str, Any]:
    table = Run.__table__
    with engine.connect() as conn:
        return dict(conn.execute(select(table).where(table.c.app_id == app_id).limit(1)).mappings().one())


def _seed(api: Api, client: Any, app_id: str, n: int, seed: int) -> list[dict[str, Any]]:
    """An app with ``n`` runs of mixed status, instance, version and time (some created in the same
    millisecond), inserted through the storage layer; returns the reference rows."""
    api.new_app(app_id, push=False)
    tracked = api.post(f"/v1/applications/{app_id}/runs", json={"input": {}, "result": {"status": "succeeded"}}).json()["run_id"]
    engine = client.app.state.platform.db.engine
    template = _template(engine, app_id)
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        # 1 in 4 shares its millisecond with the run before it: only the id orders them
        created = T0 + timedelta(milliseconds=(i - i % 4 * (rng.random() < 0.5)) * 250)
        rows.append({"id": f"run-{app_id}-{rng.randrange(16**6):06x}{i:04d}", "created_at": created,
                     "status": rng.choice(STATUSES), "instance_id": rng.choice(("inst-a", "inst-b", "latest")),
                     "version_id": rng.choice(("v1", "v2")), "idempotency_key": None})
    constant = {k: v for k, v in template.items() if k not in rows[0]}
    insert_rows(engine, Run.__table__, constant, rows, batch=97)
    rows.append({"id": tracked, "created_at": template["created_at"], "status": "succeeded",
                 "instance_id": template["instance_id"], "version_id": template["version_id"]})
    return rows


def _utc(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _expected(rows: list[dict[str, Any]], query: dict[str, str]) -> list[str]:
    statuses = set(query["status"].split(",")) if "status" in query else None
    after, before = (_utc(query[name]) if name in query else None for name in ("created_after", "created_before"))
    picked = [r for r in rows
              if (statuses is None or r["status"] in statuses)
              and r["instance_id"] == query.get("instance_id", r["instance_id"])
              and r["version_id"] == query.get("version_id", r["version_id"])
              and (after is None or r["created_at"] >= after) and (before is None or r["created_at"] < before)]
    return [r["id"] for r in sorted(picked, key=lambda r: (r["created_at"], r["id"]), reverse=True)]


def _all_pages(api: Api, path: str, query: dict[str, str], limit: int) -> list[str]:
    ids: list[str] = []
    token = None
    for _ in range(1000):
        params = {**query, "pagereturn": "true", "limit": str(limit), **({"pagetoken": token} if token else {})}
        answer = api.get(path, params=params)
        assert answer.status_code == 200, answer.text
        assert answer.headers["server-timing"].startswith("app;dur="), answer.headers  # what benchmark P9 reads
        body = answer.json()
        assert len(body["runs"]) <= limit
        ids += [r["id"] for r in body["runs"]]
        token = body.get("next_page_token")
        if not token:
            return ids
        assert len(body["runs"]) == limit, "a page short of the limit is the last one"
    raise AssertionError("the pages never ended")


FILTERS: list[dict[str, str]] = [
    {},
    {"status": "failed"},
    {"status": "queued,running"},
    {"status": "succeeded,failed,canceled,queued,running"},
    {"instance_id": "inst-a"},
    {"version_id": "v2"},
    {"instance_id": "inst-b", "status": "canceled,failed"},
    {"instance_id": "latest", "version_id": "v1"},
    {"created_after": "2026-11-01T12:00:30Z"},
    {"created_before": "2026-11-01T12:00:40.250+00:00"},
    {"created_after": "2026-11-01T12:00:10", "created_before": "2026-11-01T13:00:40+01:00", "status": "succeeded"},
    {"instance_id": "nope"},
]


def test_every_filter_pages_through_exactly_the_matching_runs(api: Api, client) -> None:  # type: ignore[no-untyped-def]
    rows = _seed(api, client, "flt", 240, seed=1)
    other = _seed(api, client, "flt-other", 30, seed=2)  # another app of the same account
    for query, limit in product(FILTERS, (7, 50)):
        expected = _expected(rows, query)
        assert _all_pages(api, "/v1/applications/flt/runs", query, limit) == expected, query
    for query in FILTERS:
        got = _all_pages(api, "/v1/runs", {**query, "application_id": "flt"}, 9)
        assert got == _expected(rows, query), query
    both = rows + other
    for query in [q for q in FILTERS if "instance_id" not in q and "version_id" not in q]:
        assert _all_pages(api, "/v1/runs", query, 11) == _expected(both, query), query
    # the first page of the 0.28.5-style list (no pagereturn) is the same list, unfiltered and filtered
    assert [r["id"] for r in api.get("/v1/applications/flt/runs").json()["runs"]] == _expected(rows, {})
    legacy = api.get("/v1/applications/flt/runs", params={"status": "failed"}).json()
    assert [r["id"] for r in legacy["runs"]] == _expected(rows, {"status": "failed"}) and "next_page_token" not in legacy


def test_a_token_outlives_the_run_it_names_and_new_runs_do_not_shift_pages(api: Api, client) -> None:  # type: ignore[no-untyped-def]
    rows = _seed(api, client, "live", 60, seed=3)
    everything = _expected(rows, {})
    first = api.get("/v1/applications/live/runs", params={"pagereturn": "true", "limit": "10"}).json()
    assert [r["id"] for r in first["runs"]] == everything[:10]
    last_of_page = everything[9]
    assert api.delete(f"/v1/applications/live/runs/{last_of_page}").status_code in (200, 204)
    new = [api.post("/v1/applications/live/runs", json={"input": {}, "result": {"status": "failed"}}).json()["run_id"]
           for _ in range(3)]
    second = api.get("/v1/applications/live/runs",
                     params={"pagereturn": "true", "limit": "10", "pagetoken": first["next_page_token"]}).json()
    assert [r["id"] for r in second["runs"]] == everything[10:20]
    # a fresh first page shows the new runs first and no longer the deleted one
    fresh = _all_pages(api, "/v1/applications/live/runs", {}, 25)
    assert fresh[:3] == new[::-1] and last_of_page not in fresh and len(fresh) == len(everything) - 1 + 3
    failed = _all_pages(api, "/v1/applications/live/runs", {"status": "failed"}, 25)
    assert failed[:3] == new[::-1]


def _token(created: Any, key: Any) -> str:
    """A token as a client could forge one (the server's encoding, any values)."""
    return base64.urlsafe_b64encode(json.dumps([created, key]).encode()).decode().rstrip("=")


@pytest.mark.parametrize(("path", "params", "named"), [
    ("/v1/applications/bad/runs", {"status": "done"}, "'done'"),
    ("/v1/applications/bad/runs", {"status": "failed,Sucess"}, "'sucess'"),
    ("/v1/applications/bad/runs", {"created_after": "yesterday"}, "'yesterday'"),
    ("/v1/applications/bad/runs", {"created_before": "2026-13-01"}, "'2026-13-01'"),
    ("/v1/applications/bad/runs", {"created_after": "2026-12-02", "created_before": "2026-12-01"}, "created_after"),
    ("/v1/applications/bad/runs", {"pagereturn": "true", "limit": "0"}, "'0'"),
    ("/v1/applications/bad/runs", {"pagereturn": "true", "limit": "101"}, "'101'"),
    ("/v1/applications/bad/runs", {"pagereturn": "true", "limit": "ten"}, "'ten'"),
    ("/v1/applications/bad/runs", {"pagereturn": "true", "pagetoken": "not-a-token"}, "pagetoken"),
    ("/v1/applications/bad/runs", {"pagereturn": "true", "pagetoken": _token("2026-01-01T00:00:00+00:00", {"a": 1})}, "pagetoken"),
    ("/v1/applications/bad/runs", {"pagetoken": _token("2026-01-01T00:00:00+00:00", 7)}, "pagetoken"),
    ("/v1/applications/bad/runs", {"pagetoken": _token("noon", "run-1")}, "pagetoken"),
    ("/v1/applications/bad/runs", {"instance_id": "a\x00b"}, "instance_id"),
    ("/v1/applications/bad/runs", {"version_id": "\x00"}, "version_id"),
    ("/v1/runs", {"application_id": "\x00"}, "application_id"),
    ("/v1/runs", {"status": "done"}, "'done'"),
    ("/v1/runs", {"instance_id": "latest"}, "application_id"),
    ("/v1/runs", {"pagereturn": "true", "limit": "500"}, "'500'"),
])
def test_a_bad_filter_is_a_400_naming_it(api: Api, path: str, params: dict[str, str], named: str) -> None:
    api.new_app("bad", push=False)
    answer = api.get(path, params=params)
    assert answer.status_code == 400, answer.text
    assert named in answer.text, answer.text


def test_one_account_never_sees_another_accounts_runs(api: Api, client) -> None:  # type: ignore[no-untyped-def]
    mine = _seed(api, client, "ours", 20, seed=4)
    acct = api.post("/v1/admin/accounts", json={"name": "team b"}).json()
    theirs = Api(client, api.post(f"/v1/admin/accounts/{acct['id']}/keys", json={"role": "viewer"}).json()["key"])
    viewer = Api(client, api.post("/v1/admin/accounts/default/keys", json={"role": "viewer"}).json()["key"])
    assert _all_pages(viewer, "/v1/runs", {}, 50) == _expected(mine, {})  # a viewer may list
    assert _all_pages(theirs, "/v1/runs", {}, 50) == []
    assert _all_pages(theirs, "/v1/runs", {"status": "succeeded,failed,queued,running,canceled"}, 50) == []
    for path, params in (("/v1/applications/ours/runs", {}), ("/v1/runs", {"application_id": "ours"}),
                         ("/v1/applications/ours/runs", {"status": "failed"})):
        answer = theirs.get(path, params=params)
        assert answer.status_code == 404 and "ours" in answer.json()["error"], answer.text
    # the other account's token does not open this account's runs either
    token = api.get("/v1/runs", params={"pagereturn": "true", "limit": "5"}).json()["next_page_token"]
    assert theirs.get("/v1/runs", params={"pagereturn": "true", "pagetoken": token}).json()["runs"] == []
    assert client.get("/v1/runs").status_code == 401


def test_the_app_runs_index_serves_the_app_not_its_name(api: Api, client) -> None:  # type: ignore[no-untyped-def]
    """A run keeps appearing under its application's id after other apps come and go (the list reads by app_pk)."""
    _seed(api, client, "gone", 5, seed=5)
    assert api.delete("/v1/applications/gone").status_code in (200, 204)
    rows = _seed(api, client, "gone", 4, seed=6)
    engine = client.app.state.platform.db.engine
    with engine.connect() as conn:
        assert conn.execute(select(Application.pk).where(Application.id == "gone")).scalar() is not None
    assert _all_pages(api, "/v1/applications/gone/runs", {}, 3) == _expected(rows, {})


def test_a_batch_experiments_runs_come_in_pages_oldest_first(api: Api, client) -> None:  # type: ignore[no-untyped-def]
    """``…/experiments/batch/{id}/runs`` still answers every run without paging parameters (the SDKs read
    it so); with ``pagereturn=true`` or ``limit`` it pages in the same order, and ``status`` filters."""
    base = "/v1/applications/exp"
    api.new_app("exp")
    assert api.post(f"{base}/versions", json={"id": "v1", "name": "v1"}).status_code == 200
    body = {"id": "i1", "name": "i1", "version_id": "v1", "configuration": {}}
    assert api.post(f"{base}/instances", json=body).status_code == 200
    slot = api.post(f"{base}/runs/uploadurl").json()
    assert client.put(slot["upload_url"], content=b'{"x": 1}').status_code == 200
    assert api.post(f"{base}/inputs", json={"id": "in", "name": "in", "upload_id": slot["upload_id"]}).status_code == 200
    made = api.post(f"{base}/experiments/batch", json={"id": "b", "name": "b", "runs": [{"input_id": "in", "instance_id": "i1"}] * 23})
    assert made.status_code == 200, made.text
    everything = [r["id"] for r in api.get(f"{base}/experiments/batch/b/runs").json()["runs"]]
    assert len(everything) == 23
    engine = client.app.state.platform.db.engine
    table = Run.__table__
    with engine.begin() as conn:  # five of them failed (whatever the stub executor has done with them by now)
        conn.execute(table.update().where(table.c.id.in_(everything[3:8])).values(status="failed"))
    paged, token = [], None
    while True:
        answer = api.get(f"{base}/experiments/batch/b/runs", params={"pagereturn": "true", "limit": "10",
                                                                      **({"pagetoken": token} if token else {})}).json()
        paged += [r["id"] for r in answer["runs"]]
        token = answer.get("next_page_token")
        if not token:
            break
    assert paged == everything
    failed = api.get(f"{base}/experiments/batch/b/runs", params={"status": "failed", "limit": "3"}).json()
    assert [r["id"] for r in failed["runs"]] == everything[3:6] and failed["next_page_token"]
    rest = api.get(f"{base}/experiments/batch/b/runs", params={"status": "failed", "pagetoken": failed["next_page_token"]}).json()
    assert [r["id"] for r in rest["runs"]] == everything[6:8]
    assert api.get(f"{base}/experiments/batch/b/runs", params={"limit": "0"}).status_code == 400
    assert api.get(f"{base}/experiments/batch/b/runs", params={"status": "lost"}).status_code == 400
