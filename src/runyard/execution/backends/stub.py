"""A stub executor for tests: no processes; a run's output is its input, at once."""

from __future__ import annotations

import threading
from collections.abc import Callable

from runyard.execution.backends.base import Executor, ReportSink
from runyard.execution.contract import RunReport, RunTask
from runyard.storage.blobs import BlobStore


class StubExecutor(Executor):
    def __init__(self, *, blobs: BlobStore, on_done: ReportSink, wakeup: Callable[[], None] = lambda: None,
                 capacity: int = 1000) -> None:
        self._blobs, self._on_done, self._wakeup, self._capacity = blobs, on_done, wakeup, capacity
        self._lock = threading.Lock()
        self._running: set[str] = set()

    def submit(self, task: RunTask) -> None:
        with self._lock:
            self._running.add(task.run_id)
        threading.Thread(target=self._complete, args=(task,), daemon=True).start()

    def _complete(self, task: RunTask) -> None:
        data = self._blobs.get_bytes(task.input_key) if task.input_key else b"{}"
        size = self._blobs.put_bytes(task.output_key, data)
        with self._lock:
            self._running.discard(task.run_id)
        self._on_done(task.run_id, RunReport(exit_code=0, output_key=task.output_key, output_size=size,
                                             log_key=task.log_key))
        self._wakeup()

    def cancel(self, run_id: str) -> None:
        pass

    def free_capacity(self, execution_class: str) -> int:
        return self._capacity

    def running(self) -> list[str]:
        with self._lock:
            return list(self._running)

    def shutdown(self, *, cancel_running: bool = True) -> None:
        pass
