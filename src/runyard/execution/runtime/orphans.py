"""What a stopped server left behind: run processes and run directories.

A run's process tree lives in its own session, so a server that dies without shutting down (SIGKILL,
OOM kill, power loss of the process only) leaves the tree running, reparented to init. Every process
of a run carries ``NEXTMV_RUN_ID`` in its initial environment (the runtime sets it, and descendants
inherit it, even one that left the run's process group), so a restarted server finds them in
``/proc/<pid>/environ`` and kills their groups before it decides what becomes of the run.
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
RUN_ID_VAR = b"NEXTMV_RUN_ID="
INPUTS_DIR = "inputs"  # where the embedded executor copies inputs it cannot read in place


def _run_id_of(environ: bytes, wanted: set[bytes]) -> str | None:
    for var in environ.split(b"\0"):
        if var.startswith(RUN_ID_VAR) and var[len(RUN_ID_VAR):] in wanted:
            return var[len(RUN_ID_VAR):].decode()
    return None


def find_run_processes(run_ids: Iterable[str], proc: Path = PROC) -> dict[int, str]:
    """pid -> run id for each process on this machine started for one of ``run_ids`` (Linux; else empty)."""
    wanted = {run_id.encode() for run_id in run_ids}
    if not wanted or not proc.is_dir():
        return {}
    found: dict[int, str] = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:  # exited meanwhile, or not ours to read
            continue
        run_id = _run_id_of(environ, wanted)
        if run_id is not None:
            found[int(entry.name)] = run_id
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


def kill_run_processes(run_ids: Iterable[str], *, timeout: float = 5.0) -> dict[int, str]:
    """SIGKILL the process groups of ``run_ids`` and wait (bounded) until they are gone; returns what was found."""
    found = find_run_processes(run_ids)
    for pid in found:
        _kill(pid)
    deadline = time.monotonic() + timeout
    while any(_alive(pid) for pid in found) and time.monotonic() < deadline:
        time.sleep(0.01)
    return found


def run_dir_prefix(run_id: str) -> str:
    """The name prefix of a run's directories under the work root: ``<prefix>-<random>``."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", run_id)[:64] or "run"


def _owner(path: Path, work_root: Path) -> str:
    """The run a work-root entry belongs to: ``<prefix>-<random>`` dirs, or ``inputs/<run id>`` copies."""
    return path.name if path.parent.name == INPUTS_DIR and path.parent.parent == work_root else path.name.rsplit("-", 1)[0]


def remove_run_dirs(work_root: Path, keep: Iterable[str]) -> list[Path]:
    """Delete every run directory and input copy under ``work_root`` except those of the runs in ``keep``."""
    if not work_root.is_dir():
        return []
    kept = {run_dir_prefix(run_id) for run_id in keep} | set(keep)
    entries = [p for p in work_root.iterdir() if p.name != INPUTS_DIR]
    if (work_root / INPUTS_DIR).is_dir():
        entries += list((work_root / INPUTS_DIR).iterdir())
    removed = [p for p in entries if _owner(p, work_root) not in kept]
    for path in removed:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    return removed
