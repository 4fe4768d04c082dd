"""The embedded pool: runs execute as sandboxed subprocesses of threads inside the server process."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from runyard.execution.backends.base import Executor, ReportSink, free_slots
from runyard.execution.contract import RunTask
from runyard.execution.runtime.host import RunHost
from runyard.execution.runtime.sandbox import Sandbox
from runyard.settings import Settings
from runyard.storage.blobs import BlobStore

log = logging.getLogger(__name__)


class EmbeddedExecutor(Executor):
    """``next_run`` is called by a runner thread whose slot just freed: it hands the next queued run
    to ``submit`` from that thread, which then runs it itself."""

    def __init__(self, *, settings: Settings, blobs: BlobStore, on_done: ReportSink, sandbox: Sandbox | None = None,
                 next_run: Callable[[], None] = lambda: None) -> None:
        self._on_done = on_done
        self._next_run = next_run
        self._classes = settings.execution.classes
        self._lock = threading.Lock()
        self._running: dict[str, str] = {}
        # Twice the slots: a thread that has freed its slot may still be cleaning up after its run.
        workers = 2 * max(1, sum(c.concurrency for c in self._classes.values()))
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="runyard-run")
        self._local = threading.local()  # .adopting: the list a runner thread's next run goes to
        # Kept workspaces: at most one per thread (as many as can be running or cleaning up at once).
        self._host = RunHost(settings=settings, blobs=blobs, sandbox=sandbox, spares=workers)

    def submit(self, task: RunTask) -> None:
        with self._lock:
            self._running[task.run_id] = task.execution_class
        self._host.begin(task)
        adopting = getattr(self._local, "adopting", None)
        if adopting is not None and not adopting:
            adopting.append(task)  # a runner thread asked for its next run: it runs it itself
            return
        self._pool.submit(self._execute, task)

    def _execute(self, task: RunTask) -> None:
        """Run ``task``, then as long as the queue has work for the slot it freed, the next one, all in
        this thread: starting the next run from another thread while this one records its result would
        have both contend for the interpreter lock, which costs the server more CPU per run than the
        recording itself."""
        next_task: RunTask | None = task
        while next_task is not None:
            try:
                self._run_one(next_task)
            except Exception:  # cleaning up failed: logged, and the slot still goes on to the next run
                log.exception("cleaning up after run %s failed", next_task.run_id)
            next_task = self._adopt_next()

    def _adopt_next(self) -> RunTask | None:
        self._local.adopting = adopted = []
        try:
            self._next_run()
        finally:
            self._local.adopting = None
        return adopted[0] if adopted else None

    def _run_one(self, task: RunTask) -> None:
        def ended() -> None:
            # The process tree is gone: the slot is free before the run is seen to end, so a client
            # that saw it end and submits at once (even with queuing disabled) finds the room.
            with self._lock:
                self._running.pop(task.run_id, None)

        report, local = self._host.run(task, ended=ended)
        try:
            self._on_done(task.run_id, report)
        except Exception:
            log.exception("could not record the result of run %s", task.run_id)
        finally:
            self._host.finish(local)

    def cancel(self, run_id: str) -> None:
        self._host.cancel(run_id)

    def free_capacity(self, execution_class: str) -> int:
        with self._lock:
            return free_slots(self._classes, self._running, execution_class)

    def running(self) -> list[str]:
        with self._lock:
            return list(self._running)

    def shutdown(self, *, cancel_running: bool = True) -> None:
        if cancel_running:
            for run_id in self.running():
                self._host.cancel(run_id)
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._host.shutdown()

