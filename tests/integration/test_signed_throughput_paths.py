"""The fast paths of signed URLs, through a real uvicorn server: the upload gathered into blocks and
written by a worker thread, the download in large reads, the SDK's block-wise upload; and the
guarantees they must keep (signature first, size limit, nothing visible after a failed upload)."""

from __future__ import annotations

import hashlib
import http.client
import io
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from runyard.sdk._client import Client
from runyard.settings import Settings
from runyard.storage.blobs import open_blob_store
from runyard.storage.blobs.backends import filesystem
from runyard.testing.servers import serve_in_thread

KEY = "signed-throughput-key"
HEADERS = {"Authorization": f"Bearer {KEY}"}
LIMIT = 6 * 1024 * 1024


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def base_url(database_url: str, data_dir: Path) -> Iterator[str]:
    settings = Settings(data_dir=data_dir, database_url=database_url, api_key=KEY, executor="stub",
                        limits={"upload_max_bytes": LIMIT})
    with serve_in_thread(settings) as url:
        r = httpx.post(f"{url}/v1/applications", json={"id": "sig", "name": "sig"}, headers=HEADERS)
        assert r.status_code == 200, r.text
        yield url


def new_slot(base_url: str) -> dict[str, str]:
    r = httpx.post(f"{base_url}/v1/applications/sig/runs/uploadurl", headers=HEADERS)
    assert r.status_code == 200, r.text
    return r.json()


def put(url: str, chunks: list[bytes], *, length: int | None = None) -> tuple[int, bytes]:
    """PUT ``chunks`` as separate sends; with ``length`` a Content-Length body, else chunked."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        headers = {"Content-Length": str(length)} if length is not None else {"Transfer-Encoding": "chunked"}
        conn.request("PUT", f"{parts.path}?{parts.query}", body=iter(chunks), headers=headers,
                     encode_chunked=length is None)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def download_url(base_url: str, upload_id: str) -> str:
    run = httpx.post(f"{base_url}/v1/applications/sig/runs", headers=HEADERS,
                     json={"upload_id": upload_id, "result": {"status": "succeeded"}}).json()
    r = httpx.get(f"{base_url}/v1/applications/sig/runs/{run['run_id']}/input", params={"format": "url"}, headers=HEADERS)
    return r.json()["url"]


def leftovers(data_dir: Path) -> list[str]:
    """Every file under the uploads folder: blobs and temp files alike."""
    folder = data_dir / "blobs" / "uploads"
    return sorted(p.name for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def payload(size: int) -> bytes:
    return (os.urandom(4096) * (size // 4096 + 1))[:size]


def test_a_multi_block_upload_and_download_round_trip(base_url: str, data_dir: Path) -> None:
    body = payload(5 * 1024 * 1024 + 12345)  # many write blocks, an odd tail
    slot = new_slot(base_url)
    uneven = [body[i : i + 700_001] for i in range(0, len(body), 700_001)]
    status, answer = put(slot["upload_url"], uneven, length=len(body))
    assert status == 200 and json.loads(answer) == {"size": len(body)}
    stored = data_dir / "blobs" / "uploads" / slot["upload_id"]
    assert stored.read_bytes() == body
    assert leftovers(data_dir) == [slot["upload_id"]]  # no temp file left behind
    got = httpx.get(download_url(base_url, slot["upload_id"]))
    assert got.status_code == 200 and hashlib.sha256(got.content).digest() == hashlib.sha256(body).digest()


def test_a_chunked_upload_without_content_length(base_url: str, data_dir: Path) -> None:
    body = payload(3 * 1024 * 1024 + 7)
    slot = new_slot(base_url)
    status, _ = put(slot["upload_url"], [body[i : i + 65536] for i in range(0, len(body), 65536)])
    assert status == 200
    assert (data_dir / "blobs" / "uploads" / slot["upload_id"]).read_bytes() == body


def test_an_empty_upload_is_an_empty_object(base_url: str, data_dir: Path) -> None:
    slot = new_slot(base_url)
    assert put(slot["upload_url"], [], length=0)[0] == 200
    assert (data_dir / "blobs" / "uploads" / slot["upload_id"]).read_bytes() == b""


def raw_put(url: str, length: int) -> socket.socket:
    """A socket that has sent a PUT's headers declaring ``length`` bytes, and no body yet."""
    parts = urlsplit(url)
    s = socket.create_connection((parts.hostname, parts.port), timeout=10)
    s.sendall(f"PUT {parts.path}?{parts.query} HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n\r\n".encode())
    return s


def test_a_bad_signature_is_refused_before_anything_is_stored(base_url: str, data_dir: Path) -> None:
    slot = new_slot(base_url)
    tampered = slot["upload_url"].replace("signature=", "signature=0")
    status, _ = put(tampered, [b"x" * 1024 * 1024], length=1024 * 1024)
    assert status == 403
    as_get = slot["upload_url"].replace("method=PUT", "method=GET")
    assert httpx.get(as_get).status_code == 403
    assert leftovers(data_dir) == []


def test_a_declared_size_over_the_limit_is_refused_up_front(base_url: str, data_dir: Path) -> None:
    slot = new_slot(base_url)
    with raw_put(slot["upload_url"], LIMIT + 1) as s:  # only the headers: the answer must not wait for a body
        answer = s.recv(65536)
    assert answer.startswith(b"HTTP/1.1 400") and b"larger than the limit" in answer
    assert leftovers(data_dir) == []


def test_a_chunked_body_over_the_limit_leaves_nothing(base_url: str, data_dir: Path) -> None:
    slot = new_slot(base_url)
    block = b"y" * (1024 * 1024)
    status, answer = put(slot["upload_url"], [block] * 8)  # 8 MiB, no Content-Length
    assert status == 400 and b"larger than the limit" in answer
    assert leftovers(data_dir) == []


def test_an_aborted_upload_leaves_nothing_and_can_be_retried(base_url: str, data_dir: Path) -> None:
    slot = new_slot(base_url)
    with raw_put(slot["upload_url"], 5 * 1024 * 1024) as s:
        s.sendall(b"z" * (3 * 1024 * 1024))
        time.sleep(0.3)  # let the server write some blocks
    deadline = time.monotonic() + 10
    while leftovers(data_dir) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert leftovers(data_dir) == []
    body = payload(1024 * 1024)
    assert put(slot["upload_url"], [body], length=len(body))[0] == 200
    assert (data_dir / "blobs" / "uploads" / slot["upload_id"]).read_bytes() == body


def test_the_sdk_uploads_a_file_in_blocks_with_its_length(base_url: str, data_dir: Path, tmp_path: Path) -> None:
    body = payload(3 * 1024 * 1024 + 5)
    source = tmp_path / "input.bin"
    source.write_bytes(body)
    slot = new_slot(base_url)
    client = Client(api_key=KEY, url=base_url)
    try:
        with open(source, "rb") as f:
            f.read(10)  # the SDK sends the whole file, wherever its position
            client.upload_to_presigned_url(data=f, url=slot["upload_url"])
    finally:
        client.close()
    assert (data_dir / "blobs" / "uploads" / slot["upload_id"]).read_bytes() == body


def test_the_sdk_sends_content_length_not_chunks() -> None:
    seen: dict[str, object] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen["headers"] = dict(request.headers)
        seen["body"] = request.read()
        return httpx.Response(200, json={"size": len(seen["body"])})  # type: ignore[arg-type]

    client = Client(api_key=KEY, url="http://runyard.test", transport=httpx.MockTransport(handler))
    client.upload_to_presigned_url(data=io.BytesIO(b"a" * 3_000_000), url="http://runyard.test/v1/signed/uploads/u?x=1")
    headers = seen["headers"]
    assert isinstance(headers, dict) and headers.get("content-length") == "3000000"
    assert "transfer-encoding" not in headers and "authorization" not in headers
    assert seen["body"] == b"a" * 3_000_000


# --- the filesystem writer on its own ---------------------------------------------------------------

def test_a_preallocated_object_keeps_only_what_was_written(tmp_path: Path) -> None:
    store = open_blob_store(f"file://{tmp_path / 'blobs'}")
    with store.open_writer("k", size_hint=32 * 1024 * 1024) as writer:
        writer.write_parts([b"a" * 1000, b"b" * 24])
        assert not store.exists("k")  # nothing visible before the commit
        assert writer.commit() == 1024
    assert store.get_bytes("k") == b"a" * 1000 + b"b" * 24
    assert [p.name for p in (tmp_path / "blobs").iterdir()] == ["k"]


def test_an_uncommitted_writer_leaves_nothing(tmp_path: Path) -> None:
    store = open_blob_store(f"file://{tmp_path / 'blobs'}")
    with store.open_writer("k", size_hint=16 * 1024 * 1024) as writer:
        writer.write(b"partial")
    assert not store.exists("k") and list((tmp_path / "blobs").iterdir()) == []


def test_short_writes_are_completed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_write = os.write
    # A short write stores a prefix of what was asked, at most 333 bytes here.
    monkeypatch.setattr(filesystem.os, "writev", lambda fd, bufs: real_write(fd, b"".join(bytes(b) for b in bufs)[:333]))
    monkeypatch.setattr(filesystem.os, "write", lambda fd, buf: real_write(fd, bytes(buf)[:333]))
    store = open_blob_store(f"file://{tmp_path / 'blobs'}")
    parts = [os.urandom(1000), b"", os.urandom(5000), os.urandom(1)]
    with store.open_writer("k") as writer:
        writer.write_parts(parts)
        writer.commit()
    assert store.get_bytes("k") == b"".join(parts)
