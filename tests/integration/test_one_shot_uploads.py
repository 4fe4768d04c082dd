"""Upload URLs take exactly one upload: runs and versions keep what they were made from."""

from __future__ import annotations

import json

from integration.conftest import ECHO_APP, Api, make_bundle


def test_a_run_input_upload_url_takes_one_put_and_the_run_keeps_its_input(api: Api, client) -> None:  # type: ignore[no-untyped-def]
    api.new_app("once")
    slot = api.post("/v1/applications/once/runs/uploadurl").json()
    assert client.put(slot["upload_url"], content=json.dumps({"v": "original"}).encode()).status_code == 200
    run_id = api.post("/v1/applications/once/runs", json={"upload_id": slot["upload_id"]}).json()["run_id"]
    again = client.put(slot["upload_url"], content=json.dumps({"v": "rewritten"}).encode())
    assert again.status_code == 409, again.text
    assert "upload URL" in again.json()["error"]
    assert json.loads(api.get(f"/v1/applications/once/runs/{run_id}/input").content) == {"v": "original"}


def test_a_refused_put_leaves_the_url_usable(api: Api, client, server_settings) -> None:  # type: ignore[no-untyped-def]
    api.new_app("retry", push=False)
    client.app.state.platform.settings.limits.upload_max_bytes = 100
    slot = api.post("/v1/applications/retry/runs/uploadurl").json()
    assert client.put(slot["upload_url"], content=b"{" + b" " * 200 + b"}").status_code == 400
    assert client.put(slot["upload_url"], content=b'{"ok": 1}').status_code == 200
    assert client.put(slot["upload_url"], content=b'{"ok": 2}').status_code == 409


def test_a_bundle_url_takes_one_put_and_none_after_activation(api: Api, client) -> None:  # type: ignore[no-untyped-def]
    api.new_app("frozen", push=False)
    url = api.get("/v1/applications/frozen/binary").json()["upload_url"]
    assert client.put(url, content=make_bundle(ECHO_APP)).status_code == 200
    evil = make_bundle({**ECHO_APP, "main.py": "print('{\"solution\": \"other code\"}')\n"})
    assert client.put(url, content=evil).status_code == 409
    req = {"executable_type": "python", "runtime": "ghcr.io/nextmv-io/runtime/python:3.11"}
    assert api.put("/v1/applications/frozen/binary", json={"requirements": req}).status_code == 200
    after = client.put(url, content=evil)
    assert after.status_code == 409, after.text
