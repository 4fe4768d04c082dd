"""The sandbox's ``/etc``: one read-only bind of a copy of the few entries programs read.

Binding each entry on its own cost a mount and a read-only remount per entry, about 3 ms a run for
the lot (measured against one bind of a copy). The copy holds exactly the entries runs may see: a
top-level link is followed (as a bind of it was), links inside folders stay links, and modes and
owners are kept (``/etc/ssl/private`` stays closed to the sandbox uid).

It follows the host: at most every ``check_every`` seconds a thread compares the entries' metadata
with what the copy was made from, and on a change makes a new copy (a new folder) and switches to it
for the next runs. A copy a sandbox may still have bound is never deleted (its files would vanish
under the run): every process holds a shared ``flock`` on the lock file of each copy it uses (the
current one, and older ones until their last run ended), and a copy is deleted only by whoever gets
that lock exclusively. The folder is the server's own, outside anything a run is shown.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import secrets
import shutil
import stat
import threading
import time
from collections.abc import Iterable
from pathlib import Path

log = logging.getLogger(__name__)

_LOCK = ".lock"


class EtcCopy:
    """``sources``: (host path, name under ``/etc``) pairs; missing ones are left out."""

    def __init__(self, root: Path, sources: Iterable[tuple[str, str]], *, check_every: float = 2.0) -> None:
        self.root = Path(root)
        self.sources = tuple(sources)
        self.check_every = check_every
        self._lock = threading.Lock()
        self._refreshing = threading.Lock()  # one refresh at a time: a slower one never installs an older copy
        self._current: _Version | None = None
        self._users: dict[str, int] = {}     # copy name -> runs of this process that have it bound
        self._versions: dict[str, _Version] = {}
        self._checked = 0.0
        self._checking = False

    def current(self) -> Path:
        """The copy new sandboxes bind (made now if there is none yet; a check started if one is due)."""
        return self._take(hold=False)

    def hold(self) -> Path:
        """:meth:`current`, counted as bound by a run until :meth:`release`."""
        return self._take(hold=True)

    def _take(self, *, hold: bool) -> Path:
        with self._lock:
            if self._current is None:
                self._current = self._make(_signature(self.sources))
                self._versions[self._current.path.name] = self._current
                self._checked = time.monotonic()
                self._collect(set(self._versions))
            due = not self._checking and time.monotonic() - self._checked >= self.check_every
            if due:
                self._checking = True
            path = self._current.path
            if hold:  # counted before the lock is let go: a refresh meanwhile keeps it
                self._users[path.name] = self._users.get(path.name, 0) + 1
        if due:
            threading.Thread(target=self._check, name="sandbox-etc-check", daemon=True).start()
        return path

    def release(self, path: Path) -> None:
        with self._lock:
            left = self._users.get(path.name, 0) - 1
            if left > 0:
                self._users[path.name] = left
                return
            self._users.pop(path.name, None)
            if not self._drop_unused():
                return
            kept = set(self._versions)
        self._collect(kept)  # the last run of an older copy ended: it can go now

    def refresh(self) -> bool:
        """Compare with the host now, and make a new copy if anything changed (whether it did)."""
        with self._refreshing:
            return self._refresh()

    def _refresh(self) -> bool:
        signature = _signature(self.sources)
        with self._lock:
            if self._current is not None and self._current.signature == signature:
                return False
        fresh = self._make(signature)  # (runs start meanwhile, with the copy they had)
        with self._lock:
            self._versions[fresh.path.name] = fresh
            self._current = fresh
            self._drop_unused()
            kept = set(self._versions)
        self._collect(kept)
        return True

    def _check(self) -> None:
        try:
            if self.refresh():
                log.info("the sandbox's /etc changed on the host: runs from now on see the new copy")
        except Exception:  # noqa: BLE001 - runs go on with the copy they have
            log.exception("could not refresh the sandbox's /etc copy")
        finally:
            with self._lock:
                self._checked = time.monotonic()
                self._checking = False

    def _make(self, signature: tuple) -> _Version:
        _private_dir(self.root)
        name = f"{os.getpid()}-{secrets.token_hex(4)}"
        version = _Version.lock(self.root, name, signature)
        try:
            target = version.path
            target.mkdir(mode=0o700)
            for source, relative in self.sources:
                _copy_entry(source, target / relative)
            os.chmod(target, 0o755)  # /etc itself: every uid may look up what is in it
        except BaseException:
            version.close()
            raise
        return version

    def _drop_unused(self) -> bool:
        """Stop holding the copies this process no longer uses (another may still hold them)."""
        dropped = False
        for name in list(self._versions):
            if (self._current is None or name != self._current.path.name) and name not in self._users:
                self._versions.pop(name).close()
                dropped = True
        return dropped

    def _collect(self, kept: set[str]) -> None:
        """Delete the copies no process holds (left by an older copy, or by a process that ended);
        ``kept``: this process's (its locks protect them anyway)."""
        try:
            names = {n.removesuffix(_LOCK) for n in os.listdir(self.root) if not n.startswith(".")}
        except OSError:
            return
        for name in names - kept:
            _delete_if_unheld(self.root, name)


class _Version:
    def __init__(self, path: Path, signature: tuple, fd: int) -> None:
        self.path, self.signature, self._fd = path, signature, fd

    @classmethod
    def lock(cls, root: Path, name: str, signature: tuple) -> _Version:
        # Locked under a temporary name, then renamed: a collector never sees it unlocked.
        partial = root / f".{name}{_LOCK}"
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        fcntl.flock(fd, fcntl.LOCK_SH)
        os.rename(partial, root / f"{name}{_LOCK}")
        return cls(root / name, signature, fd)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def _delete_if_unheld(root: Path, name: str) -> None:
    lock_path = root / f"{name}{_LOCK}"
    try:
        fd = os.open(lock_path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        shutil.rmtree(root / name, ignore_errors=True)  # its lock went first: it was being deleted
        return
    except OSError:
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return  # a process still holds it
        shutil.rmtree(root / name, ignore_errors=True)
        with contextlib.suppress(FileNotFoundError):
            lock_path.unlink()
    finally:
        os.close(fd)


def _private_dir(path: Path) -> None:
    """``path`` made (mode 0700) or checked: a folder of this uid alone, not a link, or OSError."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid():
        raise PermissionError(f"{path} is not a folder of uid {os.geteuid()}: the sandbox's /etc copy cannot live there")
    if stat.S_IMODE(st.st_mode) & 0o077:
        os.chmod(path, 0o700)


# --- what the copy is made from ------------------------------------------------------------------


def _signature(sources: Iterable[tuple[str, str]]) -> tuple:
    """The metadata of every source entry and everything under it (a change in content changes a
    time or a size; a replaced file changes its inode): about 2.5 ms for the default entries."""
    out: list[tuple] = []
    for source, relative in sources:
        try:
            st = os.stat(source)
        except OSError:
            out.append((relative, None))
            continue
        out.append((relative, *_meta(st)))
        if stat.S_ISDIR(st.st_mode):
            _walk_meta(source, out)
    return tuple(out)


def _meta(st: os.stat_result) -> tuple:
    return st.st_mode, st.st_uid, st.st_gid, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino


def _walk_meta(path: str, out: list[tuple]) -> None:
    try:
        entries = list(os.scandir(path))
    except OSError:
        return
    for entry in entries:
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        out.append((entry.path, *_meta(st)))
        if stat.S_ISDIR(st.st_mode):
            _walk_meta(entry.path, out)


def _copy_entry(source: str, target: Path) -> None:
    """A top-level entry: a link is followed, as a bind of it was."""
    try:
        st = os.stat(source)
    except OSError:
        return
    if os.path.lexists(target):  # inside an entry already copied
        return
    _make_parents(target)
    if stat.S_ISDIR(st.st_mode):
        _copy_tree(source, target, st)
    elif stat.S_ISREG(st.st_mode):
        _copy_file(source, target, st)


def _make_parents(target: Path) -> None:
    """The folders above an entry given as ``folder/name``, mode 0755 (the copy's root exists)."""
    missing = []
    parent = target.parent
    while not parent.exists():
        missing.append(parent)
        parent = parent.parent
    for folder in reversed(missing):
        folder.mkdir()
        os.chmod(folder, 0o755)


def _copy_tree(source: str, target: Path, st: os.stat_result) -> None:
    target.mkdir(mode=0o700)
    try:
        entries = list(os.scandir(source))
    except PermissionError:  # (a server that is not root cannot read /etc/ssl/private: left empty)
        entries = []
    for entry in entries:
        inner = target / entry.name
        try:
            est = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if stat.S_ISLNK(est.st_mode):
            os.symlink(os.readlink(entry.path), inner)
            if os.geteuid() == 0:
                os.lchown(inner, est.st_uid, est.st_gid)
        elif stat.S_ISDIR(est.st_mode):
            _copy_tree(entry.path, inner, est)
        elif stat.S_ISREG(est.st_mode):
            _copy_file(entry.path, inner, est)
    _keep_owner_and_mode(target, st)


def _copy_file(source: str, target: Path, st: os.stat_result) -> None:
    try:
        with open(source, "rb") as src, open(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as dst:
            shutil.copyfileobj(src, dst)
    except PermissionError:  # unreadable to a server that is not root: not shown
        target.unlink(missing_ok=True)
        return
    _keep_owner_and_mode(target, st)


def _keep_owner_and_mode(path: Path, st: os.stat_result) -> None:
    if os.geteuid() == 0:
        os.chown(path, st.st_uid, st.st_gid)  # before the mode: a change of owner clears set-id bits
    os.chmod(path, stat.S_IMODE(st.st_mode))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
