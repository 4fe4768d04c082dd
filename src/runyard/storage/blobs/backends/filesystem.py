"""Blobs as files under one root folder; writes go to a temp file and are renamed into place."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import posixpath
import shutil
import tempfile
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from runyard.domain.errors import Invalid
from runyard.storage.blobs.base import BlobInfo, BlobNotFound, BlobStore, BlobWriter, over_limit


class FilesystemBlobStore(BlobStore):
    def __init__(self, *, root: Path) -> None:
        self.root = root.resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        # Lexical, without a system call per component: the keys are the server's own, and nothing in the
        # store is a link (objects are written by this class; a file handed over is opened O_NOFOLLOW).
        normal = posixpath.normpath(key)
        if normal.startswith("/") or normal == ".." or normal.startswith("../") or "\0" in normal:
            raise Invalid(f"blob key {key!r} leaves the store")
        return self.root / normal if normal != "." else self.root

    def open_writer(self, key: str, *, max_bytes: int | None = None, size_hint: int | None = None) -> BlobWriter:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        return _FileWriter(path, max_bytes, size_hint)

    def put_bytes(self, key: str, data: bytes) -> int:
        """A small object in a few system calls (every run's inline input comes this way): a fresh
        hidden file beside the target, written, then renamed into place."""
        target = os.fspath(self._path(key))
        parent = os.path.dirname(target)
        tmp = os.path.join(parent, f".tmp-{os.urandom(8).hex()}")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        except FileNotFoundError:  # the first object under its folder
            Path(parent).mkdir(parents=True, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            try:
                _writev_all(fd, [data])
            finally:
                os.close(fd)
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        return len(data)

    def put_local_file(self, key: str, path: Path) -> int:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        try:
            os.fchmod(fd, 0o600)  # as private as the store's own files
            size = os.fstat(fd).st_size
        finally:
            os.close(fd)
        try:
            os.replace(path, target)
        except OSError as exc:
            if exc.errno != errno.EXDEV:  # another file system: copy instead
                raise
            return super().put_local_file(key, path)
        return size

    def open(self, key: str) -> BinaryIO:
        try:
            return open(self._path(key), "rb")  # noqa: SIM115
        except (FileNotFoundError, IsADirectoryError):
            raise BlobNotFound(f"blob {key!r} does not exist") from None

    def size(self, key: str) -> int:
        path = self._path(key)
        if not path.is_file():
            raise BlobNotFound(f"blob {key!r} does not exist")
        return path.stat().st_size

    def delete_prefix(self, prefix: str) -> None:
        path = self._path(prefix)
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        elif path.exists():
            path.unlink(missing_ok=True)
        else:
            for match in path.parent.glob(path.name + "*") if path.parent.is_dir() else []:
                if match.is_dir():
                    shutil.rmtree(match, ignore_errors=True)
                else:
                    match.unlink(missing_ok=True)

    def list_keys(self, prefix: str = "") -> Iterator[BlobInfo]:
        folder = prefix[: prefix.rfind("/") + 1]
        top = self._path(folder) if folder else self.root
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames.sort()
            rel = os.path.relpath(dirpath, self.root)
            for name in sorted(filenames):
                key = name if rel == "." else f"{rel}/{name}"
                if not key.startswith(prefix):
                    continue
                try:
                    st = os.lstat(os.path.join(dirpath, name))
                except FileNotFoundError:
                    continue  # removed while listing
                yield BlobInfo(key, st.st_size, datetime.fromtimestamp(st.st_mtime, UTC))

    def append(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "ab") as f:
            f.write(data)

    def local_path(self, key: str) -> Path | None:
        path = self._path(key)
        return path if path.is_file() else None


class _FileWriter(BlobWriter):
    """A hidden temp file next to the target, renamed into place on commit and removed on abort.

    Unbuffered: callers hand over large blocks, which go to ``os.write``/``os.writev`` as they are."""

    # Fewer than IOV_MAX (1024) pieces per writev.
    MAX_PARTS = 512

    # Reserving the blocks of a large object up front makes the writes cheaper (ext4: the page-cache
    # write costs about a third less, the upload ~5-10% less server CPU).
    PREALLOCATE_FROM = 8 * 1024 * 1024

    def __init__(self, path: Path, max_bytes: int | None, size_hint: int | None = None) -> None:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        self._fd: int | None = fd
        self._tmp, self._path, self._max = Path(tmp), path, max_bytes
        self._lock = threading.Lock()
        self.size = 0
        self._allocated = 0
        if size_hint is not None and size_hint >= self.PREALLOCATE_FROM and (max_bytes is None or size_hint <= max_bytes):
            self._allocated = size_hint if _reserve(fd, size_hint) else 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.write_parts([data])

    def write_parts(self, parts: Sequence[bytes | bytearray | memoryview]) -> None:
        with self._lock:
            fd = self._open_fd()
            total = sum(len(p) for p in parts)
            if self._max is not None and self.size + total > self._max:
                raise over_limit(self._max)
            for i in range(0, len(parts), self.MAX_PARTS):
                _writev_all(fd, parts[i : i + self.MAX_PARTS])
            self.size += total

    def commit(self) -> int:
        with self._lock:
            fd = self._open_fd()
            self._fd = None
            try:
                if self._allocated > self.size:
                    os.ftruncate(fd, self.size)  # fewer bytes came than were announced
                os.close(fd)
                os.replace(self._tmp, self._path)
            except BaseException:
                self._tmp.unlink(missing_ok=True)
                raise
            return self.size

    def abort(self) -> None:
        with self._lock:
            if self._fd is None:
                return
            fd, self._fd = self._fd, None
            try:
                os.close(fd)
            finally:
                self._tmp.unlink(missing_ok=True)

    def _open_fd(self) -> int:
        if self._fd is None:
            raise ValueError("the blob writer is closed")
        return self._fd


def _fallocate() -> Any:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        function = libc.fallocate
    except (OSError, AttributeError):  # not Linux
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
    function.restype = ctypes.c_int
    return function


_FALLOCATE = _fallocate()


def _reserve(fd: int, size: int) -> bool:
    """Allocate ``size`` bytes of ``fd`` on disk (its size becomes ``size``), when the filesystem can
    do it natively. Not ``os.posix_fallocate``: where the filesystem cannot, glibc emulates it by
    writing every block, which would cost more than it saves. Failure (no room, unsupported) is fine:
    the writes report a real shortage of space."""
    return _FALLOCATE is not None and _FALLOCATE(fd, 0, 0, size) == 0


def _writev_all(fd: int, parts: Sequence[bytes | bytearray | memoryview]) -> None:
    """``os.writev`` until every byte is written (a write to a file may be short)."""
    views = [memoryview(p) for p in parts if len(p)]
    first = 0
    while first < len(views):
        rest = views[first:]
        written = os.writev(fd, rest) if len(rest) > 1 else os.write(fd, rest[0])
        while first < len(views) and written >= len(views[first]):
            written -= len(views[first])
            first += 1
        if written:
            views[first] = views[first][written:]
