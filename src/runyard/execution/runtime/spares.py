"""Workspaces of ended runs, kept for the next run of the same executable.

A fresh workspace costs a directory or file for every entry of the app, and one removal each at the
end. Where creating an inode is slow (ext4 without a journal skips every inode freed in the last
minutes, one by one, before it hands one out), that was the largest part of the server's time per run.

A kept workspace is handed out again only if it is exactly what a fresh copy would be, checked entry by
entry when it is given back and again when it is taken:

* everything the run added (outputs, caches, ``__pycache__``, secrets files, inputs) is removed;
* every entry of the copy is still there, as the same inode with the same type, mode and owner, and
  every file or link with the same size, modification time, change time and a single link. Writing,
  truncating, ``chmod``, ``chown``, ``utime``, renaming over or hard-linking a file all change one of
  these (the change time cannot be set back), so an app that touched its own files gets a fresh copy.
  The change time has the kernel's tick as its resolution: a write within the tick the copy was made
  in would not show. So the first time a fresh copy is given back, its content is compared too
  (``Spare.check``); later runs start ticks after the copy was made.

Anything else (an entry gone, a removal that failed, a directory that is no longer one) deletes the
kept workspace. Workspaces are only kept for the same executable, hence the same app of the same
account, and only when no process of the run was left to kill.

With a ``Warmer`` (``warm``), a kept workspace gets a sandbox started for its next run right away; the run
that takes the workspace uses it if it fits (it then keeps the workspace where it is, since the sandbox
shows it at that path), or lets it go.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import logging
import os
import shutil
import stat
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from runyard.execution.runtime.warm import Warmer, WarmSandbox, WarmSpec

log = logging.getLogger(__name__)
Signature = tuple[int, ...]
WORKSPACE_DIR_NAME = "ws"  # a run directory's workspace (what the sandbox shows read-write)


def _signature(st: os.stat_result) -> Signature:
    if stat.S_ISDIR(st.st_mode):  # a directory's times change as entries come and go: not compared
        return (st.st_mode, st.st_ino, st.st_uid, st.st_gid)
    return (st.st_mode, st.st_ino, st.st_uid, st.st_gid, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_nlink)


@dataclass(frozen=True)
class Pristine:
    """A freshly laid-out workspace tree: every entry's signature, by path relative to its root."""

    root: Signature
    entries: dict[str, Signature]


def _listing(top: str, pending: list[str]) -> Iterator[tuple[str, os.DirEntry[str]]]:
    """(path relative to ``top``, entry) for every entry of the directories in ``pending`` (relative
    paths, ``""`` for ``top``); the caller appends the directories to descend into."""
    while pending:
        rel = pending.pop()
        with os.scandir(f"{top}/{rel}" if rel else top) as listing:
            for entry in listing:
                yield (f"{rel}/{entry.name}" if rel else entry.name), entry


def record(root: Path) -> Pristine:
    """The signatures of everything under ``root`` as it is now (right after it was laid out)."""
    top = str(root)
    entries: dict[str, Signature] = {}
    pending = [""]
    for child, entry in _listing(top, pending):
        entries[child] = _signature(entry.stat(follow_symlinks=False))
        if entry.is_dir(follow_symlinks=False):
            pending.append(child)
    return Pristine(root=_signature(os.lstat(top)), entries=entries)


def _remove(entry: os.DirEntry[str]) -> None:
    if entry.is_dir(follow_symlinks=False):
        shutil.rmtree(entry.path, ignore_errors=True)
    else:
        try:
            os.unlink(entry.path)
        except FileNotFoundError:
            pass


def restore(root: Path, pristine: Pristine) -> bool:
    """Remove what was added under ``root``; True if what is left is exactly ``pristine``."""
    top = str(root)
    seen = 0
    pending = [""]
    try:
        if _signature(os.lstat(top)) != pristine.root:
            return False
        for child, entry in _listing(top, pending):
            wanted = pristine.entries.get(child)
            if wanted is None:
                _remove(entry)
                if os.path.lexists(entry.path):
                    return False
                continue
            if _signature(entry.stat(follow_symlinks=False)) != wanted:
                return False
            seen += 1
            if stat.S_ISDIR(wanted[0]):
                pending.append(child)
    except OSError:
        return False
    return seen == len(pristine.entries)


@dataclass(frozen=True)
class Spare:
    """What a run's cleanup offers back: its directory, what it must look like, and for which executable."""

    key: str
    path: Path
    pristine: Pristine
    # For a fresh copy: compares its content with what was copied, once, when it is first given back.
    check: Callable[[], bool] | None = None


@dataclass(frozen=True)
class Taken:
    """A kept workspace handed to a run: where it now is, its record, and the sandbox waiting in it (if
    one fits the run: then ``path`` is where the workspace was kept, not the run's own name)."""

    path: Path
    pristine: Pristine
    warm: WarmSandbox | None = None


_STARTING = object()  # a sandbox is being started for the spare
_WAIT_FOR_START = 2.0  # how long a run waits for a sandbox already being started for its workspace


class WorkspacePool:
    """At most ``limit`` kept workspaces, the oldest deleted first. Thread-safe."""

    def __init__(self, limit: int, warmer: Warmer | None = None) -> None:
        self._limit = max(0, limit)
        self._cond = threading.Condition()
        self._spares: collections.deque[Spare] = collections.deque()
        self._warmer = warmer
        self._warm: dict[Path, object] = {}  # spare path -> _STARTING or its WarmSandbox
        self._replenishing: set[str] = set()  # keys a workspace is being laid out ahead for
        self._closed = False
        if warmer is not None:
            warmer.on_idle = self.refresh

    def __len__(self) -> int:
        return len(self._spares)

    def take(self, key: str, target: Path, spec: WarmSpec | None = None) -> Taken | None:
        """A kept workspace for ``key``: moved to ``target`` (which must not exist), or left where it is
        when a sandbox waiting in it fits ``spec``; None when there is none fit for use (the caller lays
        out a fresh one)."""
        while True:
            with self._cond:
                spares = [s for s in self._spares if s.key == key]
                if not spares:
                    return None
                # One whose sandbox was started longest ago (the readiest), else the last kept.
                spare = next((s for s in spares if self._warm.get(s.path) not in (None, _STARTING)), spares[-1])
                self._spares.remove(spare)
                path = spare.path
                self._cond.wait_for(lambda: self._warm.get(path) is not _STARTING, _WAIT_FOR_START)  # noqa: B023
                warm = self._warm.pop(spare.path, None)
            warm = None if warm is _STARTING else warm
            if restore(spare.path, spare.pristine):
                if warm is not None and spec is not None and warm.fits(spec, spare.path / WORKSPACE_DIR_NAME):
                    return Taken(spare.path, spare.pristine, warm)
                if warm is not None:
                    warm.done()
                try:
                    os.rename(spare.path, target)
                except OSError:
                    pass
                else:
                    # The directory itself keeps its inode through the rename: the record still holds.
                    return Taken(target, spare.pristine)
            elif warm is not None:
                warm.done()
            shutil.rmtree(spare.path, ignore_errors=True)

    def give(self, spare: Spare, spec: WarmSpec | None = None) -> bool:
        """Keep ``spare`` if it restores to its pristine state; False (nothing kept) otherwise. With
        ``spec`` (and a warmer), a sandbox is started in it for the next run."""
        if self._limit == 0 or self._closed or not restore(spare.path, spare.pristine):
            return False
        if spare.check is not None:
            if not spare.check():
                return False
            spare = dataclasses.replace(spare, check=None)
        evicted, evicted_warm = None, None
        warming = self._warmer is not None and spec is not None
        with self._cond:
            if self._closed:  # cleared meanwhile (the host shuts down)
                return False
            self._spares.append(spare)
            if warming:
                self._warm[spare.path] = _STARTING
            if len(self._spares) > self._limit:
                evicted = self._spares.popleft()
                evicted_warm = self._warm.pop(evicted.path, None)
        if evicted is not None:
            self._let_go(evicted_warm)
            shutil.rmtree(evicted.path, ignore_errors=True)
        if warming:
            assert self._warmer is not None and spec is not None
            self._warmer.request(spare.path / WORKSPACE_DIR_NAME, spec, functools.partial(self._started, spare.path))
        return True

    def replenish(self, key: str, spec: WarmSpec, lay_out: Callable[[], Spare]) -> None:
        """With a warmer, no other workspace kept for ``key`` and room in the pool: one more laid out
        (``lay_out``, on a thread of its own), kept, and given its sandbox started ahead, so the next run
        of the executable finds one ready while this run still holds the one it took."""
        if self._warmer is None or self._limit < 2:
            return
        with self._cond:
            if key in self._replenishing or any(s.key == key for s in self._spares) or \
                    len(self._spares) + len(self._replenishing) >= self._limit:  # never at another's expense
                return
            self._replenishing.add(key)

        def job() -> None:
            try:
                spare = lay_out()
            finally:
                with self._cond:
                    self._replenishing.discard(key)
            if not self.give(spare, spec):
                shutil.rmtree(spare.path, ignore_errors=True)

        # On a thread of its own: a large app takes a while to copy, and sandboxes to start wait for no copy.
        threading.Thread(target=self._guarded, args=(job,), name="runyard-workspace-ahead", daemon=True).start()

    @staticmethod
    def _guarded(job: Callable[[], None]) -> None:
        try:
            job()
        except Exception:  # noqa: BLE001 - the next run lays out its own
            log.warning("could not lay out a workspace ahead", exc_info=True)

    def _started(self, path: Path, warm: WarmSandbox | None) -> None:
        """The warmer's delivery: kept for the spare if it still waits for it, else let go."""
        with self._cond:
            wanted = self._warm.get(path) is _STARTING
            if wanted:
                if warm is None:
                    del self._warm[path]
                else:
                    self._warm[path] = warm
                self._cond.notify_all()
        if not wanted and warm is not None:
            warm.done()

    def refresh(self) -> None:
        """Let go of waiting sandboxes whose ``/etc`` copy was superseded (they would not fit a run, and
        they hold the old copy), each replaced by one started with the current copy."""
        with self._cond:
            stale = [(path, warm) for path, warm in self._warm.items()
                     if warm is not _STARTING and not warm.current()]  # type: ignore[attr-defined]
            for path, _ in stale:
                self._warm[path] = _STARTING
        for path, warm in stale:
            warm.done()  # type: ignore[attr-defined]
            assert self._warmer is not None
            self._warmer.request(path / WORKSPACE_DIR_NAME, warm.spec, functools.partial(self._started, path))  # type: ignore[attr-defined]

    @staticmethod
    def _let_go(warm: object) -> None:
        if warm is not None and warm is not _STARTING:
            warm.done()  # type: ignore[attr-defined]

    def clear(self) -> None:
        """Delete every kept workspace, and keep none from now on (the host shuts down)."""
        with self._cond:
            self._closed = True
            spares, self._spares = list(self._spares), collections.deque()
            warms, self._warm = list(self._warm.values()), {}
        for warm in warms:
            self._let_go(warm)
        for spare in spares:
            shutil.rmtree(spare.path, ignore_errors=True)
