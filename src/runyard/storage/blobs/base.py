"""The one narrow interface every blob backend implements."""

from __future__ import annotations

import abc
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from runyard.domain.errors import Conflict, NotFound, Unavailable

CHUNK = 1024 * 1024


class BlobNotFound(NotFound):
    """The blob does not exist."""


class BlobChanged(Conflict):
    """The object was written again after it was pinned (see ``BlobStore.pin``)."""


class BlobStoreUnavailable(Unavailable):
    """The blob store cannot be reached or refused the request (its message says which and why)."""


def over_limit(max_bytes: int) -> ValueError:
    return ValueError(f"payload is larger than the limit of {max_bytes} bytes")


@dataclass(frozen=True)
class BlobInfo:
    """One stored object, as a listing gives it."""

    key: str
    size: int
    modified: datetime  # aware, UTC


class BlobWriter(abc.ABC):
    """One object being written: ``write`` appends, ``commit`` makes it visible under its key at once,
    ``abort`` discards it. Until ``commit`` nothing is visible; a writer left uncommitted by a ``with``
    block is aborted. ``write`` raises ``ValueError`` past ``max_bytes``, before storing that data.

    The three methods may run in worker threads (one call at a time, as the caller awaits each); they
    are serialised anyway, so an ``abort`` from another thread waits for a ``write`` in progress.
    """

    size: int

    @abc.abstractmethod
    def write(self, data: bytes | bytearray | memoryview) -> None: ...

    def write_parts(self, parts: Sequence[bytes]) -> None:
        """Write several pieces in order, as one write where the backend can (``os.writev``)."""
        for part in parts:
            self.write(part)

    @abc.abstractmethod
    def commit(self) -> int:
        """Publish the object; returns its size."""

    @abc.abstractmethod
    def abort(self) -> None:
        """Discard what was written (harmless after ``commit`` or a previous ``abort``)."""

    def __enter__(self) -> BlobWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.abort()


class BlobStore(abc.ABC):
    """Objects addressed by ``/``-separated keys. Writes stream; nothing holds a whole payload."""

    @abc.abstractmethod
    def open_writer(self, key: str, *, max_bytes: int | None = None, size_hint: int | None = None) -> BlobWriter:
        """A writer for ``key``: the object appears only when it commits (see ``BlobWriter``).
        ``size_hint``, the expected size when known, lets a backend reserve the space up front."""

    def write_stream(self, key: str, chunks: Iterator[bytes], *, max_bytes: int | None = None) -> int:
        """Store the chunks under ``key`` atomically; returns the size. ``ValueError`` past ``max_bytes``."""
        with self.open_writer(key, max_bytes=max_bytes) as writer:
            for chunk in chunks:
                writer.write(chunk)
            return writer.commit()

    @abc.abstractmethod
    def open(self, key: str) -> BinaryIO:
        """A readable binary file for ``key``; ``BlobNotFound`` if absent."""

    @abc.abstractmethod
    def size(self, key: str) -> int:
        """Size in bytes; ``BlobNotFound`` if absent."""

    @abc.abstractmethod
    def delete_prefix(self, prefix: str) -> None:
        """Remove every object whose key starts with ``prefix`` (missing is fine)."""

    @abc.abstractmethod
    def list_keys(self, prefix: str = "") -> Iterator[BlobInfo]:
        """Every stored object whose key starts with ``prefix``, in no particular order (a store's own
        bookkeeping objects, such as an S3 log's chunks, are listed as they are stored)."""

    @abc.abstractmethod
    def append(self, key: str, data: bytes) -> None:
        """Append to ``key`` (created if absent); used for logs while a run writes them."""

    def local_path(self, key: str) -> Path | None:
        """A path on this machine holding the blob, when the backend has one."""
        return None

    #: True for stores whose ``presign`` gives URLs: clients then send and fetch payloads to the store itself.
    presigns: bool = False

    def presign(self, method: str, key: str, ttl: int) -> str | None:
        """A URL allowing ``method`` (GET or PUT) on ``key`` alone for ``ttl`` seconds, signed by the
        store itself so the data never passes through Runyard; ``None`` for stores that cannot."""
        return None

    def pin(self, key: str) -> str:
        """A key that reads ``key`` as it is now, and raises ``BlobChanged`` once it has been written
        again; for objects that clients can write through presigned URLs. Stores whose objects only
        Runyard writes return ``key``."""
        return key

    # Conveniences built on the primitives.
    def put_bytes(self, key: str, data: bytes) -> int:
        return self.write_stream(key, iter([data]))

    def put_file(self, key: str, src: BinaryIO, *, max_bytes: int | None = None) -> int:
        return self.write_stream(key, iter(lambda: src.read(CHUNK), b""), max_bytes=max_bytes)

    def put_local_file(self, key: str, path: Path) -> int:
        """Store the regular file at ``path``, which the caller gives up, under ``key``; returns the size.
        A store on the same file system moves it instead of copying it."""
        with open(path, "rb") as f:
            return self.put_file(key, f)

    def get_bytes(self, key: str) -> bytes:
        with self.open(key) as f:
            return f.read()

    def exists(self, key: str) -> bool:
        try:
            self.size(key)
        except BlobNotFound:
            return False
        return True

    def iter_chunks(self, key: str, start: int = 0, chunk: int = CHUNK) -> Iterator[bytes]:
        with self.open(key) as f:
            if start:
                f.seek(start)
            while data := f.read(chunk):
                yield data

    def delete(self, key: str) -> None:
        self.delete_prefix(key)

    def copy(self, src: str, dst: str) -> int:
        with self.open(src) as f:
            return self.put_file(dst, f)
