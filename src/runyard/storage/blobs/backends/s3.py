"""Blobs in an S3-compatible object store (``s3://BUCKET/PREFIX``), through ``obstore``.

Configured as every S3 tool is: ``AWS_ENDPOINT_URL`` (absent: AWS itself), ``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY`` (absent: obstore's usual chain, e.g. an instance role) and ``AWS_REGION``.
``?create=true`` on the URL creates the bucket when it is missing.

- Writers stream: up to ``PART`` bytes are buffered; a larger object goes up as a multipart upload
  (at most ``PARTS_IN_FLIGHT`` parts uploading while the next one fills), completed by ``commit``
  and aborted by ``abort``. Nothing is visible before ``commit``.
- ``append`` (run logs) stores each batch as its own object ``<key>.chunks/<first>-<last>`` and reads
  concatenate them, so a live log can be read from an offset while the run still writes it. Every
  ``COMPACT_EVERY`` appends, the small chunks are merged into one (written before the small ones are
  deleted; readers take the widest chunks that cover the log without a gap).
- ``presign`` hands out SigV4 query-signed URLs for one object and method; ``pin`` names an object
  as it is now (its ETag in the key), read with ``If-Match`` so a later PUT to it is refused.

obstore was chosen by measuring it against boto3 on SeaweedFS (``bench/s3_clients.py``).
"""

from __future__ import annotations

import io
import os
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, BinaryIO
from urllib.parse import parse_qs, urlparse

from runyard.storage.blobs.base import (
    BlobChanged,
    BlobInfo,
    BlobNotFound,
    BlobStore,
    BlobStoreUnavailable,
    BlobWriter,
    over_limit,
)

PART = 8 * 1024 * 1024
PARTS_IN_FLIGHT = 2
COMPACT_EVERY = 64
READ_CHUNK = 1024 * 1024
CHUNKS = ".chunks/"
PIN = "#etag="  # a pinned key: ``<key>#etag=<the object's ETag when it was pinned>``
_CHUNK_NAME = re.compile(r"^(\d{12})-(\d{12})$")
# How many logs' append positions one process remembers (a forgotten one is found again by a LIST),
# and for how long unused: another process may append to the same log meanwhile (the dispatcher's own
# lines in a log a worker node writes), and a position older than that is looked up again.
_REMEMBERED_LOGS = 1024
_REMEMBER_SECONDS = 2.0
_APPEND_ATTEMPTS = 5


def _obstore() -> Any:
    try:
        import obstore
    except ImportError:  # pragma: no cover - depends on the install
        raise BlobStoreUnavailable("the s3 blob store needs obstore: pip install 'runyard[s3]'") from None
    return obstore


def from_url(url: str, environ: dict[str, str] | None = None) -> S3BlobStore:
    """The store for ``s3://BUCKET/PREFIX[?create=true]``, with the ``AWS_*`` settings of ``environ``."""
    parsed = urlparse(url)
    if not parsed.netloc:
        raise ValueError(f"the blob URL {url!r} names no bucket: use s3://BUCKET/PREFIX")
    options = parse_qs(parsed.query)
    create = options.get("create", ["false"])[-1].lower() in ("1", "true", "yes")
    env = os.environ if environ is None else environ
    return S3BlobStore(bucket=parsed.netloc, prefix=parsed.path.strip("/"), create_bucket=create,
                       endpoint=env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL"),
                       region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
                       access_key_id=env.get("AWS_ACCESS_KEY_ID"), secret_access_key=env.get("AWS_SECRET_ACCESS_KEY"),
                       session_token=env.get("AWS_SESSION_TOKEN"))


def _brief(exc: BaseException) -> str:
    """The first line of an obstore error (the rest is a debug dump)."""
    return str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__


@dataclass
class _LogState:
    """What this process knows of one appended log: the next chunk number and the small chunks since
    the last compaction."""

    next_index: int
    small: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    used_at: float = field(default_factory=time.monotonic)


class S3BlobStore(BlobStore):
    presigns = True

    def __init__(self, *, bucket: str, prefix: str = "", endpoint: str | None = None, region: str = "us-east-1",
                 access_key_id: str | None = None, secret_access_key: str | None = None,
                 session_token: str | None = None, create_bucket: bool = False) -> None:
        ob = _obstore()
        from obstore.store import S3Store

        self.bucket, self.prefix, self.endpoint = bucket, prefix, endpoint
        self._where = f"s3://{bucket}/{prefix}" + (f" at {endpoint}" if endpoint else "")
        config: dict[str, Any] = {"region": region}
        if endpoint:
            config.update(endpoint=endpoint, virtual_hosted_style_request=False)
        if access_key_id and secret_access_key:
            config.update(access_key_id=access_key_id, secret_access_key=secret_access_key)
            if session_token:
                config["session_token"] = session_token
        client = {"connect_timeout": timedelta(seconds=5), "allow_http": bool(endpoint and endpoint.startswith("http://"))}
        # 5xx answers and dropped connections are retried for about 5 s (a new bucket's first write may
        # find its storage still being allocated), then reported.
        retry = {"max_retries": 6, "retry_timeout": timedelta(seconds=20),
                 "backoff": {"init_backoff": timedelta(milliseconds=100), "max_backoff": timedelta(seconds=2), "base": 2}}
        self._ob, self._options = ob, {"config": config, "client_options": client, "retry_config": retry}
        self._store = S3Store(bucket, prefix=prefix or None, **self._options)
        self._logs: OrderedDict[str, _LogState] = OrderedDict()
        self._logs_lock = threading.Lock()
        self._check_bucket(create_bucket)

    # -- errors ------------------------------------------------------------------------------------

    def _unavailable(self, exc: BaseException, what: str) -> BlobStoreUnavailable:
        return BlobStoreUnavailable(f"the S3 blob store {self._where} failed to {what}: {_brief(exc)}")

    def _check_bucket(self, create: bool) -> None:
        try:
            self._ob.list_with_delimiter(self._store, None)
            return
        except FileNotFoundError as exc:  # obstore reports NoSuchBucket as a missing object
            missing = exc
        except Exception as exc:  # noqa: BLE001 - obstore's errors share no base with the OS's
            if "NoSuchBucket" not in str(exc):
                raise self._unavailable(exc, "answer (is AWS_ENDPOINT_URL right and the server up?)") from None
            missing = exc
        if not create:
            raise BlobStoreUnavailable(
                f"the bucket {self.bucket!r} does not exist{' at ' + self.endpoint if self.endpoint else ''}: "
                f"create it, or add ?create=true to the blob URL ({_brief(missing)})")
        self._create_bucket()

    def _create_bucket(self) -> None:
        import urllib.error
        import urllib.request

        from obstore.store import S3Store

        # obstore has no bucket API: a presigned PUT on the bucket's own URL is CreateBucket.
        root = S3Store(self.bucket, **self._options)
        url = self._ob.sign(root, "PUT", "", timedelta(seconds=60))
        try:
            urllib.request.urlopen(urllib.request.Request(url, method="PUT", data=b""), timeout=30).close()
        except urllib.error.HTTPError as exc:
            if exc.code != 409:  # BucketAlreadyOwnedByYou: another server created it first
                reason = re.search(rb"<Message>(.*?)</Message>", exc.read() or b"")
                detail = f": {reason[1].decode(errors='replace')}" if reason else ""
                raise BlobStoreUnavailable(f"could not create the bucket {self.bucket!r}: HTTP {exc.code}{detail}") from None
        except OSError as exc:
            raise self._unavailable(exc, "create the bucket") from None

    def _call(self, what: str, key: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except FileNotFoundError:
            raise BlobNotFound(f"blob {key!r} does not exist") from None
        except (BlobStoreUnavailable, BlobChanged):
            raise
        except Exception as exc:  # noqa: BLE001
            if type(exc).__name__ == "PreconditionError":
                raise _changed(key) from None
            raise self._unavailable(exc, f"{what} {key!r}") from None

    # -- objects -----------------------------------------------------------------------------------

    def open_writer(self, key: str, *, max_bytes: int | None = None, size_hint: int | None = None) -> BlobWriter:
        return _S3Writer(self, key, max_bytes)

    def put_bytes(self, key: str, data: bytes) -> int:
        self._call("write", key, self._ob.put, self._store, key, data, use_multipart=False)
        return len(data)

    def _head(self, key: str) -> dict[str, Any] | None:
        try:
            return dict(self._call("read", key, self._ob.head, self._store, key))
        except BlobNotFound:
            return None

    def _segments(self, key: str) -> list[tuple[str, int, str | None]]:
        """(path, size, ETag to insist on) of the objects whose concatenation is ``key``: itself, or
        its appended chunks; a pinned key's object, as long as it is unchanged."""
        path, etag = _unpin(key)
        meta = self._head(path)
        if meta is not None:
            if etag is not None and meta.get("e_tag") != etag:
                raise _changed(path)
            return [(path, int(meta["size"]), etag)]
        if etag is not None:
            raise BlobNotFound(f"blob {path!r} does not exist")
        chunks = self._chunks(key)
        if not chunks:
            raise BlobNotFound(f"blob {key!r} does not exist")
        return [(p, size, None) for _, _, p, size in chunks]

    def open(self, key: str) -> BinaryIO:
        return io.BufferedReader(_SegmentsReader(self, key, self._segments(key)), buffer_size=READ_CHUNK)  # type: ignore[return-value]

    def size(self, key: str) -> int:
        return sum(size for _, size, _ in self._segments(key))

    def iter_chunks(self, key: str, start: int = 0, chunk: int = READ_CHUNK) -> Iterator[bytes]:
        # Not a generator: a missing or changed object is raised here, before a response has started.
        reader = _SegmentsReader(self, key, self._segments(key))
        reader.seek(start)
        return reader.stream()

    def copy(self, src: str, dst: str) -> int:
        segments = self._segments(src)
        if len(segments) == 1 and segments[0][0] == src:  # one object: copied by the server
            self._call("copy", src, self._ob.copy, self._store, src, dst)
            return segments[0][1]
        return super().copy(src, dst)

    def pin(self, key: str) -> str:
        meta = self._head(_unpin(key)[0])
        if meta is None:
            raise BlobNotFound(f"blob {key!r} does not exist")
        if not meta.get("e_tag"):
            raise BlobStoreUnavailable(f"the S3 blob store {self._where} gives objects no ETag: it cannot pin {key!r}")
        return f"{_unpin(key)[0]}{PIN}{meta['e_tag']}"

    def _list(self, prefix: str) -> list[dict[str, Any]]:
        """Every object under the folder of ``prefix`` whose key starts with ``prefix``."""
        folder = prefix[: prefix.rfind("/") + 1].rstrip("/") or None
        out: list[dict[str, Any]] = []
        try:
            for batch in self._ob.list(self._store, folder, chunk_size=1000):
                out.extend(meta for meta in batch if meta["path"].startswith(prefix))
        except FileNotFoundError:
            return []
        except Exception as exc:  # noqa: BLE001
            raise self._unavailable(exc, f"list {prefix!r}") from None
        return out

    def list_keys(self, prefix: str = "") -> Iterator[BlobInfo]:
        folder = prefix[: prefix.rfind("/") + 1].rstrip("/") or None
        try:
            for batch in self._ob.list(self._store, folder, chunk_size=1000):
                for meta in batch:
                    if meta["path"].startswith(prefix):
                        yield BlobInfo(meta["path"], int(meta["size"]), meta["last_modified"])
        except FileNotFoundError:
            return
        except Exception as exc:  # noqa: BLE001
            raise self._unavailable(exc, f"list {prefix!r}") from None

    def _delete(self, paths: list[str]) -> None:
        for i in range(0, len(paths), 1000):
            self._call("delete", paths[i], self._ob.delete, self._store, paths[i : i + 1000])

    def delete_prefix(self, prefix: str) -> None:
        self._delete([meta["path"] for meta in self._list(prefix)])
        self._forget_logs(prefix)

    def delete(self, key: str) -> None:
        key = _unpin(key)[0]
        self._delete([key, *(path for _, _, path, _ in self._chunks(key))])
        self._forget_logs(key)

    # -- appended logs -----------------------------------------------------------------------------

    def _chunks(self, key: str) -> list[tuple[int, int, str, int]]:
        """(first, last, path, size) of the chunks covering ``key`` from its start without a gap: the
        widest where a compacted chunk and the small ones it replaced are both listed."""
        found: list[tuple[int, int, str, int]] = []
        for meta in self._list(key + CHUNKS):
            match = _CHUNK_NAME.match(meta["path"][len(key) + len(CHUNKS):])
            if match:
                found.append((int(match[1]), int(match[2]), meta["path"], int(meta["size"])))
        found.sort(key=lambda c: (c[0], -c[1]))
        cover, expected = [], 0
        for chunk in found:
            if chunk[0] == expected:
                cover.append(chunk)
                expected = chunk[1] + 1
            elif chunk[0] > expected:
                break  # a gap: what follows is not readable yet
        return cover

    def _log_state(self, key: str) -> _LogState:
        with self._logs_lock:
            state = self._logs.get(key)
            if state is not None and time.monotonic() - state.used_at < _REMEMBER_SECONDS:
                self._logs.move_to_end(key)
                return state
            self._logs.pop(key, None)
        cover = self._chunks(key)
        state = _LogState(next_index=cover[-1][1] + 1 if cover else 0,
                          small=[first for first, last, _, _ in cover if first == last])
        with self._logs_lock:
            state = self._logs.setdefault(key, state)
            while len(self._logs) > _REMEMBERED_LOGS:
                self._logs.popitem(last=False)
        return state

    def _forget_logs(self, prefix: str) -> None:
        with self._logs_lock:
            for key in [k for k in self._logs if k.startswith(prefix)]:
                del self._logs[key]

    @staticmethod
    def _chunk_key(key: str, first: int, last: int) -> str:
        return f"{key}{CHUNKS}{first:012d}-{last:012d}"

    def append(self, key: str, data: bytes) -> None:
        if not data:
            return
        for _ in range(_APPEND_ATTEMPTS):
            state = self._log_state(key)
            with state.lock:
                index = state.next_index
                try:  # create only: a chunk of that number written by another process is never replaced
                    self._ob.put(self._store, self._chunk_key(key, index, index), data, use_multipart=False, mode="create")
                except Exception as exc:  # noqa: BLE001
                    if type(exc).__name__ != "AlreadyExistsError":
                        raise self._unavailable(exc, f"append to {key!r}") from None
                    self._forget_logs(key)  # another process appended: find the end again
                    continue
                state.next_index += 1
                state.small.append(index)
                state.used_at = time.monotonic()
                if len(state.small) >= COMPACT_EVERY:
                    self._compact(key, state)
                return
        raise BlobStoreUnavailable(f"could not append to {key!r}: other writers kept taking the next chunk")

    def _compact(self, key: str, state: _LogState) -> None:
        """Merge the run of small chunks into one: written first, then the small ones deleted."""
        first, last = state.small[0], state.small[-1]
        if last - first + 1 != len(state.small):  # not one run (another process appended): leave them
            state.small.clear()
            return
        paths = [self._chunk_key(key, i, i) for i in state.small]
        data = b"".join(bytes(self._call("read", key, self._ob.get, self._store, p).bytes()) for p in paths)
        self._call("append to", key, self._ob.put, self._store, self._chunk_key(key, first, last), data,
                   use_multipart=False)
        self._delete(paths)
        state.small.clear()

    # -- presigned URLs ----------------------------------------------------------------------------

    def presign(self, method: str, key: str, ttl: int) -> str | None:
        if PIN in key:  # a URL cannot insist on the ETag: check it now, then sign the object itself
            self._segments(key)
            key = _unpin(key)[0]
        return str(self._call("sign", key, self._ob.sign, self._store, method.upper(), key, timedelta(seconds=ttl)))


def _unpin(key: str) -> tuple[str, str | None]:
    path, pin, etag = key.partition(PIN)
    return path, (etag if pin else None)


def _changed(key: str) -> BlobChanged:
    return BlobChanged(f"blob {_unpin(key)[0]!r} was written again after it was taken into use: upload the data anew")


class _SegmentsReader(io.RawIOBase):
    """The concatenation of objects, read with ranged GETs; sequential reads keep one stream open."""

    def __init__(self, store: S3BlobStore, key: str, segments: list[tuple[str, int, str | None]]) -> None:
        self._s, self._key, self._segments = store, key, segments
        self._total = sum(size for _, size, _ in segments)
        self._pos = 0
        self._stream: Iterator[Any] | None = None
        self._pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._total}[whence]
        position = max(0, base + offset)
        if position != self._pos:
            self._pos, self._stream, self._pending = position, None, memoryview(b"")
        return self._pos

    def _open_stream(self) -> bool:
        start = 0
        for path, size, etag in self._segments:
            if self._pos < start + size:
                offset = self._pos - start
                options: dict[str, Any] = {"range": {"offset": offset}} if offset else {}
                if etag is not None:
                    options["if_match"] = etag
                result = self._s._call("read", self._key, self._s._ob.get, self._s._store, path, options=options or None)
                self._stream = iter(result.stream(min_chunk_size=READ_CHUNK))
                return True
            start += size
        return False

    def readinto(self, buffer: Any) -> int:
        target = memoryview(buffer).cast("B")
        while not self._pending:
            if self._pos >= self._total:
                return 0
            if self._stream is None and not self._open_stream():
                return 0
            try:
                piece = next(self._stream)  # type: ignore[arg-type]
            except StopIteration:
                self._stream = None  # the segment ended: the next one opens on the next turn
                continue
            except Exception as exc:  # noqa: BLE001
                raise self._s._unavailable(exc, f"read {self._key!r}") from None
            self._pending = memoryview(piece).cast("B")
        n = min(len(target), len(self._pending))
        target[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        self._pos += n
        return n

    def stream(self) -> Iterator[bytes]:
        """The rest, as the chunks arrive (one copy each into ``bytes``)."""
        while True:
            data = self.read(READ_CHUNK)
            if not data:
                return
            yield data


class _S3Writer(BlobWriter):
    """obstore's writable file: a single PUT on commit for small objects, a multipart upload past
    ``PART``; aborting (an exception through its context manager) aborts the multipart upload."""

    def __init__(self, store: S3BlobStore, key: str, max_bytes: int | None) -> None:
        self._s, self._key, self._max = store, key, max_bytes
        self._file: Any = None
        self._closed = False
        self._lock = threading.Lock()
        self.size = 0

    def _open(self) -> Any:
        if self._closed:
            raise ValueError("the blob writer is closed")
        if self._file is None:
            self._file = self._s._call("write", self._key, self._s._ob.open_writer, self._s._store, self._key,
                                       buffer_size=PART, max_concurrency=PARTS_IN_FLIGHT)
        return self._file

    def write(self, data: bytes | bytearray | memoryview) -> None:
        with self._lock:
            f = self._open()
            if self._max is not None and self.size + len(data) > self._max:
                raise over_limit(self._max)
            try:
                f.write(data)
            except Exception as exc:  # noqa: BLE001
                self._abort_locked()
                raise self._s._unavailable(exc, f"write {self._key!r}") from None
            self.size += len(data)

    def commit(self) -> int:
        with self._lock:
            f = self._open()
            self._closed = True
            self._file = None
            try:
                f.close()
            except Exception as exc:  # noqa: BLE001
                _abort_file(f)
                raise self._s._unavailable(exc, f"write {self._key!r}") from None
            return self.size

    def abort(self) -> None:
        with self._lock:
            self._abort_locked()

    def _abort_locked(self) -> None:
        self._closed = True
        f, self._file = self._file, None
        if f is not None:
            _abort_file(f)


class _Aborted(Exception):
    pass


def _abort_file(f: Any) -> None:
    """obstore aborts a writable file (and its multipart upload) when an exception leaves its context."""
    try:
        f.__exit__(_Aborted, _Aborted(), None)
    except Exception:  # noqa: BLE001,S110 - already failing: nothing more to undo
        pass
