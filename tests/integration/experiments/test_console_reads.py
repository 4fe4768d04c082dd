"""Read endpoints the console's experiment pages use (Runyard extensions, documented in docs/console.md):
an experiment's runs a page at a time, and a signed download URL for a managed input's data."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from .conftest import Lab, ok


def other_account_key(lab: Lab) -> str:
    account = ok(lab.api.post("/v1/admin/accounts", json={"name": "elsewhere"}))
    return ok(lab.api.post(f"/v1/admin/accounts/{account['id']}/keys", json={"name": "k", "role": "admin"}))["key"]


def viewer_key(lab: Lab) -> str:
    return ok(lab.api.post("/v1/admin/accounts/default/keys", json={"name": "v", "role": "viewer"}))["key"]


def test_an_experiments_runs_come_a_page_at_a_time_in_the_order_they_were_made(lab: Lab) -> None:
    base = lab.instance("base")
    (source,) = lab.inputs("x", [2.0])
    lab.batch("big", runs=[{"input_id": source, "instance_id": base, "repetition": k} for k in range(53)])
    path = f"{lab.base}/experiments/batch/big/runs"
    everything = lab.experiment_runs("big")
    assert len(everything) == 53  # without pagereturn: the SDKs' shape, every run

    first = ok(lab.api.get(path, params={"pagereturn": "true"}))
    assert len(first["runs"]) == 50 and first["next_page_token"]
    second = ok(lab.api.get(path, params={"pagereturn": "true", "pagetoken": first["next_page_token"]}))
    assert len(second["runs"]) == 3 and "next_page_token" not in second
    paged = first["runs"] + second["runs"]
    assert {r["id"] for r in paged} == {r["id"] for r in everything}
    keys = [(r["created_at"], r["id"]) for r in paged]
    assert keys == sorted(keys)  # oldest first, as the SDKs' list
    assert all(r["experiment_id"] == "big" for r in paged)

    bad = lab.api.get(path, params={"pagereturn": "true", "pagetoken": "not-a-token"})
    assert bad.status_code == 400 and "pagetoken" in bad.json()["error"]
    stranger = lab.api.get(path, params={"pagereturn": "true"}, headers={"Authorization": f"Bearer {other_account_key(lab)}"})
    assert stranger.status_code == 404
    assert lab.api.get(f"{lab.base}/experiments/batch/nope/runs", params={"pagereturn": "true"}).status_code == 404


def test_a_managed_inputs_data_downloads_through_a_signed_url(lab: Lab) -> None:
    (input_id,) = lab.inputs("d", [{"x": 41, "note": "kept as uploaded"}])
    path = f"{lab.base}/inputs/{input_id}/download"
    url = ok(lab.api.get(path, headers={"Authorization": f"Bearer {viewer_key(lab)}"}))["url"]
    parts = urlsplit(url)
    local = f"{parts.path}?{parts.query}"
    got = lab.api.client.get(local)  # no key: the signature is the permission
    assert got.status_code == 200
    assert json.loads(got.content) == {"x": 41, "note": "kept as uploaded"}
    tampered = lab.api.client.get(local.replace("signature=", "signature=0"))
    assert tampered.status_code in (401, 403)

    missing = lab.api.get(f"{lab.base}/inputs/nope/download")
    assert missing.status_code == 404 and "nope" in missing.json()["error"]
    assert lab.api.get(path, headers={"Authorization": f"Bearer {other_account_key(lab)}"}).status_code == 404
    assert lab.api.client.get(path).status_code == 401


def test_the_console_reads_are_in_the_openapi_document(lab: Lab) -> None:
    paths = ok(lab.api.client.get("/openapi.json"))["paths"]
    assert "get" in paths["/v1/applications/{app_id}/inputs/{input_id}/download"]
    runs = paths["/v1/applications/{app_id}/experiments/batch/{exp_id}/runs"]["get"]
    assert {p["name"] for p in runs["parameters"]} >= {"pagereturn", "pagetoken"}
