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
"""

from __future__ import annotations

import collections
import dataclasses
import os
import shutil
import stat
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

Signature = tuple[int, ...]


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


class WorkspacePool:
    """At most ``limit`` kept workspaces, the oldest deleted first. Thread-safe."""

    def __init__(self, limit: int) -> None:
        self._limit = max(0, limit)
        self._lock = threading.Lock()
        self._spares: collections.deque[Spare] = collections.deque()

    def __len__(self) -> int:
        return len(self._spares)

    def take(self, key: str, target: Path) -> Pristine | None:
        """Move a kept workspace for ``key`` to ``target`` (which must not exist); its pristine record,
        or None when there is none fit for use (the caller lays out a fresh one)."""
        while True:
            with self._lock:
                spare = next((s for s in reversed(self._spares) if s.key == key), None)
                if spare is None:
                    return None
                self._spares.remove(spare)
            if restore(spare.path, spare.pristine):
                try:
                    os.rename(spare.path, target)
                except OSError:
                    pass
                else:
                    # The directory itself keeps its inode through the rename: the record still holds.
                    return spare.pristine
            shutil.rmtree(spare.path, ignore_errors=True)

    def give(self, spare: Spare) -> bool:
        """Keep ``spare`` if it restores to its pristine state; False (nothing kept) otherwise."""
        if self._limit == 0 or not restore(spare.path, spare.pristine):
            return False
        if spare.check is not None:
            if not spare.check():
                return False
            spare = dataclasses.replace(spare, check=None)
        evicted = None
        with self._lock:
            self._spares.append(spare)
            if len(self._spares) > self._limit:
                evicted = self._spares.popleft()
        if evicted is not None:
            shutil.rmtree(evicted.path, ignore_errors=True)
        return True

    def clear(self) -> None:
        with self._lock:
            spares, self._spares = list(self._spares), collections.deque()
        for spare in spares:
            shutil.rmtree(spare.path, ignore_errors=True)
