"""The runner's view of the platform through the blob store alone: what any backend, on any machine,
gives the runner (``RunContext``). Bundles and inputs are fetched by their keys; logs go through
batching sinks; cancel intent arrives through ``cancel``."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from runyard.execution.contract import RunTask
from runyard.execution.runtime.bundles import BundleCache
from runyard.execution.runtime.logsink import LogSinks
from runyard.storage.blobs import BlobStore

log = logging.getLogger(__name__)


class BlobContext:
    """A ``RunContext`` for the runs a backend executes on this machine."""

    def __init__(self, blobs: BlobStore, bundles: BundleCache, scratch: Path) -> None:
        self._blobs, self._bundles, self._scratch = blobs, bundles, scratch
        self._lock = threading.Lock()
        self._tasks: dict[str, RunTask] = {}
        self._cancel: dict[str, threading.Event] = {}
        self._copies: dict[str, Path] = {}  # inputs fetched to local files, removed by ``end``
        self.logs = LogSinks(blobs)

    def begin(self, task: RunTask) -> None:
        with self._lock:
            self._tasks[task.run_id] = task
            self._cancel[task.run_id] = threading.Event()
        self.logs.open(task.run_id, task.log_key)

    def end(self, run_id: str) -> None:
        """The run is over here: its log is written to the end, its fetched input removed."""
        with self._lock:
            self._tasks.pop(run_id, None)
            self._cancel.pop(run_id, None)
            copy = self._copies.pop(run_id, None)
        try:
            self.logs.close(run_id)
        except Exception:  # noqa: BLE001 - the run still ends; its log lacks the last lines
            log.exception("could not write the end of the log of run %s", run_id)
        if copy is not None:
            copy.unlink(missing_ok=True)

    def cancel(self, run_id: str) -> bool:
        with self._lock:
            event = self._cancel.get(run_id)
        if event is not None:
            event.set()
        return event is not None

    def running(self) -> list[str]:
        with self._lock:
            return list(self._tasks)

    def _task(self, run_id: str) -> RunTask:
        with self._lock:
            return self._tasks[run_id]

    # --- RunContext ---

    def bundle_dir(self, bundle_id: str) -> Path:
        with self._lock:
            task = next((t for t in self._tasks.values() if t.bundle_id == bundle_id), None)
        if task is None:
            raise FileNotFoundError(f"executable {bundle_id} is not known here")
        return self._bundles.ensure(bundle_id, task.bundle_key, task.bundle_sha256 or None)

    def input_path(self, run_id: str) -> Path | None:
        key = self._task(run_id).input_key
        if key is None:
            return None
        local = self._blobs.local_path(key)
        if local is not None:
            return local
        target = self._scratch / run_id
        target.parent.mkdir(parents=True, exist_ok=True)
        with self._blobs.open(key) as src, open(target, "wb") as out:
            while chunk := src.read(1024 * 1024):
                out.write(chunk)
        with self._lock:
            self._copies[run_id] = target
        return target

    def log(self, run_id: str, line: str) -> None:
        sink = self.logs.get(run_id)
        if sink is not None:
            sink.line(line)

    def cancel_requested(self, run_id: str) -> bool:
        with self._lock:
            event = self._cancel.get(run_id)
        return event is not None and event.is_set()

    def mark_started(self, run_id: str) -> None:
        pass

    def shutdown(self) -> None:
        self.logs.shutdown()
