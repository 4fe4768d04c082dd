"""The execution contract: what a backend is given for one run, and what it gives back.

Everything here is plain data that can cross a process or a machine: blob keys, not local paths;
options resolved once at submission; limits as numbers; secrets resolved by the one adapter that
reads the database (``services.dispatch``). A backend depends on this module, the runtime and a
``BlobStore``, and on nothing that reaches the database.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True)
class Limits:
    """What one run may use; None is no limit of that kind."""

    memory_mb: int | None = None
    max_processes: int | None = None
    cpu_seconds: float | None = None      # CPU time of the whole run (all its processes)
    cores: float | None = None            # CPU share: quota per period
    open_files: int | None = None
    file_max_bytes: int | None = None     # the largest file a process may write (RLIMIT_FSIZE)
    workspace_max_bytes: int | None = None  # the workspace's total size, checked while the run goes


@dataclass(frozen=True)
class RunTask:
    """Everything needed to execute one run, wherever it executes."""

    run_id: str
    app_id: str
    bundle_id: str
    manifest: dict[str, Any]          # normalized manifest (Manifest.model_dump(by_alias=True))
    bundle_key: str = ""              # blob holding the executable's archive
    bundle_sha256: str = ""           # its SHA-256 recorded at activation, checked whenever it is unpacked
    input_key: str | None = None      # blob holding the run's input (None: no input)
    output_key: str = ""              # where the output goes (JSON/text: stdout; archives: a .tar.gz)
    log_key: str = ""                 # the run's log: JSON lines {"t": time, "l": line}, appended
    assets_key: str = ""              # assets: an index here, and one blob per asset under assets_prefix
    assets_prefix: str = ""
    input_format: str = "json"        # json | text | csv-archive | multi-file
    output_format: str = "json"       # the manifest's content format decides collection
    options: dict[str, str] = field(default_factory=dict)  # resolved once at submission, rendered into argv
    execution_class: str = ""
    max_duration_seconds: float | None = None
    limits: Limits = field(default_factory=Limits)
    network: bool = True
    max_output_bytes: int = 1024**3
    archive_max_files: int = 20_000   # bounds for unpacking an archive input
    archive_max_bytes: int = 2 * 1024**3
    secrets_collection_id: str | None = None  # the reference; its values, resolved, are below
    env: dict[str, str] = field(default_factory=dict)    # env secrets
    files: dict[str, str] = field(default_factory=dict)  # relative path -> text content (file secrets)
    attempt: int = 1                  # which execution of the run this is (a lost run queued again gets another)


@dataclass
class RunReport:
    """A backend's account of one run; the platform derives the final status from it (and from the
    cancel intent it recorded), never from how the engine ended the task."""

    exit_code: int | None = None
    canceled: bool = False
    deadline_hit: bool = False
    output_exceeded: bool = False
    error: str = ""                   # a limit, or an infrastructure failure (env build failed, bad bundle, …)
    output_key: str | None = None     # the stored output (None: the run left none)
    output_size: int = 0
    log_key: str = ""
    assets_key: str | None = None     # the stored assets' index (None: no assets)
    statistics: Any = None
    metrics: Any = None
    execution_ms: float = 0.0
    stdout_tail: str = ""
    stderr_tail: str = ""
    lost: bool = False                # the machine executing it was lost: the platform fails or requeues it


def log_record(line: str, at: datetime | None = None) -> bytes:
    """One line of a run's log as stored: a JSON object per line, the time in UTC with a Z."""
    stamp = (at or datetime.now(UTC)).isoformat().replace("+00:00", "Z")
    return (json.dumps({"t": stamp, "l": line}, ensure_ascii=False) + "\n").encode()
