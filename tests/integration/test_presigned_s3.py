"""With an S3 blob store, upload and download URLs are S3's own, and an upload is sealed on first use."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from fastapi.testclient import TestClient

from runyard.server.app import create_app
from runyard.services.presigned import COPY_UP_TO
from runyard.settings import Settings
from runyard.storage.blobs.backends.s3 import from_url
from runyard.testing.seaweedfs import SeaweedS3

from .conftest import ADMIN_KEY, ECHO_APP, Api, make_bundle

BUCKET = "presigned"


@pytest.fixture
def s3_url(seaweedfs: SeaweedS3, monkeypatch: pytest.MonkeyPatch) -> str:
    for name, value in seaweedfs.env().items():
        monkeypatch.setenv(name, value)
    return f"s3://{BUCKET}/{uuid.uuid4().hex[:10]}?create=true"


def s3_api(database_url: str, tmp_path: Path, s3_url: str, **limits: int) -> Iterator[Api]:
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url, api_key=ADMIN_KEY, executor="stub",
                        blob_url=s3_url, limits=limits)
    with TestClient(create_app(settings)) as client:
        yield Api(client)


@pytest.fixture
def api(database_url: str, tmp_path: Path, s3_url: str) -> Iterator[Api]:
    yield from s3_api(database_url, tmp_path, s3_url)


def tracked_run(api: Api, app_id: str, upload_id: str) -> str:
    response = api.post(f"/v1/applications/{app_id}/runs", json={"upload_id": upload_id, "result": {"status": "succeeded"}})
    assert response.status_code == 200, response.text
    return response.json()["run_id"]


def test_a_bundle_and_an_input_go_straight_to_s3_and_are_sealed_on_first_use(api: Api, seaweedfs: SeaweedS3, s3_url: str) -> None:
    assert api.post("/v1/applications", json={"id": "app", "name": "app"}).status_code == 200
    bundle_url = api.get("/v1/applications/app/binary").json()["upload_url"]
    assert bundle_url.startswith(seaweedfs.endpoint) and "X-Amz-Signature=" in bundle_url
    assert requests.put(bundle_url, data=make_bundle(ECHO_APP), timeout=10).status_code == 200
    activated = api.put("/v1/applications/app/binary", json={"requirements": {"executable_type": "python"}})
    assert activated.status_code == 200, activated.text

    slot = api.post("/v1/applications/app/runs/uploadurl").json()
    assert slot["upload_url"].startswith(seaweedfs.endpoint)
    assert requests.put(slot["upload_url"], data=json.dumps({"v": "first"}), timeout=10).status_code == 200
    first = tracked_run(api, "app", slot["upload_id"])
    # The URL is still valid: a second PUT is accepted by S3, but Runyard never reads it.
    assert requests.put(slot["upload_url"], data=json.dumps({"v": "changed"}), timeout=10).status_code == 200
    second = tracked_run(api, "app", slot["upload_id"])
    for run_id in (first, second):
        url = api.get(f"/v1/applications/app/runs/{run_id}/input", params={"format": "url"}).json()["url"]
        assert url.startswith(seaweedfs.endpoint), "the download URL is S3's own"
        assert requests.get(url, timeout=10).json() == {"v": "first"}
    store = from_url(s3_url)
    assert store.get_bytes(f"uploads/{slot['upload_id']}.sealed") == b'{"v": "first"}'


def test_a_large_upload_is_pinned_and_a_later_put_to_it_is_refused_not_read(api: Api, s3_url: str) -> None:
    assert api.post("/v1/applications", json={"id": "app", "name": "app"}).status_code == 200
    slot = api.post("/v1/applications/app/runs/uploadurl").json()
    big = json.dumps({"rows": ["x" * 1000] * (COPY_UP_TO // 1000 + 10)}).encode()
    assert len(big) > COPY_UP_TO
    assert requests.put(slot["upload_url"], data=big, timeout=60).status_code == 200
    run_id = tracked_run(api, "app", slot["upload_id"])
    store = from_url(s3_url)
    assert not store.exists(f"uploads/{slot['upload_id']}.sealed"), "a large upload is pinned, not copied"
    assert api.get(f"/v1/applications/app/runs/{run_id}/input", params={"format": "url"}).status_code == 200
    assert requests.put(slot["upload_url"], data=b'{"other": 1}', timeout=10).status_code == 200
    refused = api.get(f"/v1/applications/app/runs/{run_id}/input")
    assert refused.status_code == 409 and "written again" in refused.json()["error"]
    assert api.get(f"/v1/applications/app/runs/{run_id}/input", params={"format": "url"}).status_code == 409


def test_an_upload_past_the_limit_is_refused_when_used(database_url: str, tmp_path: Path, s3_url: str) -> None:
    for api in s3_api(database_url, tmp_path, s3_url, upload_max_bytes=1000):
        assert api.post("/v1/applications", json={"id": "app", "name": "app"}).status_code == 200
        slot = api.post("/v1/applications/app/runs/uploadurl").json()
        assert requests.put(slot["upload_url"], data=b"x" * 2000, timeout=10).status_code == 200  # S3 takes it
        refused = api.post("/v1/applications/app/runs", json={"upload_id": slot["upload_id"], "result": {"status": "succeeded"}})
        assert refused.status_code == 400 and "limit of 1000 bytes" in refused.json()["error"]
        assert not from_url(s3_url).exists(f"uploads/{slot['upload_id']}")


def test_an_upload_used_after_its_url_expired_is_read_in_place(database_url: str, tmp_path: Path, s3_url: str) -> None:
    for api in s3_api(database_url, tmp_path, s3_url, signed_url_ttl_seconds=1):
        assert api.post("/v1/applications", json={"id": "app", "name": "app"}).status_code == 200
        slot = api.post("/v1/applications/app/runs/uploadurl").json()
        assert requests.put(slot["upload_url"], data=b'{"late": true}', timeout=10).status_code == 200
        time.sleep(2.2)  # the URL's expiry is whole seconds
        assert requests.put(slot["upload_url"], data=b"{}", timeout=10).status_code == 403, "the URL expired"
        run_id = tracked_run(api, "app", slot["upload_id"])
        assert api.get(f"/v1/applications/app/runs/{run_id}/input").json() == {"late": True}
        store = from_url(s3_url)
        assert store.exists(f"uploads/{slot['upload_id']}") and not store.exists(f"uploads/{slot['upload_id']}.sealed")
