"""An in-memory blob store that keeps real state: the fake for tests and a ``memory://`` backend."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import BinaryIO

from runyard.storage.blobs.base import BlobInfo, BlobNotFound, BlobStore, BlobWriter, over_limit


class MemoryBlobStore(BlobStore):
    def __init__(self) -> None:
        self._objects: dict[str, bytes] = {}
        self._modified: dict[str, datetime] = {}
        self._lock = threading.Lock()

    def open_writer(self, key: str, *, max_bytes: int | None = None, size_hint: int | None = None) -> BlobWriter:
        return _MemoryWriter(self, key, max_bytes)

    def open(self, key: str) -> BinaryIO:
        with self._lock:
            if key not in self._objects:
                raise BlobNotFound(f"blob {key!r} does not exist")
            return io.BytesIO(self._objects[key])

    def size(self, key: str) -> int:
        with self._lock:
            if key not in self._objects:
                raise BlobNotFound(f"blob {key!r} does not exist")
            return len(self._objects[key])

    def delete_prefix(self, prefix: str) -> None:
        with self._lock:
            for key in [k for k in self._objects if k.startswith(prefix)]:
                del self._objects[key]
                self._modified.pop(key, None)

    def list_keys(self, prefix: str = "") -> Iterator[BlobInfo]:
        with self._lock:
            found = [BlobInfo(k, len(v), self._modified.get(k, datetime.now(UTC))) for k, v in self._objects.items() if k.startswith(prefix)]
        return iter(found)

    def _set(self, key: str, data: bytes) -> None:
        """Set ``key`` (the lock held)."""
        self._objects[key] = data
        self._modified[key] = datetime.now(UTC)

    def append(self, key: str, data: bytes) -> None:
        with self._lock:
            self._set(key, self._objects.get(key, b"") + data)


class _MemoryWriter(BlobWriter):
    def __init__(self, store: MemoryBlobStore, key: str, max_bytes: int | None) -> None:
        self._store, self._key, self._max = store, key, max_bytes
        self._buf: io.BytesIO | None = io.BytesIO()
        self._lock = threading.Lock()
        self.size = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        with self._lock:
            if self._buf is None:
                raise ValueError("the blob writer is closed")
            if self._max is not None and self.size + len(data) > self._max:
                raise over_limit(self._max)
            self._buf.write(data)
            self.size += len(data)

    def commit(self) -> int:
        with self._lock:
            if self._buf is None:
                raise ValueError("the blob writer is closed")
            buf, self._buf = self._buf, None
            with self._store._lock:
                self._store._set(self._key, buf.getvalue())
            return self.size

    def abort(self) -> None:
        with self._lock:
            self._buf = None
