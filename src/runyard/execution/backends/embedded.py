"""The embedded pool: runs execute as subprocesses of threads inside the server process."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from runyard.domain.memo import Memo
from runyard.execution.backends.base import Executor, ReportSink
from runyard.execution.runtime.envs import EnvironmentBuilder
from runyard.execution.runtime.orphans import INPUTS_DIR
from runyard.execution.runtime.runner import cleanup, execute
from runyard.execution.runtime.spares import WorkspacePool
from runyard.execution.runtime.types import RunReport, RunTask
from runyard.services.bundles import ensure_unpacked
from runyard.services.platform import Platform
from runyard.services.runs.logs import append_log
from runyard.storage.db import Bundle

log = logging.getLogger(__name__)


def input_copy_path(platform: Platform, run_id: str) -> Path:
    """Where a run's input is copied when the blob store has no local file for it."""
    return platform.settings.work_path() / INPUTS_DIR / run_id


class _Context:
    """The runner's view of the platform, in-process."""

    def __init__(self, platform: Platform, cancel_events: dict[str, threading.Event], input_keys: dict[str, str | None]) -> None:
        self._platform = platform
        self._cancel = cancel_events
        self._inputs = input_keys
        self._bundle_keys: Memo[str, str] = Memo(1024)
        self.copied_inputs: set[str] = set()  # runs whose input was copied to the work folder

    def bundle_dir(self, bundle_id: str) -> Path:
        key = self._bundle_keys.get(bundle_id)  # a bundle's blob never changes: looked up once
        if key is None:
            with self._platform.db.session() as s:
                bundle = s.get(Bundle, bundle_id)
                if bundle is None:
                    raise FileNotFoundError(f"executable {bundle_id} does not exist")
                key = self._bundle_keys.remember(bundle_id, bundle.blob_key)
        return ensure_unpacked(self._platform, bundle_id, key)

    def input_path(self, run_id: str) -> Path | None:
        key = self._inputs.get(run_id)
        if key is None:
            return None
        local = self._platform.blobs.local_path(key)
        if local is not None:
            return local
        target = input_copy_path(self._platform, run_id)
        target.parent.mkdir(parents=True, exist_ok=True)
        self.copied_inputs.add(run_id)
        with self._platform.blobs.open(key) as src, open(target, "wb") as out:
            while chunk := src.read(1024 * 1024):
                out.write(chunk)
        return target

    def log(self, run_id: str, line: str) -> None:
        append_log(self._platform, run_id, line)

    def cancel_requested(self, run_id: str) -> bool:
        event = self._cancel.get(run_id)
        return event is not None and event.is_set()

    def mark_started(self, run_id: str) -> None:
        pass


class EmbeddedExecutor(Executor):
    def __init__(self, *, platform: Platform, on_done: ReportSink) -> None:
        settings = platform.settings
        self._platform = platform
        self._on_done = on_done
        self._classes = settings.execution.classes
        self._lock = threading.Lock()
        self._running: dict[str, str] = {}
        self._cancel: dict[str, threading.Event] = {}
        self._inputs: dict[str, str | None] = {}
        # Twice the slots: a thread that has freed its slot may still be cleaning up after its run.
        workers = 2 * max(1, sum(c.concurrency for c in self._classes.values()))
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="runyard-run")
        self._local = threading.local()  # .adopting: the list a runner thread's next run goes to
        self._envs = EnvironmentBuilder(root=settings.env_path(), python=settings.execution.python)
        self._ctx = _Context(platform, self._cancel, self._inputs)
        self._work_root = settings.work_path()
        # Workspaces of ended runs, laid out again for the next run of the same executable (at most one
        # per thread: as many as can be running or cleaning up at once).
        self._spares = WorkspacePool(0 if settings.execution.keep_workspaces else workers)

    def submit(self, task: RunTask, execution_class: str, input_key: str | None = None) -> None:
        with self._lock:
            self._running[task.run_id] = execution_class
            self._cancel[task.run_id] = threading.Event()
            self._inputs[task.run_id] = input_key
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
            self._platform.start_queued()
        finally:
            self._local.adopting = None
        return adopted[0] if adopted else None

    def _run_one(self, task: RunTask) -> None:
        settings = self._platform.settings.execution
        try:
            report = execute(
                task,
                self._ctx,
                envs=self._envs,
                work_root=self._work_root,
                poll_interval=settings.poll_interval_seconds,
                kill_grace=settings.kill_grace_seconds,
                keep_workspace=settings.keep_workspaces,
                defer_cleanup=True,  # after the result is stored: waiting clients don't wait for it
                pool=self._spares,
            )
        except Exception as exc:  # the runner should not raise; if it does, the run must still end
            log.exception("runner raised for run %s", task.run_id)
            report = RunReport(error=f"internal error while executing the run: {exc}")
        # The process group is gone: the slot is free before the run is seen to end, so a client that
        # saw it end and submits at once (even with queuing disabled) finds the room.
        with self._lock:
            self._running.pop(task.run_id, None)
            self._cancel.pop(task.run_id, None)
            self._inputs.pop(task.run_id, None)
        try:
            self._on_done(task.run_id, report)
        except Exception:
            log.exception("could not record the result of run %s", task.run_id)
        finally:
            cleanup(report, artifacts=True, pool=self._spares)
            if task.run_id in self._ctx.copied_inputs:
                self._ctx.copied_inputs.discard(task.run_id)
                input_copy_path(self._platform, task.run_id).unlink(missing_ok=True)

    def cancel(self, run_id: str) -> None:
        with self._lock:
            event = self._cancel.get(run_id)
        if event is not None:
            event.set()

    def free_capacity(self, execution_class: str) -> int:
        limit = self._classes[execution_class].concurrency if execution_class in self._classes else 0
        with self._lock:
            used = sum(1 for c in self._running.values() if c == execution_class)
        return max(0, limit - used)

    def shutdown(self, *, cancel_running: bool = True) -> None:
        if cancel_running:
            with self._lock:
                events = list(self._cancel.values())
            for event in events:
                event.set()
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._spares.clear()
