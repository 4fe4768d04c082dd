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
import threading
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


class _Unmarked:
    """Pids whose environment has no ``var=`` at all, or cannot be read: no run started them, and none ever will be a run's
    (a process's initial environment never changes, and a pid is reused only after the kernel's pid
    counter wraps around). The scan after every run skips them, so it reads the environment of new
    processes only instead of every process on the machine.

    Forgotten when the counter is seen to go back (a wrap) and every ``MAX_AGE`` seconds anyway.
    """

    MAX_AGE = 30.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pids: set[int] = set()
        self._last_pid = -1
        self._since = time.monotonic()

    def current(self, proc: Path) -> set[int]:
        last = _last_pid(proc)
        with self._lock:
            if last is None or last < self._last_pid or time.monotonic() - self._since > self.MAX_AGE:
                self._pids = set()
                self._since = time.monotonic()
            self._last_pid = -1 if last is None else last
            return set(self._pids)

    def add(self, pids: Iterable[int]) -> None:
        with self._lock:
            self._pids.update(pids)


def _last_pid(proc: Path) -> int | None:
    """The pid counter's last value (read twice after every run: plain ``os`` calls, no ``pathlib``)."""
    try:
        fd = os.open(f"{proc}/sys/kernel/ns_last_pid", os.O_RDONLY | os.O_CLOEXEC)
        try:
            return int(os.read(fd, 32))
        finally:
            os.close(fd)
    except (OSError, ValueError):
        return None


_UNMARKED: dict[tuple[str, Path], _Unmarked] = {}
_UNMARKED_LOCK = threading.Lock()


def _unmarked(var: str, proc: Path) -> _Unmarked:
    with _UNMARKED_LOCK:
        return _UNMARKED.setdefault((var, proc), _Unmarked())


def find_processes(var: str, values: Iterable[str], proc: Path = PROC, *, remember_unmarked: bool = False,
                   pids: Iterable[int] | None = None) -> dict[int, str]:
    """pid -> value for each process on this machine whose environment has ``var`` set to one of ``values``.

    Linux only (elsewhere: empty). Only processes whose environment we may read are seen, which
    includes every process the runtime started (same user). With ``remember_unmarked``, processes
    without ``var`` are remembered and not read again by the next such scans (see ``_Unmarked``).
    With ``pids``, only those are looked at (see :func:`created_since`).
    """
    wanted = {value.encode() for value in values}
    if not wanted or not proc.is_dir():
        return {}
    prefix = f"{var}=".encode()
    unmarked = _unmarked(var, proc) if remember_unmarked else None
    skip = unmarked.current(proc) if unmarked is not None else set()
    skip.add(os.getpid())
    found: dict[int, str] = {}
    new_unmarked: list[int] = []
    names = os.listdir(proc) if pids is None else [str(pid) for pid in pids]
    for name in names:
        if not name.isdigit() or (pid := int(name)) in skip:
            continue
        try:
            with open(os.path.join(proc, name, "environ"), "rb") as fh:
                environ = fh.read()
        except OSError:
            # Exited meanwhile, or not ours to read (another user's, a kernel thread's): no process of a
            # run, which is ours and readable from its start, so it need not be read again either.
            new_unmarked.append(pid)
            continue
        if prefix not in environ:
            new_unmarked.append(pid)
            continue
        value = _value_of(environ, prefix, wanted)
        if value is not None:
            found[pid] = value
    if unmarked is not None:
        unmarked.add(new_unmarked)
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


def kill_processes(var: str, values: Iterable[str], *, timeout: float = 5.0, remember_unmarked: bool = False,
                   pids: Iterable[int] | None = None) -> dict[int, str]:
    """SIGKILL the process groups of processes found by :func:`find_processes` and wait (bounded) until
    they are gone; returns what was found."""
    found = find_processes(var, values, remember_unmarked=remember_unmarked, pids=pids)
    for pid in found:
        _kill(pid)
    deadline = time.monotonic() + timeout
    while any(_alive(pid) for pid in found) and time.monotonic() < deadline:
        time.sleep(0.01)
    return found


def kill_run_processes(run_ids: Iterable[str]) -> dict[int, str]:
    """Every process still running for one of ``run_ids`` (any attempt), killed."""
    return kill_processes(RUN_ID_VAR, run_ids)


def kill_execution_processes(execution_id: str, *, first_pid: int | None = None) -> dict[int, str]:
    """Every process left by one execution, killed: also descendants that escaped its process group.

    ``first_pid``, the execution's first process, narrows the scan to the processes made since it
    (:func:`created_since`) instead of every process on the machine."""
    pids = created_since(first_pid) if first_pid is not None else None
    return kill_processes(EXECUTION_ID_VAR, [execution_id], remember_unmarked=True, pids=pids)


_MAX_CREATED = 512  # more processes made since than this: the full scan (it skips known ones) is cheaper


def created_since(first_pid: int, proc: Path = PROC) -> list[int] | None:
    """The pids handed out from ``first_pid`` on: every descendant of that process has one of them, as
    pids come from one counter. None (scan everything) when the counter cannot be read, has wrapped
    around since, or has moved too far to probe pid by pid."""
    last = _last_pid(proc)
    if last is None or last < first_pid or last - first_pid > _MAX_CREATED:
        return None
    return list(range(first_pid, last + 1))


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
