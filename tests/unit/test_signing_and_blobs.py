"""Signed URLs and the blob store contract, run against every backend."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from runyard.storage.blobs import BlobNotFound, BlobStore, SignedUrlError, open_blob_store, sign, verify


def test_signature_names_method_object_and_expiry() -> None:
    expires, sig = sign("s3cret", "PUT", "uploads/u1", 60, now=1000)
    verify("s3cret", "PUT", "uploads/u1", expires, sig, now=1059)
    for args in (("GET", "uploads/u1", expires), ("PUT", "uploads/u2", expires), ("PUT", "uploads/u1", expires + 1)):
        with pytest.raises(SignedUrlError, match="does not match"):
            verify("s3cret", *args, sig, now=1000)
    with pytest.raises(SignedUrlError, match="does not match"):
        verify("other", "PUT", "uploads/u1", expires, sig, now=1000)


def test_signed_url_expires() -> None:
    expires, sig = sign("s", "GET", "k", 60, now=1000)
    with pytest.raises(SignedUrlError, match="expired"):
        verify("s", "GET", "k", expires, sig, now=1061)


@pytest.fixture(params=["file", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    return open_blob_store(f"file://{tmp_path / 'blobs'}" if request.param == "file" else "memory://")


def test_write_read_size_delete(store: BlobStore) -> None:
    assert store.put_bytes("runs/r1/input", b"hello") == 5
    assert store.get_bytes("runs/r1/input") == b"hello"
    assert store.size("runs/r1/input") == 5
    store.put_file("runs/r1/output", io.BytesIO(b"x" * 3_000_000))
    assert b"".join(store.iter_chunks("runs/r1/output")) == b"x" * 3_000_000
    store.delete_prefix("runs/r1/")
    assert not store.exists("runs/r1/input") and not store.exists("runs/r1/output")
    with pytest.raises(BlobNotFound):
        store.open("runs/r1/input")


def test_append_builds_a_log(store: BlobStore) -> None:
    store.append("runs/r2/log", b"a\n")
    store.append("runs/r2/log", b"b\n")
    assert store.get_bytes("runs/r2/log") == b"a\nb\n"


def test_a_write_over_the_limit_leaves_nothing(store: BlobStore) -> None:
    with pytest.raises(ValueError, match="larger than the limit"):
        store.write_stream("big", iter([b"x" * 600, b"x" * 600]), max_bytes=1000)
    assert not store.exists("big")


def test_unknown_scheme_lists_known_ones() -> None:
    with pytest.raises(ValueError, match="known: file, memory"):
        open_blob_store("gopher://x")


def test_filesystem_keys_cannot_leave_the_root(tmp_path: Path) -> None:
    store = open_blob_store(f"file://{tmp_path / 'blobs'}")
    with pytest.raises(Exception, match="leaves the store"):
        store.put_bytes("../outside", b"x")
    assert not (tmp_path / "outside").exists()


def test_a_local_file_is_taken_over(store: BlobStore, tmp_path: Path) -> None:
    source = tmp_path / "stdout"
    source.write_bytes(b'{"solution": 1}')
    assert store.put_local_file("runs/r3/output", source) == 15
    assert store.get_bytes("runs/r3/output") == b'{"solution": 1}'


def test_the_filesystem_store_moves_a_local_file_and_makes_it_private(tmp_path: Path) -> None:
    store = open_blob_store(f"file://{tmp_path / 'blobs'}")
    source = tmp_path / "stdout"
    source.write_bytes(b"out")
    source.chmod(0o644)
    store.put_local_file("runs/r4/output", source)
    stored = store.local_path("runs/r4/output")
    assert not source.exists(), "moved, not copied"
    assert stored is not None and stored.read_bytes() == b"out" and stored.stat().st_mode & 0o777 == 0o600


def test_the_filesystem_store_does_not_follow_a_symlink_it_is_handed(tmp_path: Path) -> None:
    store = open_blob_store(f"file://{tmp_path / 'blobs'}")
    secret = tmp_path / "secret"
    secret.write_text("not the run's")
    (tmp_path / "stdout").symlink_to(secret)
    with pytest.raises(OSError):
        store.put_local_file("runs/r5/output", tmp_path / "stdout")
    assert not store.exists("runs/r5/output")
