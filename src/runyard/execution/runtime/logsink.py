"""A run's log, appended to its blob in batches instead of one blob append per line.

Lines are stamped when they arrive and written together: at once when the batch is large, else by
one flusher thread per sink set within ``max_delay`` seconds, so live logs lag by at most that much
while a chatty app costs one append per batch, not per line.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime

from runyard.execution.contract import log_record
from runyard.storage.blobs import BlobStore

MAX_DELAY = 0.1          # seconds a line may wait before it is written
MAX_BATCH = 64 * 1024    # bytes that are written at once, without waiting


class LogSink:
    """The log of one run; ``line`` from any thread, ``close`` once at the end (writes what is left)."""

    def __init__(self, blobs: BlobStore, key: str, *, on_pending: threading.Event | None = None) -> None:
        self._blobs, self.key = blobs, key
        self._lock = threading.Lock()
        self._parts: list[bytes] = []
        self._size = 0
        self._since = 0.0  # when the oldest waiting line came
        self._on_pending = on_pending

    def line(self, text: str, at: datetime | None = None) -> None:
        record = log_record(text, at)
        with self._lock:
            if not self._parts:
                self._since = time.monotonic()
            self._parts.append(record)
            self._size += len(record)
            full = self._size >= MAX_BATCH
        if full:
            try:
                self.flush()
                return
            except Exception:  # noqa: BLE001 - kept for the flusher to retry; the app goes on
                pass
        if self._on_pending is not None:
            self._on_pending.set()

    def due(self, now: float) -> bool:
        with self._lock:
            return bool(self._parts) and now - self._since >= MAX_DELAY

    def flush(self) -> None:
        """Write what waits; on a failure of the store it keeps waiting (for the next flush) and the error
        is raised."""
        with self._lock:
            data = b"".join(self._parts)
            if data:  # appended under the lock: batches land in the order their lines came
                self._blobs.append(self.key, data)
            self._parts, self._size = [], 0

    def close(self) -> None:
        self.flush()


class LogSinks:
    """The sinks of the runs executing here, with the one thread that writes what has waited long enough."""

    def __init__(self, blobs: BlobStore) -> None:
        self._blobs = blobs
        self._sinks: dict[str, LogSink] = {}
        self._lock = threading.Lock()
        self._pending = threading.Event()
        self._stop = False
        self._thread = threading.Thread(target=self._flusher, name="runyard-logs", daemon=True)
        self._thread.start()

    def open(self, run_id: str, key: str) -> LogSink:
        sink = LogSink(self._blobs, key, on_pending=self._pending)
        with self._lock:
            self._sinks[run_id] = sink
        return sink

    def get(self, run_id: str) -> LogSink | None:
        with self._lock:
            return self._sinks.get(run_id)

    def close(self, run_id: str) -> None:
        with self._lock:
            sink = self._sinks.pop(run_id, None)
        if sink is not None:
            sink.close()

    def _flusher(self) -> None:
        while not self._stop:
            self._pending.wait()
            time.sleep(MAX_DELAY / 2)
            self._pending.clear()
            now = time.monotonic()
            with self._lock:
                sinks = list(self._sinks.values())
            waiting = False
            for sink in sinks:
                if sink.due(now):
                    try:
                        sink.flush()
                    except Exception:  # noqa: BLE001 - a failing store must not end the flusher
                        waiting = True
                elif sink._parts:
                    waiting = True
            if waiting:
                self._pending.set()

    def shutdown(self) -> None:
        with self._lock:
            sinks, self._sinks = list(self._sinks.values()), {}
        for sink in sinks:
            sink.close()
        self._stop = True
        self._pending.set()
