"""What the runner is given and what it reports. Shared by every executor backend."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol


@dataclass(frozen=True)
class RunTask:
    """Everything needed to execute one run, independent of where it executes."""

    run_id: str
    app_id: str
    bundle_id: str
    manifest: dict[str, Any]          # normalized manifest (runyard.domain.manifest.Manifest.model_dump(by_alias=True))
    input_format: str = "json"        # json | text | csv-archive | multi-file
    output_format: str = "json"       # the manifest's content format decides collection
    options: dict[str, str] = field(default_factory=dict)  # resolved options, rendered into argv
    max_duration_seconds: float | None = None
    memory_mb: int | None = None
    cores: float | None = None
    max_processes: int | None = None
    cpu_seconds: float | None = None
    open_files: int | None = None
    workspace_max_bytes: int | None = None
    network: bool = True
    max_output_bytes: int = 1024**3
    archive_max_files: int = 20_000                              # bounds for unpacking an archive input
    archive_max_bytes: int = 2 * 1024**3
    env: dict[str, str] = field(default_factory=dict)          # extra env vars (secrets)
    files: dict[str, str] = field(default_factory=dict)        # relative path -> text content (file secrets)


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
class RunReport:
    """The runner's account of what happened; the platform derives the final status from it."""

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
    # The run's cgroup (``sandbox.RunCgroup``), removed by ``cleanup``.
    cgroup: Any = None
