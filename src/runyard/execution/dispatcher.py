"""The dispatcher: the database orders the queue; the executor gets only what it has room for."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, func, select, update

from runyard.domain.memo import Memo
from runyard.domain.runs import RunStatus, sources_of
from runyard.execution.backends.base import Executor
from runyard.execution.runtime.orphans import kill_run_processes, remove_run_dirs, run_dir_owners
from runyard.execution.runtime.types import RunReport, RunTask
from runyard.services import secrets as secret_service
from runyard.services.platform import Platform
from runyard.services.runs.logs import append_log
from runyard.services.runs.options import resolve_options
from runyard.services.runs.results import finish_run
from runyard.services.runs.submission import bundle_manifest
from runyard.services.runs.transitions import status_among, transition
from runyard.storage.db import Bundle, Run

log = logging.getLogger(__name__)
DISPATCH_WAIT_SECONDS = 2.0  # how long a submission waits for a dispatch under way before leaving it to the thread
_RUNS, _BUNDLES = Run.__table__, Bundle.__table__
# One statement claims the next runs of a class: the oldest queued ones by priority, as many as it has
# room for. A run another dispatcher took meanwhile no longer matches the status condition and is left out.
_CLAIM = (
    update(_RUNS)
    .where(
        _RUNS.c.id.in_(
            select(_RUNS.c.id)
            .where(_RUNS.c.status == RunStatus.QUEUED.value, _RUNS.c.execution_class == bindparam("cls"))
            .order_by(_RUNS.c.priority, _RUNS.c.created_at, _RUNS.c.id)
            .limit(bindparam("free"))
        ),
        # The recheck goes through coalesce() so that no planner reads it through the queue index
        # (SQLite did: every queued run scanned for each claim); the rows are found by primary key.
        status_among(func.coalesce(_RUNS.c.status, ""), sources_of(RunStatus.RUNNING)),
    )
    .values(status=RunStatus.RUNNING.value, started_at=bindparam("now", type_=_RUNS.c.started_at.type), attempt=_RUNS.c.attempt + 1)
    # What a task is made of (not the run's configuration, statistics or logs: less to decode per run).
    .returning(*(_RUNS.c[name] for name in (
        "id", "app_id", "app_pk", "bundle_id", "input_key", "input_format", "output_format", "options",
        "execution_class", "priority", "created_at", "secrets_collection_id")))
)
_BUNDLE = select(_BUNDLES.c.id, _BUNDLES.c.manifest).where(_BUNDLES.c.id == bindparam("bundle_id"))
LOST = "the run was lost: the server stopped while it was running"
REQUEUED = "the server restarted while the run was running; the run was queued again"


class Dispatcher:
    def __init__(self, platform: Platform) -> None:
        self._platform = platform
        self._executor: Executor | None = None
        self._event = threading.Event()
        self._stop = threading.Event()
        # One dispatch at a time (the dispatcher thread or a submitting thread): each sees the capacity
        # the previous one left, so a class never gets more runs than it has slots.
        self._dispatching = threading.Lock()
        self._thread: threading.Thread | None = None
        self._bundles: Memo[str, Any] = Memo(1024)  # id -> (id, manifest): an executable never changes

    def attach(self, executor: Executor) -> None:
        self._executor = executor

    def wakeup(self) -> None:
        self._event.set()

    def dispatch_now(self) -> None:
        """Start what has room from the calling thread (one that just queued a run): the run starts
        without waiting for the dispatcher thread to be woken and scheduled, so a run with a free slot
        is running when its submission returns. A dispatch under way is waited for (it may have looked
        at the queue before the new run was there); should that take long, the dispatcher thread is
        woken to start the run instead."""
        started = self._thread is not None  # after recover(): it must see every running run first
        if not started or self._stop.is_set() or not self._dispatching.acquire(timeout=DISPATCH_WAIT_SECONDS):
            self.wakeup()
            return
        try:
            self._dispatch_locked()
        except Exception:
            log.exception("dispatch from a submission failed; the dispatcher thread will retry")
            self.wakeup()
        finally:
            self._dispatching.release()

    def start(self) -> None:
        self.recover()
        self._thread = threading.Thread(target=self._loop, name="runyard-dispatcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._event.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def has_capacity(self, execution_class: str) -> bool:
        return self._executor is not None and self._executor.free_capacity(execution_class) > 0

    def recover(self) -> None:
        """Resolve runs a stopped server left ``running``: kill what is left of their processes, then
        fail them (lost) or queue them again, as set; finally remove stale run directories."""
        settings = self._platform.settings.execution
        requeue = settings.lost_runs == "requeue"
        with self._platform.db.session() as s:
            lost = list(s.scalars(select(Run.id).where(Run.status == RunStatus.RUNNING)))
        # First, so no process of the old attempt runs beside a new one or after the run is resolved.
        killed = kill_run_processes(lost)
        if killed:
            log.warning("killed %d orphaned processes of lost runs %s", len(killed), ", ".join(sorted(set(killed.values()))))
        for run_id in lost:  # logged before the status moves: whoever sees the final status sees the line
            append_log(self._platform, run_id, REQUEUED if requeue else LOST)
        now = datetime.now(UTC)
        with self._platform.db.session() as s:
            for run_id in lost:
                if requeue:
                    transition(s, run_id, RunStatus.QUEUED, started_at=None)
                else:
                    transition(s, run_id, RunStatus.FAILED, error=LOST, finished_at=now,
                               error_log={"error": LOST, "stdout": "", "stderr": ""})
        if not settings.keep_workspaces:
            self._remove_stale_run_dirs(lost)

    def _remove_stale_run_dirs(self, lost: list[str]) -> None:
        """Nothing executes here yet: directories of lost runs and of runs not running elsewhere are stale."""
        work = self._platform.settings.work_path()
        owners = run_dir_owners(work)
        with self._platform.db.session() as s:
            idle = set(s.scalars(select(Run.id).where(Run.id.in_(owners), Run.status != RunStatus.RUNNING))) if owners else set()
        removed = remove_run_dirs(work, idle | set(lost))
        if removed:
            log.info("removed %d stale run directories", len(removed))

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._event.wait(timeout=1.0)
            self._event.clear()
            try:
                self.dispatch_once()
            except Exception:
                log.exception("dispatch failed; retrying")

    def dispatch_once(self) -> int:
        """Start as many queued runs as there is room for, by priority then age; returns how many."""
        with self._dispatching:
            return self._dispatch_locked()

    def _dispatch_locked(self) -> int:
        assert self._executor is not None
        started = 0
        for cls in self._platform.settings.execution.classes:
            free = self._executor.free_capacity(cls)
            if free > 0:
                started += self._claim_and_submit(cls, free)
        return started

    def _claim_and_submit(self, cls: str, free: int) -> int:
        # Plain rows on a plain connection (read-only, the columns as attributes), with statements built
        # once: every run passes here.
        with self._platform.db.engine.begin() as conn:
            runs = conn.execute(_CLAIM, {"cls": cls, "free": free, "now": datetime.now(UTC)}).all()
            bundles = {run.bundle_id: self._bundle(conn, run.bundle_id) for run in runs}
        runs.sort(key=lambda run: (run.priority, run.created_at, run.id))  # RETURNING has no order
        submitted = 0
        for run in runs:
            bundle = bundles[run.bundle_id]
            if bundle is None:
                finish_run(self._platform, run.id, RunReport(error="the run's executable no longer exists"))
                continue
            try:
                task = self._task(run, bundle)
            except Exception as exc:  # a run that cannot even be described fails instead of looping
                finish_run(self._platform, run.id, RunReport(error=f"could not prepare the run: {exc}"))
                continue
            assert self._executor is not None
            self._executor.submit(task, cls, run.input_key)
            submitted += 1
        return submitted

    def _bundle(self, conn: Any, bundle_id: str) -> Any:
        """(id, manifest) of an executable; remembered, since an executable never changes."""
        bundle = self._bundles.get(bundle_id)
        if bundle is None:
            bundle = conn.execute(_BUNDLE, {"bundle_id": bundle_id}).first()
            if bundle is not None:
                self._bundles.remember(bundle_id, bundle)
        return bundle

    def _task(self, run: Any, bundle: Any) -> RunTask:
        manifest = bundle_manifest(bundle.id, bundle.manifest)
        stored = run.options or {}
        active, _ = resolve_options(manifest, stored.get("instance") or {}, stored.get("request") or {})
        cls = self._platform.settings.execution.classes.get(run.execution_class)
        limits = self._platform.settings.limits
        env, files = secret_service.for_run(self._platform, run.app_pk, run.secrets_collection_id) if run.secrets_collection_id else ({}, {})
        return RunTask(
            run_id=run.id,
            app_id=run.app_id,
            bundle_id=bundle.id,
            manifest=bundle.manifest,
            input_format=run.input_format,
            output_format=run.output_format,
            options=active,
            max_duration_seconds=cls.max_duration_seconds if cls else None,
            memory_mb=cls.memory_mb if cls else None,
            cores=cls.cores if cls else None,
            max_processes=cls.max_processes if cls else None,
            cpu_seconds=cls.cpu_seconds if cls else None,
            open_files=cls.open_files if cls else None,
            workspace_max_bytes=cls.workspace_max_bytes if cls else None,
            network=cls.network if cls else True,
            max_output_bytes=limits.output_max_bytes,
            archive_max_files=limits.archive_max_files,
            archive_max_bytes=limits.archive_max_bytes,
            env=env,
            files=files,
        )


