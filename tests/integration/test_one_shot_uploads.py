"""Upload URLs take exactly one upload: runs and versions keep what they were made from."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlsplit

import httpx

from integration.conftest import ADMIN_KEY, ECHO_APP, Api, make_bundle
from runyard.services import signed
from runyard.services.signed import SIGNED_PREFIX
from runyard.settings import Settings
from runyard.testing.servers import serve_in_thread


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


def _key_of(url: str) -> str:
    return unquote(urlsplit(url).path.removeprefix(SIGNED_PREFIX))


def test_a_claim_left_by_a_dead_server_stops_blocking_the_url_once_stale(api: Api, client) -> None:  # type: ignore[no-untyped-def]
    platform = client.app.state.platform
    platform.settings.limits.upload_claim_stale_seconds = 0.5
    api.new_app("crashed")
    slot = api.post("/v1/applications/crashed/runs/uploadurl").json()
    signed.claim(platform, _key_of(slot["upload_url"]))  # a PUT began on a server that then died: no renewal, no release
    refused = client.put(slot["upload_url"], content=b'{"v": 1}')
    assert refused.status_code == 409, refused.text  # the claim is fresh: that PUT may still be streaming
    time.sleep(0.6)
    retried = client.put(slot["upload_url"], content=b'{"v": 2}')
    assert retried.status_code == 200, retried.text  # the client's retry of the same URL succeeds
    assert client.put(slot["upload_url"], content=b'{"v": 3}').status_code == 409  # and the URL is used up
    run_id = api.post("/v1/applications/crashed/runs", json={"upload_id": slot["upload_id"]}).json()["run_id"]
    assert json.loads(api.get(f"/v1/applications/crashed/runs/{run_id}/input").content) == {"v": 2}


def test_a_slow_upload_renews_its_claim_and_keeps_the_url(database_url: str, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url, api_key=ADMIN_KEY, executor="stub",
                        limits={"upload_claim_stale_seconds": 0.8})
    with serve_in_thread(settings) as url, httpx.Client(base_url=url, timeout=30) as http:
        api = Api(http)  # type: ignore[arg-type]
        api.new_app("slow")
        slot = api.post("/v1/applications/slow/runs/uploadurl").json()
        started = threading.Event()

        def dribble() -> Iterator[bytes]:
            yield b'{"parts": ['
            started.set()
            for i in range(12):  # 2.4 s: three times the stale limit
                time.sleep(0.2)
                yield f"{i}, ".encode()
            yield b'12]}'

        answers: dict[str, httpx.Response] = {}
        slow = threading.Thread(target=lambda: answers.setdefault("slow", httpx.put(slot["upload_url"], content=dribble(), timeout=30)))
        slow.start()
        started.wait(10)
        time.sleep(1.5)  # past the stale limit: only the renewals keep the claim
        second = httpx.put(slot["upload_url"], content=b'{"parts": []}', timeout=30)
        slow.join(30)
        assert second.status_code == 409, second.text  # the slow PUT still holds its URL
        assert answers["slow"].status_code == 200, answers["slow"].text
        run_id = api.post("/v1/applications/slow/runs", json={"upload_id": slot["upload_id"]}).json()["run_id"]
        assert json.loads(api.get(f"/v1/applications/slow/runs/{run_id}/input").content) == {"parts": list(range(13))}
