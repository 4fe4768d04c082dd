"""The embedded pool: runs execute as sandboxed subprocesses of threads inside the server process."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from runyard.execution.backends.base import Executor, ReportSink
from runyard.execution.contract import RunTask
from runyard.execution.runtime.bundles import BundleCache
from runyard.execution.runtime.context import BlobContext
from runyard.execution.runtime.envs import EnvironmentBuilder
from runyard.execution.runtime.orphans import INPUTS_DIR
from runyard.execution.runtime.publish import publish
from runyard.execution.runtime.runner import cleanup, execute
from runyard.execution.runtime.sandbox import Sandbox
from runyard.execution.runtime.spares import WorkspacePool
from runyard.execution.runtime.types import LocalReport
from runyard.settings import Settings
from runyard.storage.archives import ArchiveLimits
from runyard.storage.blobs import BlobStore

log = logging.getLogger(__name__)


class EmbeddedExecutor(Executor):
    """``next_run`` is called by a runner thread whose slot just freed: it hands the next queued run
    to ``submit`` from that thread, which then runs it itself."""

    def __init__(self, *, settings: Settings, blobs: BlobStore, on_done: ReportSink, sandbox: Sandbox | None = None,
                 next_run: Callable[[], None] = lambda: None) -> None:
        self._settings = settings.execution
        self._blobs = blobs
        self._on_done = on_done
        self._sandbox = sandbox
        self._next_run = next_run
        self._classes = self._settings.classes
        self._lock = threading.Lock()
        self._running: dict[str, str] = {}
        # Twice the slots: a thread that has freed its slot may still be cleaning up after its run.
        workers = 2 * max(1, sum(c.concurrency for c in self._classes.values()))
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="runyard-run")
        self._local = threading.local()  # .adopting: the list a runner thread's next run goes to
        self._envs = EnvironmentBuilder(root=settings.env_path(), python=self._settings.python)
        limits = settings.limits
        bundles = BundleCache(settings.data_path("bundles"), blobs,
                              ArchiveLimits(max_files=limits.bundle_max_files, max_bytes=limits.bundle_max_bytes))
        self._work_root = settings.work_path()
        self._ctx = BlobContext(blobs, bundles, self._work_root / INPUTS_DIR)
        # Workspaces of ended runs, laid out again for the next run of the same executable (at most one
        # per thread: as many as can be running or cleaning up at once).
        self._spares = WorkspacePool(0 if self._settings.keep_workspaces else workers)

    def submit(self, task: RunTask) -> None:
        with self._lock:
            self._running[task.run_id] = task.execution_class
        self._ctx.begin(task)
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
        settings = self._settings
        try:
            local = execute(
                task,
                self._ctx,
                envs=self._envs,
                work_root=self._work_root,
                poll_interval=settings.poll_interval_seconds,
                kill_grace=settings.kill_grace_seconds,
                keep_workspace=settings.keep_workspaces,
                defer_cleanup=True,  # after the result is stored: waiting clients don't wait for it
                pool=self._spares,
                sandbox=self._sandbox,
            )
        except Exception as exc:  # the runner should not raise; if it does, the run must still end
            log.exception("runner raised for run %s", task.run_id)
            local = LocalReport(error=f"internal error while executing the run: {exc}")
        try:
            report = publish(self._blobs, task, local)
        finally:
            self._ctx.end(task.run_id)  # the log is complete before the run is seen to end
            # The process tree is gone: the slot is free before the run is seen to end, so a client
            # that saw it end and submits at once (even with queuing disabled) finds the room.
            with self._lock:
                self._running.pop(task.run_id, None)
        try:
            self._on_done(task.run_id, report)
        except Exception:
            log.exception("could not record the result of run %s", task.run_id)
        finally:
            cleanup(local, artifacts=True, pool=self._spares)

    def cancel(self, run_id: str) -> None:
        self._ctx.cancel(run_id)

    def free_capacity(self, execution_class: str) -> int:
        limit = self._classes[execution_class].concurrency if execution_class in self._classes else 0
        with self._lock:
            used = sum(1 for c in self._running.values() if c == execution_class)
        return max(0, limit - used)

    def running(self) -> list[str]:
        with self._lock:
            return list(self._running)

    def shutdown(self, *, cancel_running: bool = True) -> None:
        if cancel_running:
            for run_id in self.running():
                self._ctx.cancel(run_id)
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._spares.clear()
        self._ctx.shutdown()

