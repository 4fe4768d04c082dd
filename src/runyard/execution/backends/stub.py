"""A stub executor for tests: no processes; a run's output is its input, at once."""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path

from runyard.execution.backends.base import Executor, ReportSink
from runyard.execution.runtime.types import RunReport, RunTask
from runyard.services.platform import Platform


class StubExecutor(Executor):
    def __init__(self, *, platform: Platform, on_done: ReportSink, capacity: int = 1000) -> None:
        self._platform = platform
        self._on_done = on_done
        self._capacity = capacity

    def submit(self, task: RunTask, execution_class: str, input_key: str | None = None) -> None:
        threading.Thread(target=self._complete, args=(task, input_key), daemon=True).start()

    def _complete(self, task: RunTask, input_key: str | None) -> None:
        data = self._platform.blobs.get_bytes(input_key) if input_key else b"{}"
        fd, name = tempfile.mkstemp(prefix="stub-output-")
        with open(fd, "wb") as f:
            f.write(data)
        self._on_done(task.run_id, RunReport(exit_code=0, output_path=Path(name)))
        Path(name).unlink(missing_ok=True)
        self._platform.wakeup()

    def cancel(self, run_id: str) -> None:
        pass

    def free_capacity(self, execution_class: str) -> int:
        return self._capacity

    def shutdown(self, *, cancel_running: bool = True) -> None:
        pass
