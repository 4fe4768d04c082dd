"""Defensive unpacking of tar archives (app bundles, multi-file inputs and outputs).

Rejected with ``UnsafeArchive`` (a 400 for clients): absolute paths, ``..`` components, links that
lead out of the tree, device files and FIFOs, more members or more bytes than allowed. Nothing is
ever written outside ``dest``; Python's ``data`` filter runs as a second line of defence.

Members "set aside" (``aside``: a predicate on the normalized name) pass the same checks but are never
written and count against a cap of their own (``ASIDE_FACTOR`` × ``max_files``): the official SDK ships
an app's dependencies as thousands of wheels for another machine, which Runyard does not run.
"""

from __future__ import annotations

import gzip
import io
import os
import posixpath
import tarfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from runyard.domain.errors import UnsafeArchive


@dataclass(frozen=True)
class ArchiveLimits:
    max_files: int = 20_000
    max_bytes: int = 2 * 1024**3


def _check_name(name: str) -> str:
    if not name or "\x00" in name:
        raise UnsafeArchive("archive member with an empty or invalid name")
    if name.startswith("/") or name.startswith("\\") or (len(name) > 1 and name[1] == ":"):
        raise UnsafeArchive(f"archive member {name!r} has an absolute path")
    parts = name.replace("\\", "/").split("/")
    if ".." in parts:
        raise UnsafeArchive(f"archive member {name!r} contains '..'")
    return posixpath.normpath(name.replace("\\", "/"))


def _check_link(member: tarfile.TarInfo, name: str) -> None:
    target = member.linkname.replace("\\", "/")
    if target.startswith("/"):
        raise UnsafeArchive(f"link {member.name!r} points to an absolute path")
    base = posixpath.dirname(name) if member.issym() else ""
    resolved = posixpath.normpath(posixpath.join(base, target))
    if resolved == ".." or resolved.startswith("../"):
        raise UnsafeArchive(f"link {member.name!r} leads out of the archive")


MAX_LINK_HOPS = 40  # as the kernel's ELOOP limit


def _within(path: str, links: dict[str, str], hops: int = 0) -> str | None:
    """``path`` (relative to the archive's root) with the archive's own symlinks followed, as a path
    relative to the root; ``None`` if it leads out. This is what ``realpath`` gives once the members
    before it are unpacked: a chain of links, each harmless alone, is caught before anything is written."""
    out: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not out:
                return None
            out.pop()
            continue
        out.append(part)
        here = "/".join(out)
        if here in links:
            if hops >= MAX_LINK_HOPS:
                raise UnsafeArchive(f"archive member {here!r}: too many levels of links")
            resolved = _within(posixpath.join(posixpath.dirname(here), links[here]), links, hops + 1)
            if resolved is None:
                return None
            out = [] if resolved == "." else resolved.split("/")
    return "/".join(out) or "."


class _LinkChains:
    """The symlinks seen so far, to check each later member's path and each link through them."""

    def __init__(self) -> None:
        self.links: dict[str, str] = {}

    def check(self, member: tarfile.TarInfo, name: str) -> None:
        if self.links and _within(name, self.links) is None:
            raise UnsafeArchive(f"archive member {member.name!r} leads out of the archive through a link")
        if member.issym():
            target = posixpath.join(posixpath.dirname(name), member.linkname.replace("\\", "/"))
            if _within(target, self.links) is None:
                raise UnsafeArchive(f"link {member.name!r} leads out of the archive through other links")
            self.links[name] = member.linkname.replace("\\", "/")
        elif member.islnk() and self.links and _within(member.linkname.replace("\\", "/"), self.links) is None:
            raise UnsafeArchive(f"link {member.name!r} leads out of the archive through other links")


MAX_HEADER_BYTES = 1024 * 1024
_META_TYPES = {tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE, tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK}


class _GuardedTarInfo(tarfile.TarInfo):
    """Refuses oversized pax/GNU metadata headers, which ``tarfile`` would read whole into memory."""

    def _proc_member(self, tarfile_obj):  # type: ignore[no-untyped-def]
        if self.type in _META_TYPES and self.size > MAX_HEADER_BYTES:
            raise UnsafeArchive(f"archive has a metadata header of {self.size} bytes (more than {MAX_HEADER_BYTES})")
        return super()._proc_member(tarfile_obj)


class _Peeked:
    """A reader whose first bytes were looked at (is it gzip?) and are read again."""

    def __init__(self, f: BinaryIO) -> None:
        self.f = f
        self.head = f.read(2)

    def read(self, n: int | None = -1) -> bytes:
        if not self.head:
            return self.f.read(-1 if n is None else n)
        if n is None or n < 0:
            head, self.head = self.head, b""
            return head + self.f.read()
        if n <= len(self.head):
            out, self.head = self.head[:n], self.head[n:]
            return out
        head, self.head = self.head, b""
        return head + self.f.read(n - len(head))


@contextmanager
def _open_stream(source: Path | BinaryIO) -> Iterator[tarfile.TarFile]:
    """A tar read front to back. gzip goes through ``GzipFile``, which reads concatenated members (the
    nextmv SDK appends the app's files to its dependencies' archive as one more gzip member; tarfile's
    own stream reader stops at the first)."""
    with ExitStack() as stack:
        f = stack.enter_context(open(source, "rb")) if isinstance(source, Path) else source
        peeked = _Peeked(f)
        if peeked.head == b"\x1f\x8b":
            raw: Any = stack.enter_context(gzip.GzipFile(fileobj=peeked, mode="rb"))  # type: ignore[call-overload]
            tar = tarfile.open(fileobj=raw, mode="r|", tarinfo=_GuardedTarInfo)
        else:
            tar = tarfile.open(fileobj=peeked, mode="r|*", tarinfo=_GuardedTarInfo)  # type: ignore[arg-type]
        with tar:
            yield tar


def _open(source: Path | BinaryIO, mode: str) -> tarfile.TarFile:
    if isinstance(source, Path):
        return tarfile.open(name=source, mode=mode, tarinfo=_GuardedTarInfo)
    return tarfile.open(fileobj=source, mode=mode, tarinfo=_GuardedTarInfo)


Aside = Callable[[str], bool]
ASIDE_FACTOR = 20


def _checked(tar: tarfile.TarFile, limits: ArchiveLimits,
             aside: Aside | None = None) -> Iterator[tuple[tarfile.TarInfo, str, bool]]:
    """Every member with its normalized name, once it passed the path, type, count and size checks, and
    whether it is kept (False: set aside, not to be written)."""
    count = total = set_aside = 0
    chains = _LinkChains()
    for member in tar:
        name = _check_name(member.name)
        if name == ".":
            continue
        if member.ischr() or member.isblk() or member.isfifo() or member.isdev():
            raise UnsafeArchive(f"archive member {member.name!r} is a device or FIFO")
        if member.issym() or member.islnk():
            _check_link(member, name)
        chains.check(member, name)
        total += max(member.size, 0)
        if total > limits.max_bytes:
            raise UnsafeArchive(f"archive unpacks to more than {limits.max_bytes} bytes")
        if aside is not None and aside(name):
            set_aside += 1
            if set_aside > limits.max_files * ASIDE_FACTOR:
                raise UnsafeArchive(f"archive has more than {limits.max_files * ASIDE_FACTOR} bundled dependency files")
            yield member, name, False
            continue
        if count >= limits.max_files:
            raise UnsafeArchive(f"archive has more than {limits.max_files} members")
        count += 1
        yield member, name, True


def safe_extract(source: Path | BinaryIO | bytes, dest: Path, limits: ArchiveLimits = ArchiveLimits(),
                 *, aside: Aside | None = None) -> list[str]:
    """Unpack the tar (optionally gzip, multi-member too) at ``source`` into ``dest``; returns member names
    (those set aside are checked, not written)."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    if isinstance(source, bytes):
        source = io.BytesIO(source)
    try:
        tar = _open(source, "r:*")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise UnsafeArchive(f"not a readable tar archive: {exc}") from None
    names: list[str] = []
    with tar:
        try:
            for member, name, kept in _checked(tar, limits, aside):
                if not kept:
                    continue
                try:
                    tar.extract(member, dest, filter="data")
                except tarfile.FilterError as exc:
                    raise UnsafeArchive(f"archive member {member.name!r} rejected: {_filter_reason(exc)}") from None
                names.append(name)
        except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
            raise UnsafeArchive(f"archive is corrupt: {exc}") from None
    return names


def _filter_reason(exc: tarfile.FilterError) -> str:
    """Why the ``data`` filter refused a member, without the server path its message names."""
    if isinstance(exc, tarfile.AbsolutePathError | tarfile.AbsoluteLinkError):
        return "it has an absolute path"
    if isinstance(exc, tarfile.OutsideDestinationError | tarfile.LinkOutsideDestinationError):
        return "it leads out of the archive"
    if isinstance(exc, tarfile.SpecialFileError):
        return "it is a special file"
    return "it is not a plain file, folder or link inside the archive"


def inspect_archive(source: Path | BinaryIO, limits: ArchiveLimits = ArchiveLimits()) -> list[str]:
    """Apply :func:`safe_extract`'s checks to every member header without writing anything; returns names.

    The tar is read as a stream and a member's declared size is checked before its data is read, so a
    gzip bomb is rejected after at most ``limits.max_bytes`` of decompression.
    """
    try:
        with _open_stream(source) as tar:
            return [name for _, name, _ in _checked(tar, limits)]
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise UnsafeArchive(f"not a readable tar archive: {exc}") from None


@dataclass
class ArchiveScan:
    """What a bundle's headers say, read without unpacking it: the regular files and folders by
    normalized name, its symlinks, and the contents of the few members asked for."""

    files: set[str]
    dirs: set[str]
    links: dict[str, str]
    contents: dict[str, bytes]
    complete: bool = True  # False: ``enough`` stopped the scan before the archive's end

    def resolve(self, path: str) -> str | None:
        """``path`` with the archive's links followed, relative to its root; ``None`` if it leads out."""
        if path.startswith("/"):
            return None
        return _within(path.replace("\\", "/"), self.links)


MAX_READ_BYTES = 1024 * 1024  # a member read whole by scan_archive (app.yaml)


def scan_archive(source: Path | BinaryIO, limits: ArchiveLimits = ArchiveLimits(), *, read: tuple[str, ...] = (),
                 aside: Aside | None = None, enough: Callable[[ArchiveScan], bool] | None = None) -> ArchiveScan:
    """:func:`inspect_archive`'s checks, plus what is needed to validate a bundle against its manifest
    without writing a file: names, links, and the contents of the members named in ``read``. ``enough``
    is asked after each member whether the scan may stop there (``complete`` is then False)."""
    scan = ArchiveScan(files=set(), dirs=set(), links={}, contents={})
    try:
        with _open_stream(source) as tar:
            for member, name, kept in _checked(tar, limits, aside):
                if not kept:
                    if enough is not None and enough(scan):
                        scan.complete = False
                        break
                    continue
                if member.issym():
                    scan.links[name] = member.linkname.replace("\\", "/")
                elif member.isdir():
                    scan.dirs.add(name)
                else:
                    scan.files.add(name)
                    if name in read and member.isfile() and member.size <= MAX_READ_BYTES:
                        data = tar.extractfile(member)
                        scan.contents[name] = data.read() if data is not None else b""
                parent = posixpath.dirname(name)
                while parent and parent not in scan.dirs:
                    scan.dirs.add(parent)
                    parent = posixpath.dirname(parent)
                if enough is not None and enough(scan):
                    scan.complete = False
                    break
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise UnsafeArchive(f"not a readable tar archive: {exc}") from None
    return scan


def pack_directory(src: Path, out: BinaryIO) -> None:
    """Write ``src``'s contents as a gzip'ed tar with paths relative to ``src``."""
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for root, dirs, files in os.walk(src):
            dirs.sort()
            for fname in sorted(files):
                full = Path(root) / fname
                tar.add(full, arcname=str(full.relative_to(src)), recursive=False)
