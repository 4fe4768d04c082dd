"""One machine's means of executing runs: the blob context, bundle cache, environment builder, sandbox
and kept workspaces. The embedded pool and a Ray worker node each hold one, and execute every run
through the same ``RunHost.run``."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from runyard.execution import stages
from runyard.execution.contract import RunReport, RunTask
from runyard.execution.runtime.bundles import BundleCache
from runyard.execution.runtime.context import BlobContext
from runyard.execution.runtime.envs import EnvironmentBuilder
from runyard.execution.runtime.orphans import INPUTS_DIR
from runyard.execution.runtime.publish import publish
from runyard.execution.runtime.runner import cleanup, execute
from runyard.execution.runtime.sandbox import Sandbox
from runyard.execution.runtime.spares import WorkspacePool
from runyard.execution.runtime.types import LocalReport
from runyard.execution.runtime.warm import Warmer
from runyard.settings import Settings
from runyard.storage.archives import ArchiveLimits
from runyard.storage.blobs import BlobStore

log = logging.getLogger(__name__)


class RunHost:
    """``spares``: how many laid-out workspaces of ended runs to keep for the next run of the same
    executable (as many as can be running or cleaning up at once on this machine)."""

    def __init__(self, *, settings: Settings, blobs: BlobStore, sandbox: Sandbox | None, spares: int) -> None:
        self.settings = settings.execution
        self.blobs = blobs
        self.sandbox = sandbox
        self.envs = EnvironmentBuilder(root=settings.env_path(), python=self.settings.python)
        limits = settings.limits
        bundles = BundleCache(settings.data_path("bundles"), blobs,
                              ArchiveLimits(max_files=limits.bundle_max_files, max_bytes=limits.bundle_max_bytes))
        self.work_root: Path = settings.work_path()
        self.ctx = BlobContext(blobs, bundles, self.work_root / INPUTS_DIR)
        launcher = self.envs.limit_exec() if sandbox is not None else None
        self._warmer = Warmer(sandbox, launcher, python=self.settings.prestart_interpreters) if (
            sandbox is not None and launcher is not None and self.settings.prestart_sandboxes and spares) else None
        # With sandboxes started ahead, one workspace more than runs at once: the next run of an app
        # takes one whose sandbox is ready while the one its previous run gives back gets its own.
        kept = spares + 1 if self._warmer is not None else spares
        self.spares = WorkspacePool(0 if self.settings.keep_workspaces else kept, self._warmer)

    def begin(self, task: RunTask) -> None:
        """The run is this machine's from now on (its log sink opens; a cancel reaches it)."""
        self.ctx.begin(task)

    def run(self, task: RunTask, *, ended: Callable[[], None] = lambda: None) -> tuple[RunReport, LocalReport]:
        """Execute a run ``begin`` announced, store its output and log, and report. ``ended`` is called
        once its processes are gone and its log is complete, before the report is handed on. The caller
        passes the local report to ``finish`` once the report is stored."""
        settings = self.settings
        try:
            local = execute(
                task,
                self.ctx,
                envs=self.envs,
                work_root=self.work_root,
                poll_interval=settings.poll_interval_seconds,
                kill_grace=settings.kill_grace_seconds,
                keep_workspace=settings.keep_workspaces,
                defer_cleanup=True,  # after the result is stored: waiting clients don't wait for it
                pool=self.spares,
                sandbox=self.sandbox,
            )
        except Exception as exc:  # the runner should not raise; if it does, the run must still end
            log.exception("runner raised for run %s", task.run_id)
            local = LocalReport(error=f"internal error while executing the run: {exc}")
        try:
            report = publish(self.blobs, task, local)
        finally:
            self.ctx.end(task.run_id)  # the log is complete before the run is seen to end
            stages.mark(task.run_id, "published")
            ended()
        return report, local

    def finish(self, local: LocalReport) -> None:
        """Remove what the run left here (or keep its workspace for the next run)."""
        cleanup(local, artifacts=True, pool=self.spares)

    def cancel(self, run_id: str) -> bool:
        return self.ctx.cancel(run_id)

    def running(self) -> list[str]:
        return self.ctx.running()

    def shutdown(self) -> None:
        self.spares.clear()
        if self._warmer is not None:
            self._warmer.stop()
        self.ctx.shutdown()
