"""The official SDKs against ``runyard serve`` with ``RUNYARD_BLOB_URL=s3://…`` on a real SeaweedFS.

Bundles, large inputs and large outputs travel through presigned S3 URLs, straight between the client
and SeaweedFS: nothing lands in the server's data dir. A restart of the S3 server in the middle of an
upload gives the client a clear error, and a retry succeeds.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from runyard.storage.blobs.backends import s3 as s3_backend
from runyard.testing.seaweedfs import SeaweedS3, start_seaweedfs

from .harness import Server, start_server, unique

BACKENDS = ["sqlite", "postgresql"]
BUCKET = "runyard-compat"

pytestmark = [pytest.mark.compat, pytest.mark.slow]


@pytest.fixture(scope="module")
def s3() -> Iterator[SeaweedS3]:
    """This module's own SeaweedFS: the fault test restarts it."""
    try:
        server = start_seaweedfs()
    except RuntimeError as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"SeaweedFS unavailable here: {exc}")
    yield server
    server.destroy()


@pytest.fixture(scope="module", params=BACKENDS)
def server(request: pytest.FixtureRequest, s3: SeaweedS3, tmp_path_factory: pytest.TempPathFactory,
           app_env_dir: Path) -> Iterator[Server]:
    """``runyard serve`` with its blobs in S3 (a bucket created on start), on SQLite and PostgreSQL."""
    database_url = None
    if request.param == "postgresql":
        database_url = request.getfixturevalue("postgres_cluster").create_database()
    base_dir = tmp_path_factory.mktemp(f"s3-server-{request.param}")
    env = {**s3.env(), "RUNYARD_BLOB_URL": f"s3://{BUCKET}/{request.param}?create=true"}
    try:
        srv = start_server(backend=request.param, base_dir=base_dir, env_dir=app_env_dir, database_url=database_url,
                           env=env)
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    yield srv
    srv.stop()


def blobs_of(s3: SeaweedS3, server: Server) -> s3_backend.S3BlobStore:
    return s3_backend.from_url(f"s3://{BUCKET}/{server.backend}", environ=s3.env())


FLOW = """
try:
    from nextmv import PollingOptions
except ImportError:
    from nextmv.cloud import PollingOptions
import hashlib

FAST = PollingOptions(initial_delay=0.05, delay=0.05, backoff=0.0, jitter=0.0, max_delay=0.25, max_duration=300)

def digest(value):
    return hashlib.sha256(json.dumps(value, separators=(",", ":"), sort_keys=True).encode()).hexdigest()

app, version_id, instance_id = deploy(os.environ["APP_ID"], os.environ["APP_DIR"])
small = app.new_run_with_result(input={"hello": "s3"}, instance_id=instance_id, polling_options=FAST,
                                run_options={"lines": "3"})
data = {"rows": [f"{i:07d}-{(i * 7919) % 100003:06d}" for i in range(400_000)]}
size = len(json.dumps(data, separators=(",", ":")).encode())
large = app.new_run_with_result(input=data, instance_id=instance_id, polling_options=FAST)
upload = app.upload_url()
logs = app.run_logs(small.id)
emit({"small": [small.metadata.status_v2.value, small.output["solution"]],
      "large": [large.metadata.status_v2.value, large.metadata.input_size, size, large.metadata.output_size,
                digest(large.output["solution"]) == digest(data), digest(app.run_input(large.id)) == digest(data)],
      "large_id": large.id, "upload_url": upload.upload_url,
      "logs": getattr(logs, "log", None) or str(logs)})
"""


@pytest.mark.parametrize("version", ["0.28.5", "1.13.0"])
def test_the_sdk_flow_with_payloads_straight_to_s3(version: str, server: Server, s3: SeaweedS3,
                                                  request: pytest.FixtureRequest, app_dir) -> None:  # type: ignore[no-untyped-def]
    sdk = request.getfixturevalue("sdk028" if version.startswith("0.") else "sdk113")
    app_id = unique("s3app")
    out = sdk.run(FLOW, env={"APP_ID": app_id, "APP_DIR": str(app_dir("ctl-json"))})
    assert out["small"] == ["succeeded", {"hello": "s3"}]
    status, input_size, size, output_size, output_matches, input_matches = out["large"]
    assert size > 6 * 1024 * 1024 and status == "succeeded"
    assert input_size == size and output_size > size
    assert output_matches and input_matches
    assert "ctl-json: line 2" in out["logs"] and "ctl-json: done" in out["logs"]
    # The upload URL is S3's own, signed for one object, with the server's expiry (900 s).
    assert out["upload_url"].startswith(f"{s3.endpoint}/{BUCKET}/{server.backend}/uploads/upload-")
    assert "X-Amz-Expires=900" in out["upload_url"] and "X-Amz-Signature=" in out["upload_url"]
    # The large output's download URL is presigned too, and serves the output from S3.
    large_id = out["large_id"]
    url = server.api("GET", f"/v1/applications/{app_id}/runs/{large_id}/output", params={"format": "url"}).json()["url"]
    assert url.startswith(s3.endpoint) and "X-Amz-Signature=" in url
    assert json.loads(requests.get(url, timeout=60).content)["solution"]["rows"][:2] == ["0000000-000000", "0000001-007919"]
    # Everything lives in S3; the server's data dir holds no blobs.
    blobs = blobs_of(s3, server)
    assert blobs.size(f"runs/{large_id}/output") == output_size
    assert not (server.data_dir / "blobs").exists() or not any((server.data_dir / "blobs").rglob("*"))


def test_an_upload_url_is_one_object_and_is_sealed_when_a_run_uses_it(server: Server, s3: SeaweedS3, sdk113, app_dir) -> None:  # type: ignore[no-untyped-def]
    out = sdk113.run(
        """
        app, version_id, instance_id = deploy(os.environ["APP_ID"], os.environ["APP_DIR"])
        emit({"instance_id": instance_id})
        """,
        env={"APP_ID": (app_id := unique("s3seal")), "APP_DIR": str(app_dir("ctl-json"))},
    )
    slot = server.api("POST", f"/v1/applications/{app_id}/runs/uploadurl").json()
    url = slot["upload_url"]
    # Another key with the same signature is refused by S3 itself.
    assert requests.put(url.replace(slot["upload_id"], slot["upload_id"] + "x"), data=b"{}", timeout=10).status_code == 403
    # Nothing PUT yet: a run that names the upload is a clear 400.
    body = {"upload_id": slot["upload_id"], "instance_id": out["instance_id"]}
    refused = server.api("POST", f"/v1/applications/{app_id}/runs", json=body)
    assert refused.status_code == 400 and "PUT the data" in refused.json()["error"]
    assert requests.put(url, data=json.dumps({"v": "first"}), timeout=10).status_code == 200
    run = server.api("POST", f"/v1/applications/{app_id}/runs", json=body)
    assert run.status_code in (200, 201, 202), run.text
    run_id = run.json()["run_id"]
    # The URL still works until it expires, but what it writes now is never read by Runyard.
    assert requests.put(url, data=json.dumps({"v": "changed"}), timeout=10).status_code == 200
    second = server.api("POST", f"/v1/applications/{app_id}/runs", json=body).json()["run_id"]
    for rid in (run_id, second):
        deadline = time.monotonic() + 120
        while (info := server.api("GET", f"/v1/applications/{app_id}/runs/{rid}").json())["metadata"]["status_v2"] not in ("succeeded", "failed"):
            assert time.monotonic() < deadline, info
            time.sleep(0.1)
        assert info["metadata"]["status_v2"] == "succeeded", info
        assert info["output"]["solution"] == {"v": "first"}


class SlowBody:
    """``total`` bytes with a known length (a plain PUT, not chunked), slow once 16 MiB are out."""

    def __init__(self, total: int) -> None:
        self.total, self.sent, self.started = total, 0, threading.Event()

    def __len__(self) -> int:
        return self.total

    def __iter__(self) -> Iterator[bytes]:
        block = b"x" * (1024 * 1024)
        while self.sent < self.total:
            yield block
            self.sent += len(block)
            if self.sent >= 16 * len(block):
                self.started.set()
                time.sleep(0.02)  # slow enough that the restart lands mid-upload


def test_an_s3_restart_mid_upload_is_a_clear_error_and_a_retry_succeeds(server: Server, s3: SeaweedS3, sdk113, app_dir) -> None:  # type: ignore[no-untyped-def]
    app_id = unique("s3fault")
    out = sdk113.run(
        """
        app, version_id, instance_id = deploy(os.environ["APP_ID"], os.environ["APP_DIR"])
        emit({"instance_id": instance_id})
        """,
        env={"APP_ID": app_id, "APP_DIR": str(app_dir("ctl-json"))},
    )
    slot = server.api("POST", f"/v1/applications/{app_id}/runs/uploadurl").json()
    total = 200 * 1024 * 1024
    body, outcome = SlowBody(total), {}

    def upload() -> None:
        try:
            outcome["status"] = requests.put(slot["upload_url"], data=body, timeout=60).status_code
        except requests.RequestException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=upload)
    thread.start()
    assert body.started.wait(60), outcome
    s3.kill()
    thread.join(60)
    assert body.sent < total, "the restart came after the upload"
    assert "error" in outcome or outcome.get("status", 200) >= 500, outcome
    # While S3 is down the API says so, naming the blob store: a 503, never a 500.
    down = server.api("POST", f"/v1/applications/{app_id}/runs", json={"input": {"a": 1}, "instance_id": out["instance_id"]})
    assert down.status_code == 503, down.text
    assert "S3 blob store" in down.json()["error"] and BUCKET in down.json()["error"]
    s3.start()
    # The retry: the same URL (still valid) takes the whole payload, and a run uses it.
    payload = json.dumps({"rows": ["r" * 100] * 60_000}).encode()
    retried = requests.put(slot["upload_url"], data=payload, timeout=60)
    assert retried.status_code == 200, retried.text
    run = server.api("POST", f"/v1/applications/{app_id}/runs",
                     json={"upload_id": slot["upload_id"], "instance_id": out["instance_id"]})
    assert run.status_code in (200, 201, 202), run.text
    run_id = run.json()["run_id"]
    deadline = time.monotonic() + 120
    while (info := server.api("GET", f"/v1/applications/{app_id}/runs/{run_id}").json())["metadata"]["status_v2"] not in ("succeeded", "failed"):
        assert time.monotonic() < deadline, info
        time.sleep(0.1)
    assert info["metadata"]["status_v2"] == "succeeded", info
    assert info["metadata"]["input_size"] == len(payload)
