"""The runner's side of one execution: how it reaches the platform, and its local report (paths on this
machine), which ``publish`` turns into the contract's ``LocalReport`` (blob keys)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from runyard.execution.contract import RunTask

__all__ = ["LocalReport", "RunContext", "RunTask"]


class RunContext(Protocol):
    """How the runner reaches the platform; the embedded backend implements it in-process."""

    def bundle_dir(self, bundle_id: str) -> Path:
        """The unpacked bundle (read-only; the runner copies what it needs)."""

    def input_path(self, run_id: str) -> Path | None:
        """A local file holding the run's input bytes (None: no input)."""

    def log(self, run_id: str, line: str) -> None:
        """Append one log line (without trailing newline) to the run's log, timestamped now."""

    def cancel_requested(self, run_id: str) -> bool:
        """Whether a cancel was asked for; checked every poll interval."""

    def mark_started(self, run_id: str) -> None:
        """The process is about to start (environment ready)."""


@dataclass
class LocalReport:
    """The runner's account of what happened, with its output still in local files."""

    exit_code: int | None = None
    canceled: bool = False
    deadline_hit: bool = False
    output_exceeded: bool = False
    error: str = ""                       # infrastructure failure (env build failed, bad bundle, ...)
    output_path: Path | None = None       # JSON/text: stdout file; multi-file/csv-archive: a .tar.gz of solutions
    statistics: Any = None
    metrics: Any = None
    assets: Any = None
    execution_ms: float = 0.0
    stdout_tail: str = ""
    stderr_tail: str = ""
    # Directory holding output_path (outside the removed workspace); the caller deletes it when done.
    artifacts_dir: Path | None = None
    # With ``execute(defer_cleanup=True)``: what ``cleanup`` still has to do once the result is stored.
    # (execution id, workspace to remove, where leftover processes may be: None for nowhere, since the
    # app's pid, or -1 for anywhere)
    pending_cleanup: tuple[str, Path | None, int | None] | None = None
    # The laid-out workspace (a ``spares.Spare``) that ``cleanup`` may give to a workspace pool.
    spare: Any = None
    # The run's cgroup (``sandbox.RunCgroup``), given back to its pool (``sandbox_cgroups``) by ``cleanup``.
    cgroup: Any = None
    sandbox_cgroups: Any = None
    # What the run's sandbox was built from (``warm.WarmSpec``): a kept workspace gets one started ahead.
    warm_spec: Any = None
