"""The dispatcher: the one adapter between the services and an executor backend.

The database orders the queue; the executor gets only what it has room for, as ``RunTask``s of the
execution contract, and its ``RunReport``s come back here to end the runs. Every run it claims
records this worker as its owner with a lease the worker renews while the run executes; recovery
(at start and every few seconds) touches only runs whose lease expired, or this worker's own runs
from before it restarted, so several servers can share one database. Cancel intent recorded in the
database reaches the owning worker within a second, whichever server took the request.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, exists, func, or_, select, update

from runyard.domain.errors import in_one_line
from runyard.domain.ids import new_id
from runyard.domain.memo import Memo
from runyard.domain.runs import RunStatus, sources_of
from runyard.execution import stages
from runyard.execution.backends.base import Executor
from runyard.execution.contract import Limits, RunReport, RunTask
from runyard.execution.runtime.orphans import kill_run_processes, remove_run_dirs, run_dir_owners
from runyard.services import blob_keys
from runyard.services import secrets as secret_service
from runyard.services.events import record_run_status
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
    .values(status=RunStatus.RUNNING.value, started_at=bindparam("now", type_=_RUNS.c.started_at.type), attempt=_RUNS.c.attempt + 1,
            owner=bindparam("owner", type_=_RUNS.c.owner.type),
            lease_expires_at=bindparam("lease", type_=_RUNS.c.lease_expires_at.type))
    # What a task is made of (not the run's configuration, statistics or logs: less to decode per run).
    .returning(*(_RUNS.c[name] for name in (
        "id", "app_id", "app_pk", "bundle_id", "input_key", "input_format", "output_format", "options",
        "execution_class", "priority", "created_at", "secrets_collection_id", "attempt")))
)
# Whether the class has a queued run at all: a read, so that a claim that would find nothing (the usual
# case when a run ends and its slot looks for the next) takes no write lock and writes no transaction.
_ANY_QUEUED = select(exists().where(_RUNS.c.status == bindparam("queued"), _RUNS.c.execution_class == bindparam("cls")))
_BUNDLE = select(_BUNDLES.c.id, _BUNDLES.c.manifest, _BUNDLES.c.blob_key, _BUNDLES.c.sha256).where(_BUNDLES.c.id == bindparam("bundle_id"))
LOST = "the run was lost: the server stopped while it was running"
REQUEUED = "the server restarted while the run was running; the run was queued again"
WORKER_LOST = "the run was lost: the worker running it stopped renewing its lease (worker node lost)"
WORKER_REQUEUED = "the worker running the run was lost; the run was queued again"
STOPPED = "the run was interrupted: the server was stopped while it was running"
STOPPED_REQUEUED = "the server was stopped while the run was running; the run was queued again"
CANCEL_CHECK_SECONDS = 0.5  # how often a worker looks for cancel intent recorded by another server
# (Every value a bound parameter: Database.all runs it as a PointRead, which binds only those it is given.)
_CANCELS = select(_RUNS.c.id).where(_RUNS.c.owner == bindparam("owner"), _RUNS.c.status == bindparam("running"),
                                    _RUNS.c.cancel_requested == bindparam("yes"))
_CANCEL_REQUESTED = select(_RUNS.c.cancel_requested, _RUNS.c.owner).where(_RUNS.c.id == bindparam("run_id"))


def worker_id(settings: Any) -> str:
    """This server's name as the owner of the runs it executes: kept in its data folder, so a restarted
    server knows its runs from before as its own and resolves them at once."""
    path = settings.data_dir / "worker-id"
    with contextlib.suppress(FileNotFoundError):
        name = path.read_text().strip()
        if name:
            return name
    path.parent.mkdir(parents=True, exist_ok=True)
    name = new_id("worker", 12)
    partial = path.with_name(f".worker-id.{os.getpid()}")
    partial.write_text(name + "\n")
    os.replace(partial, path)  # whole or not at all
    return path.read_text().strip()


class Dispatcher:
    def __init__(self, platform: Platform) -> None:
        self._platform = platform
        self._executor: Executor | None = None
        self._event = threading.Event()
        self._stop = threading.Event()
        self._stopping = False  # a graceful stop: what it interrupts is lost, not canceled
        # One dispatch at a time (the dispatcher thread or a submitting thread): each sees the capacity
        # the previous one left, so a class never gets more runs than it has slots.
        self._dispatching = threading.Lock()
        self._thread: threading.Thread | None = None
        self._keeper: threading.Thread | None = None
        self._bundles: Memo[str, Any] = Memo(1024)  # id -> (id, manifest, blob key): an executable never changes
        self._started: dict[str, tuple[str, float]] = {}  # run id -> (class, when it was handed over): for /metrics
        self.worker = worker_id(platform.settings)  # the owner of the runs it claims (see ``attach``)
        self.server = self.worker  # this server's own name, whoever owns the runs
        self.lease_seconds = platform.settings.execution.lease_seconds
        # Whether this server may claim runs now (services.leader: one dispatcher among the servers that
        # share a database). Leases, cancels and recovery go on either way: they concern runs already claimed.
        self.may_dispatch: Callable[[], bool] = lambda: True

    def attach(self, executor: Executor) -> None:
        self._executor = executor
        if executor.owner:  # runs on a cluster are the cluster's: whichever server attaches next adopts them
            self.worker = executor.owner

    def wakeup(self) -> None:
        self._event.set()

    def _on_cluster(self) -> bool:
        """Whether runs execute on a cluster that outlives this server: then only the leading server
        recovers them, hears their reports, renews their leases and forwards their cancels."""
        return self._executor is not None and self._executor.outlives_server

    def lead(self) -> None:
        """Leadership won: adopt what the cluster executes (if runs execute on one), then claim what waits."""
        if self._on_cluster():
            assert self._executor is not None
            self.recover()
            self._executor.start()
        self.wakeup()

    def follow(self) -> None:
        """Leadership lost (``may_dispatch`` says no from now on): returns once no claim is under way
        here, so another server can start dispatching (and, on a cluster, once this server no longer
        hears the cluster's reports)."""
        with self._dispatching:
            pass
        if self._on_cluster():
            assert self._executor is not None
            self._executor.release()

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
        if not self._on_cluster():  # (on a cluster, the leading server does this: see ``lead``)
            self.recover()
            if self._executor is not None:
                self._executor.start()  # reports flow once recovery has adopted what still executes
        self._thread = threading.Thread(target=self._loop, name="runyard-dispatcher", daemon=True)
        self._thread.start()
        self._keeper = threading.Thread(target=self._keep, name="runyard-leases", daemon=True)
        self._keeper.start()

    def stop(self) -> None:
        """Stop dispatching; runs the executor then gives back as interrupted are lost (see ``on_done``)."""
        self._stopping = True
        self._stop.set()
        self._event.set()
        for thread in (self._thread, self._keeper):
            if thread is not None:
                thread.join(timeout=10)

    def has_capacity(self, execution_class: str) -> bool:
        return self._executor is not None and self._executor.free_capacity(execution_class) > 0

    def on_done(self, run_id: str, report: RunReport) -> None:
        """A backend's report: the run ends as it says, unless a graceful stop of this server interrupted
        it, which is no user's cancel: then the run is lost (failed, or queued again, as set)."""
        if report.lost:  # the machine executing it went away: no user's cancel, no app's failure
            self._resolve_lost([run_id], node=True, reason=report.error or "worker node lost")
            return
        if self._stopping and report.canceled:
            asked = self._platform.db.first(_CANCEL_REQUESTED, {"run_id": run_id})
            if asked is not None and not asked.cancel_requested and asked.owner == self.worker:
                self._resolve_lost([run_id], stopped=True)
                return
        status = finish_run(self._platform, run_id, report, owner=self.worker)
        stages.mark(run_id, "recorded")
        started = self._started.pop(run_id, None)
        if started is not None and status is not None and self._platform.metrics is not None:
            self._platform.metrics.run_duration.labels(started[0], status.value).observe(time.monotonic() - started[1])

    # --- recovery and leases ---------------------------------------------------------------

    def recover(self) -> None:
        """Resolve runs left ``running`` by this worker before it restarted, and runs of any worker whose
        lease expired: kill what is left of their processes here, then fail them (lost) or queue them
        again, as set; finally remove stale run directories."""
        now = datetime.now(UTC)
        with self._platform.db.session() as s:
            lost = list(s.scalars(select(Run.id).where(
                Run.status == RunStatus.RUNNING,
                or_(Run.owner == self.worker, Run.owner.is_(None), Run.lease_expires_at < now))))
        # What still executes for this backend (on a cluster, from before a restart) is adopted, not lost.
        adopted = set(self._executor.running()) if self._executor is not None else set()
        if adopted:
            log.info("adopted %d runs executing on the cluster", len(adopted & set(lost)))
            self._renew()
        lost = [run_id for run_id in lost if run_id not in adopted]
        if lost:
            log.warning("runs %s were running and execute nowhere any more: resolving them as lost", ", ".join(sorted(lost)))
        outlives = self._executor is not None and self._executor.outlives_server
        self._resolve_lost(lost, mine=not outlives, node=outlives)
        if not self._platform.settings.execution.keep_workspaces:
            self._remove_stale_run_dirs(lost)

    def _resolve_lost(self, run_ids: list[str], *, stopped: bool = False, mine: bool = False, node: bool = False,
                      reason: str = "") -> None:
        if not run_ids:
            return
        requeue = self._platform.settings.execution.lost_runs == "requeue"
        if mine:  # first, so no process of the old attempt runs beside a new one or after the run is resolved
            # (Sandboxed runs die with the server that started them, and the cgroups of dead servers
            # are swept when the sandbox is set up; this finds what unsandboxed runs left.)
            killed = kill_run_processes(run_ids)
            if killed:
                log.warning("killed %d orphaned processes of lost runs %s", len(killed), ", ".join(sorted(run_ids)))
        now = datetime.now(UTC)
        for run_id in run_ids:
            with self._platform.db.session() as s:
                owner, expired = s.execute(select(Run.owner, Run.lease_expires_at).where(Run.id == run_id)).one()
            own = owner == self.worker or owner is None
            if stopped:
                requeued_msg, lost_msg = STOPPED_REQUEUED, STOPPED
            elif reason:
                requeued_msg, lost_msg = f"{reason}; the run was queued again", f"the run was lost: {reason}"
            elif own and not node:
                requeued_msg, lost_msg = REQUEUED, LOST
            else:
                requeued_msg, lost_msg = WORKER_REQUEUED, WORKER_LOST
            with self._platform.db.session() as s:
                # Still the same claim: a worker that renewed meanwhile keeps its run.
                guard = {"owner": owner, "lease_expires_at": expired}
                if requeue:
                    moved = transition(s, run_id, RunStatus.QUEUED, started_at=None, owner=None,
                                       lease_expires_at=None, guard=guard)
                else:
                    moved = transition(s, run_id, RunStatus.FAILED, error=lost_msg, finished_at=now, owner=None,
                                       lease_expires_at=None, error_log={"error": lost_msg, "stdout": "", "stderr": ""},
                                       guard=guard)
            if not moved:
                continue
            append_log(self._platform, run_id, requeued_msg if requeue else lost_msg)
            if self._platform.run_events is not None:
                self._platform.run_events.notify(run_id)
        if requeue:
            self.wakeup()

    def _keep(self) -> None:
        """Every ``CANCEL_CHECK_SECONDS``: cancel intent for runs executing here; every third of a lease:
        renew this worker's leases, and resolve runs whose owner stopped renewing."""
        next_renewal = 0.0
        while not self._stop.wait(CANCEL_CHECK_SECONDS):
            if self._on_cluster() and not self.may_dispatch():
                continue  # the cluster's runs are the leading server's to look after
            try:
                self._forward_cancels()
                if time.monotonic() >= next_renewal:
                    next_renewal = time.monotonic() + self.lease_seconds / 3
                    self._renew()
                    self._recover_expired()
            except Exception:
                log.exception("lease upkeep failed; retrying")

    def _forward_cancels(self) -> None:
        assert self._executor is not None
        for row in self._platform.db.all(_CANCELS, {"owner": self.worker, "running": RunStatus.RUNNING.value, "yes": True}):
            self._executor.cancel(row.id)

    def _renew(self) -> None:
        assert self._executor is not None
        running = self._executor.running()
        if not running:
            return
        lease = datetime.now(UTC) + timedelta(seconds=self.lease_seconds)
        with self._platform.db.engine.begin() as conn:
            renewed = set(conn.execute(
                update(_RUNS).where(_RUNS.c.owner == self.worker, _RUNS.c.id.in_(running),
                                    _RUNS.c.status == RunStatus.RUNNING.value)
                .values(lease_expires_at=lease).returning(_RUNS.c.id)).scalars())
        for run_id in set(running) - renewed:
            # No longer ours (resolved by another worker after our lease expired, or ended): stop it here,
            # and its report will not count (finish_run checks the owner).
            log.warning("run %s is no longer owned by this worker; stopping it here", run_id)
            self._executor.cancel(run_id)

    def _recover_expired(self) -> None:
        now = datetime.now(UTC)
        with self._platform.db.session() as s:
            expired = list(s.scalars(select(Run.id).where(
                Run.status == RunStatus.RUNNING, Run.owner != self.worker, Run.lease_expires_at < now)))
        if expired:
            log.warning("runs %s: their worker stopped renewing its lease", ", ".join(expired))
            self._resolve_lost(expired)

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
        if not self.may_dispatch():
            return 0
        for cls in self._platform.settings.execution.classes:
            free = self._executor.free_capacity(cls)
            if free > 0:
                started += self._claim_and_submit(cls, free)
        return started

    def _claim_and_submit(self, cls: str, free: int) -> int:
        if not self._platform.db.first(_ANY_QUEUED, {"queued": RunStatus.QUEUED.value, "cls": cls})[0]:
            return 0
        # Plain rows on a plain connection (read-only, the columns as attributes), with statements built
        # once: every run passes here.
        conn = self._platform.db.engine.connect()
        try:
            with conn.begin():
                now = datetime.now(UTC)
                runs = conn.execute(_CLAIM, {"cls": cls, "free": free, "now": now, "owner": self.worker,
                                             "lease": now + timedelta(seconds=self.lease_seconds)}).all()
                record_run_status(conn, [run.id for run in runs], now=now)
                bundles = {run.bundle_id: self._bundle(conn, run.bundle_id) for run in runs}
        finally:
            try:
                conn.close()
            except Exception:  # the claim is committed: its runs are submitted whatever returning the connection did
                log.exception("returning the dispatcher's connection failed")
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
            self._observe_start(run, now)
            stages.mark(run.id, "dispatched")
            try:
                self._executor.submit(task)
            except Exception as exc:  # claimed and never handed over: it fails, saying why, instead of staying running
                log.exception("run %s: the executor did not take it", run.id)
                self._started.pop(run.id, None)
                finish_run(self._platform, run.id, RunReport(
                    error=f"the executor did not take the run: {in_one_line(exc)}",
                    log_key=task.log_key))
                continue
            submitted += 1
        return submitted

    def _observe_start(self, run: Any, now: datetime) -> None:
        self._started[run.id] = (run.execution_class, time.monotonic())
        if self._platform.metrics is not None:
            created = run.created_at if run.created_at.tzinfo else run.created_at.replace(tzinfo=UTC)
            self._platform.metrics.queue_wait.labels(run.execution_class).observe(max(0.0, (now - created).total_seconds()))

    def _bundle(self, conn: Any, bundle_id: str) -> Any:
        """(id, manifest) of an executable; remembered, since an executable never changes."""
        bundle = self._bundles.get(bundle_id)
        if bundle is None:
            bundle = conn.execute(_BUNDLE, {"bundle_id": bundle_id}).first()
            if bundle is not None:
                self._bundles.remember(bundle_id, bundle)
        return bundle

    def _task(self, run: Any, bundle: Any) -> RunTask:
        stored = run.options or {}
        active = stored.get("active")
        if active is None:  # a run queued before options were resolved at submission
            manifest = bundle_manifest(bundle.id, bundle.manifest)
            active, _ = resolve_options(manifest, stored.get("instance") or {}, stored.get("request") or {})
        cls = self._platform.settings.execution.classes.get(run.execution_class)
        limits = self._platform.settings.limits
        env, files = secret_service.for_run(self._platform, run.app_pk, run.secrets_collection_id) if run.secrets_collection_id else ({}, {})
        return RunTask(
            run_id=run.id,
            app_id=run.app_id,
            bundle_id=bundle.id,
            manifest=bundle.manifest,
            bundle_key=bundle.blob_key,
            bundle_sha256=bundle.sha256 or "",
            input_key=run.input_key,
            output_key=blob_keys.output_key(run.id),
            log_key=blob_keys.log_key(run.id),
            assets_key=blob_keys.assets_key(run.id),
            assets_prefix=blob_keys.assets_prefix(run.id),
            input_format=run.input_format,
            output_format=run.output_format,
            options=active,
            execution_class=run.execution_class,
            max_duration_seconds=cls.max_duration_seconds if cls else None,
            limits=Limits(memory_mb=cls.memory_mb, max_processes=cls.max_processes, cpu_seconds=cls.cpu_seconds,
                          cores=cls.cores, open_files=cls.open_files, file_max_bytes=cls.workspace_max_bytes,
                          workspace_max_bytes=cls.workspace_max_bytes) if cls else Limits(),
            network=cls.network if cls else True,
            max_output_bytes=limits.output_max_bytes,
            archive_max_files=limits.archive_max_files,
            archive_max_bytes=limits.archive_max_bytes,
            secrets_collection_id=run.secrets_collection_id,
            env=env,
            files=files,
            attempt=run.attempt or 1,
        )


__all__ = ["Dispatcher", "worker_id"]
