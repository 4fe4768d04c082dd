"""The blob contract, once per backend: filesystem, memory and S3 (a real SeaweedFS on loopback)."""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

from runyard.storage.blobs import BlobChanged, BlobNotFound, BlobStore, BlobStoreUnavailable, open_blob_store
from runyard.storage.blobs.backends import s3 as s3_backend
from runyard.testing.postgres import free_port
from runyard.testing.seaweedfs import SeaweedS3

BACKENDS = ["filesystem", "memory", "s3"]
BUCKET = "contract"


def s3_store(server: SeaweedS3, prefix: str, **env: str) -> s3_backend.S3BlobStore:
    return s3_backend.from_url(f"s3://{BUCKET}/{prefix}?create=true", environ={**server.env(), **env})


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    if request.param == "filesystem":
        return open_blob_store(f"file://{tmp_path / 'blobs'}")
    if request.param == "memory":
        return open_blob_store("memory://")
    server: SeaweedS3 = request.getfixturevalue("seaweedfs")
    return s3_store(server, f"t-{uuid.uuid4().hex[:10]}")


def chunks_of(data: bytes, size: int) -> Iterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


def test_a_writer_streams_and_publishes_only_on_commit(store: BlobStore) -> None:
    data = os.urandom(300_000)
    writer = store.open_writer("a/obj")
    for piece in chunks_of(data, 64 * 1024):
        writer.write(piece)
    assert not store.exists("a/obj"), "nothing is visible before commit"
    assert writer.commit() == len(data)
    assert store.get_bytes("a/obj") == data
    assert store.size("a/obj") == len(data)
    assert b"".join(store.iter_chunks("a/obj", start=1000)) == data[1000:]
    with store.open("a/obj") as f:
        f.seek(250_000)
        assert f.read(10) == data[250_000:250_010]


def test_a_commit_replaces_an_object_whole(store: BlobStore) -> None:
    store.put_bytes("k", b"first version, longer")
    store.put_bytes("k", b"second")
    assert store.get_bytes("k") == b"second"


def test_abort_and_an_uncommitted_writer_leave_nothing(store: BlobStore) -> None:
    writer = store.open_writer("gone")
    writer.write(b"x" * 1000)
    writer.abort()
    writer.abort()  # harmless twice
    with store.open_writer("gone-too") as w:
        w.write(b"y" * 1000)
    assert not store.exists("gone") and not store.exists("gone-too")
    with pytest.raises(ValueError):
        writer.write(b"more")


def test_a_write_past_max_bytes_fails_and_stores_nothing(store: BlobStore) -> None:
    with pytest.raises(ValueError, match="limit of 1000 bytes"):
        store.write_stream("big", iter([b"a" * 600, b"b" * 600]), max_bytes=1000)
    assert not store.exists("big")
    assert store.write_stream("fits", iter([b"a" * 600, b"b" * 400]), max_bytes=1000) == 1000


def test_missing_keys_raise_blob_not_found(store: BlobStore) -> None:
    for read in (store.open, store.size, store.get_bytes, lambda k: list(store.iter_chunks(k))):
        with pytest.raises(BlobNotFound):
            read("no/such/key")
    assert not store.exists("no/such/key")
    store.delete("no/such/key")  # deleting what is not there is fine
    store.delete_prefix("no/such/")


def test_appends_build_a_log_readable_from_any_offset_while_it_grows(store: BlobStore) -> None:
    records = [json.dumps({"l": f"line {i}", "pad": "x" * (i % 50)}).encode() + b"\n" for i in range(150)]
    written = b""
    for record in records:  # more appends than the S3 store compacts at
        offset = len(written)
        store.append("runs/r1/log", record)
        written += record
        with store.open("runs/r1/log") as f:  # as live logs read: seek to the offset, read what is new
            f.seek(offset)
            assert f.read() == record
    assert store.get_bytes("runs/r1/log") == written
    assert store.size("runs/r1/log") == len(written)
    assert b"".join(store.iter_chunks("runs/r1/log", start=777)) == written[777:]
    with store.open("runs/r1/log") as f:
        assert [line for line in f] == records


def test_a_log_read_while_another_thread_appends_is_always_a_prefix(store: BlobStore) -> None:
    records = [f"record {i:04d}\n".encode() for i in range(200)]
    full = b"".join(records)
    done = threading.Event()

    def writer() -> None:
        for record in records:
            store.append("live/log", record)
        done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    seen, offset = b"", 0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        finished = done.is_set()
        if store.exists("live/log"):
            with store.open("live/log") as f:
                f.seek(offset)
                new = f.read()
            seen += new
            offset += len(new)
            assert full.startswith(seen), "a live read saw bytes out of order or twice"
        if finished:
            break
    thread.join()
    assert seen == full


def test_delete_prefix_removes_objects_and_logs_under_it_only(store: BlobStore) -> None:
    store.put_bytes("runs/a/input", b"1")
    store.put_bytes("runs/a/assets/x", b"2")
    store.append("runs/a/log", b"3")
    store.put_bytes("runs/ab/input", b"4")
    store.put_bytes("runs/b/input", b"5")
    store.delete_prefix("runs/a/")
    assert not store.exists("runs/a/input") and not store.exists("runs/a/assets/x") and not store.exists("runs/a/log")
    assert store.get_bytes("runs/ab/input") == b"4" and store.get_bytes("runs/b/input") == b"5"
    store.append("runs/a/log", b"new")  # a log deleted and started again starts empty
    assert store.get_bytes("runs/a/log") == b"new"
    store.delete("runs/a/log")
    assert not store.exists("runs/a/log")


def test_list_keys_gives_every_object_under_a_prefix_with_size_and_time(store: BlobStore) -> None:
    before = datetime.now(UTC) - timedelta(seconds=5)
    store.put_bytes("runs/r1/input", b"12345")
    store.put_bytes("runs/r1/output", b"1")
    store.put_bytes("runs/r10/input", b"123")
    store.put_bytes("uploads/u1", b"xy")
    store.append("runs/r1/log", b"line\n")
    under_r1 = {info.key: info for info in store.list_keys("runs/r1/")}
    assert set(under_r1) == {"runs/r1/input", "runs/r1/output"} | {k for k in under_r1 if k.startswith("runs/r1/log")}
    assert any(k.startswith("runs/r1/log") for k in under_r1), "a log is listed (as one object or its chunks)"
    assert under_r1["runs/r1/input"].size == 5
    assert all(before <= info.modified <= datetime.now(UTC) + timedelta(seconds=5) for info in under_r1.values())
    everything = {info.key for info in store.list_keys()}
    assert {"runs/r1/input", "runs/r10/input", "uploads/u1"} <= everything
    assert {info.key for info in store.list_keys("runs/r1")} >= {"runs/r1/input", "runs/r10/input"}  # a plain prefix, not a folder
    assert list(store.list_keys("nothing/here/")) == []
    store.delete_prefix("runs/r1/")
    assert {info.key for info in store.list_keys("runs/")} == {"runs/r10/input"}


def test_copy_makes_an_independent_object(store: BlobStore) -> None:
    store.put_bytes("src", b"payload")
    assert store.copy("src", "dst") == 7
    store.put_bytes("src", b"changed")
    assert store.get_bytes("dst") == b"payload"
    store.append("log", b"a")
    store.append("log", b"b")
    assert store.copy("log", "log-copy") == 2
    assert store.get_bytes("log-copy") == b"ab"
    with pytest.raises(BlobNotFound):
        store.copy("absent", "dst2")


def test_concurrent_writers_never_mix_their_objects(store: BlobStore) -> None:
    payloads = {i: bytes([i]) * 200_000 for i in range(6)}
    errors: list[BaseException] = []

    def write(i: int) -> None:
        try:
            store.write_stream("shared", chunks_of(payloads[i], 50_000))
            store.write_stream(f"own/{i}", chunks_of(payloads[i], 50_000))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(i,)) for i in payloads]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert store.get_bytes("shared") in payloads.values(), "one writer's object, whole"
    for i, data in payloads.items():
        assert store.get_bytes(f"own/{i}") == data


def test_a_large_object_streams_up_and_down(store: BlobStore) -> None:
    size = 3 * s3_backend.PART + 12345  # a multipart upload of four parts on S3
    block = os.urandom(1024 * 1024)
    digest = hashlib.sha256()
    with store.open_writer("large", size_hint=size) as w:
        written = 0
        while written < size:
            piece = block[: min(len(block), size - written)]
            w.write(piece)
            digest.update(piece)
            written += len(piece)
        assert w.commit() == size
    assert store.size("large") == size
    down = hashlib.sha256()
    for piece in store.iter_chunks("large"):
        down.update(piece)
    assert down.hexdigest() == digest.hexdigest()


def test_presigned_urls_put_and_get_one_object_until_they_expire(store: BlobStore) -> None:
    url = store.presign("PUT", "uploads/u1", 60)
    if url is None:
        assert not isinstance(store, s3_backend.S3BlobStore), "the S3 store presigns"
        return
    assert requests.put(url, data=b"straight to the store", timeout=10).status_code == 200
    assert store.get_bytes("uploads/u1") == b"straight to the store"
    got = requests.get(store.presign("GET", "uploads/u1", 60), timeout=10)  # type: ignore[arg-type]
    assert got.status_code == 200 and got.content == b"straight to the store"
    # One object: the signature does not carry over to another key.
    other = url.replace("uploads/u1", "uploads/u2")
    assert requests.put(other, data=b"no", timeout=10).status_code == 403
    assert not store.exists("uploads/u2")
    short = store.presign("GET", "uploads/u1", 1)
    time.sleep(2.2)  # the expiry is whole seconds
    assert requests.get(short, timeout=10).status_code == 403  # type: ignore[arg-type]


def test_a_pinned_key_reads_the_object_as_it_was_or_refuses(store: BlobStore) -> None:
    store.put_bytes("uploads/p", b"as pinned")
    pinned = store.pin("uploads/p")
    assert store.get_bytes(pinned) == b"as pinned" and store.size(pinned) == 9
    if not store.presigns:
        assert pinned == "uploads/p", "only objects clients can write need pinning"
        return
    store.put_bytes("uploads/p", b"written again")
    for read in (store.get_bytes, store.size, lambda k: store.presign("GET", k, 60)):
        with pytest.raises(BlobChanged, match="written again after it was taken into use"):
            read(pinned)
    store.delete(pinned)
    assert not store.exists("uploads/p")
    with pytest.raises(BlobNotFound):
        store.pin("uploads/p")


# -- S3 only -----------------------------------------------------------------------------------------


def _pending_multipart_uploads(server: SeaweedS3) -> list[str]:
    """SeaweedFS keeps unfinished multipart uploads as folders under the bucket's ``.uploads``."""
    request = urllib.request.Request(f"http://127.0.0.1:{server.ports['filer.port']}/buckets/{BUCKET}/.uploads/",
                                     headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as r:
            listing = json.load(r)
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return []
        raise
    return [entry["FullPath"] for entry in listing.get("Entries") or []]


def test_s3_aborting_a_multipart_upload_leaves_no_parts(seaweedfs: SeaweedS3) -> None:
    store = s3_store(seaweedfs, f"t-{uuid.uuid4().hex[:10]}")
    before = _pending_multipart_uploads(seaweedfs)
    writer = store.open_writer("big")
    for _ in range(3):
        writer.write(os.urandom(s3_backend.PART))  # parts are on their way up
    writer.abort()
    assert not store.exists("big")
    deadline = time.monotonic() + 10
    while _pending_multipart_uploads(seaweedfs) != before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _pending_multipart_uploads(seaweedfs) == before


def test_s3_many_small_appends_are_compacted(seaweedfs: SeaweedS3) -> None:
    store = s3_store(seaweedfs, f"t-{uuid.uuid4().hex[:10]}")
    for i in range(2 * s3_backend.COMPACT_EVERY + 5):
        store.append("log", f"{i}\n".encode())
    chunks = store._chunks("log")
    assert len(chunks) == 2 + 5
    assert store.get_bytes("log") == b"".join(f"{i}\n".encode() for i in range(2 * s3_backend.COMPACT_EVERY + 5))
    # Another process (a new store) continues the same log where it ended, and the first, which still
    # remembers the old end, finds the new one: neither overwrites the other's lines.
    again = s3_store(seaweedfs, store.prefix)
    again.append("log", b"more\n")
    store.append("log", b"and more\n")
    again.append("log", b"last\n")
    assert store.get_bytes("log").endswith(f"{2 * s3_backend.COMPACT_EVERY + 4}\nmore\nand more\nlast\n".encode())


def test_s3_blob_url_is_read_with_the_standard_aws_settings(seaweedfs: SeaweedS3, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in seaweedfs.env().items():
        monkeypatch.setenv(name, value)
    store = open_blob_store(f"s3://{BUCKET}/via-env-{uuid.uuid4().hex[:6]}?create=true")
    store.put_bytes("k", b"v")
    assert store.get_bytes("k") == b"v"


def test_s3_a_missing_bucket_is_named_unless_asked_to_create_it(seaweedfs: SeaweedS3) -> None:
    name = f"absent-{uuid.uuid4().hex[:8]}"
    with pytest.raises(BlobStoreUnavailable, match=f"bucket '{name}' does not exist.*create=true"):
        s3_backend.from_url(f"s3://{name}/p", environ=seaweedfs.env())
    created = s3_backend.from_url(f"s3://{name}/p?create=true", environ=seaweedfs.env())
    created.put_bytes("k", b"v")
    assert s3_backend.from_url(f"s3://{name}/p", environ=seaweedfs.env()).get_bytes("k") == b"v"


def test_s3_wrong_credentials_and_a_down_endpoint_are_clear_errors(seaweedfs: SeaweedS3) -> None:
    with pytest.raises(BlobStoreUnavailable, match="failed to answer"):
        s3_backend.from_url(f"s3://{BUCKET}/p", environ={**seaweedfs.env(), "AWS_SECRET_ACCESS_KEY": "wrong"})
    down = {**seaweedfs.env(), "AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"}
    start = time.monotonic()
    with pytest.raises(BlobStoreUnavailable, match="127.0.0.1"):
        s3_backend.from_url(f"s3://{BUCKET}/p", environ=down)
    assert time.monotonic() - start < 30, "a dead endpoint fails within the retry budget"
    with pytest.raises(ValueError, match="names no bucket"):
        s3_backend.from_url("s3:///p", environ=seaweedfs.env())
