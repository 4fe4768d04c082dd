"""What a stopped server left behind: run processes and run directories.

A run's process tree lives in its own session, so a server that dies without shutting down (SIGKILL,
OOM kill, power loss of the process only) leaves the tree running, reparented to init. Every process
of a run carries ``NEXTMV_RUN_ID`` in its initial environment (the runtime sets it, and descendants
inherit it, even one that left the run's process group), so a restarted server finds them in
``/proc/<pid>/environ`` and kills their groups before it decides what becomes of the run. The same
scan, by the per-attempt ``RUNYARD_EXECUTION_ID``, ends whatever an execution left when it is over.

This is best effort against accidents (double forks, ``setsid``), not a sandbox: a process that
rewrites its own environment block escapes it; cgroups would not.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import time
from collections.abc import Iterable
from pathlib import Path

PROC = Path("/proc")
RUN_ID_VAR = "NEXTMV_RUN_ID"
EXECUTION_ID_VAR = "RUNYARD_EXECUTION_ID"  # unique per attempt: names exactly one execution's processes
INPUTS_DIR = "inputs"  # where the embedded executor copies inputs it cannot read in place
_RUN_DIR = re.compile(r"^(.+)-[a-z0-9_]{8}$")  # tempfile.mkdtemp(prefix=f"{run_dir_prefix(id)}-")


def _value_of(environ: bytes, prefix: bytes, wanted: set[bytes]) -> str | None:
    # A substring search instead of splitting the block: this runs for every process after every run.
    at = environ.find(prefix)
    while at != -1:
        if at == 0 or environ[at - 1] == 0:
            end = environ.find(b"\0", at)
            value = environ[at + len(prefix): end if end != -1 else None]
            if value in wanted:
                return value.decode()
        at = environ.find(prefix, at + 1)
    return None


def find_processes(var: str, values: Iterable[str], proc: Path = PROC) -> dict[int, str]:
    """pid -> value for each process on this machine whose environment has ``var`` set to one of ``values``.

    Linux only (elsewhere: empty). Only processes whose environment we may read are seen, which
    includes every process the runtime started (same user).
    """
    wanted = {value.encode() for value in values}
    if not wanted or not proc.is_dir():
        return {}
    prefix = f"{var}=".encode()
    found: dict[int, str] = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:  # exited meanwhile, or not ours to read
            continue
        value = _value_of(environ, prefix, wanted)
        if value is not None:
            found[int(entry.name)] = value
    return found


def _alive(pid: int) -> bool:
    """Running, as opposed to gone or a zombie (an orphan's zombie is init's to reap, which may never happen)."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[:1] not in (["Z"], ["X"])


def _kill(pid: int) -> None:
    try:
        pgid = os.getpgid(pid)
        if pgid != os.getpgrp():
            os.killpg(pgid, signal.SIGKILL)
        os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def kill_processes(var: str, values: Iterable[str], *, timeout: float = 5.0) -> dict[int, str]:
    """SIGKILL the process groups of processes found by :func:`find_processes` and wait (bounded) until
    they are gone; returns what was found."""
    found = find_processes(var, values)
    for pid in found:
        _kill(pid)
    deadline = time.monotonic() + timeout
    while any(_alive(pid) for pid in found) and time.monotonic() < deadline:
        time.sleep(0.01)
    return found


def kill_run_processes(run_ids: Iterable[str]) -> dict[int, str]:
    """Every process still running for one of ``run_ids`` (any attempt), killed."""
    return kill_processes(RUN_ID_VAR, run_ids)


def kill_execution_processes(execution_id: str) -> dict[int, str]:
    """Every process left by one execution, killed: also descendants that escaped its process group."""
    return kill_processes(EXECUTION_ID_VAR, [execution_id])


def run_dir_prefix(run_id: str) -> str:
    """The name prefix of a run's directories under the work root: ``<prefix>-<random>``."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", run_id)[:64] or "run"


def _owner(path: Path, work_root: Path) -> str | None:
    """The run a work-root entry belongs to (``<prefix>-<random>`` dirs, ``inputs/<run id>`` copies), else None."""
    if path.parent == work_root / INPUTS_DIR:
        return path.name if path.is_file() else None
    match = _RUN_DIR.match(path.name)
    return match.group(1) if match and path.is_dir() and not path.is_symlink() else None


def _entries(work_root: Path) -> list[Path]:
    entries = [p for p in work_root.iterdir() if p.name != INPUTS_DIR] if work_root.is_dir() else []
    if (work_root / INPUTS_DIR).is_dir():
        entries += list((work_root / INPUTS_DIR).iterdir())
    return entries


def run_dir_owners(work_root: Path) -> set[str]:
    """The runs that have a directory or an input copy under ``work_root``."""
    return {owner for p in _entries(work_root) if (owner := _owner(p, work_root)) is not None}


def remove_run_dirs(work_root: Path, run_ids: Iterable[str]) -> list[Path]:
    """Delete the directories and input copies of ``run_ids`` under ``work_root``; nothing else is touched
    (the work root may be a shared folder)."""
    targets = {run_dir_prefix(run_id) for run_id in run_ids} | set(run_ids)
    removed = [p for p in _entries(work_root) if _owner(p, work_root) in targets]
    for path in removed:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    return removed
