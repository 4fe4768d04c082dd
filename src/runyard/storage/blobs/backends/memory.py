"""An in-memory blob store that keeps real state: the fake for tests and a ``memory://`` backend."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from typing import BinaryIO

from runyard.storage.blobs.base import BlobNotFound, BlobStore


class MemoryBlobStore(BlobStore):
    def __init__(self) -> None:
        self._objects: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def write_stream(self, key: str, chunks: Iterator[bytes], *, max_bytes: int | None = None) -> int:
        buf = io.BytesIO()
        for chunk in chunks:
            buf.write(chunk)
            if max_bytes is not None and buf.tell() > max_bytes:
                raise ValueError(f"payload is larger than the limit of {max_bytes} bytes")
        with self._lock:
            self._objects[key] = buf.getvalue()
        return buf.tell()

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

    def append(self, key: str, data: bytes) -> None:
        with self._lock:
            self._objects[key] = self._objects.get(key, b"") + data
