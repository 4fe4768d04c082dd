"""Defensive unpacking of tar archives (app bundles, multi-file inputs and outputs).

Rejected with ``UnsafeArchive`` (a 400 for clients): absolute paths, ``..`` components, links that
lead out of the tree, device files and FIFOs, more members or more bytes than allowed. Nothing is
ever written outside ``dest``; Python's ``data`` filter runs as a second line of defence.
"""

from __future__ import annotations

import io
import os
import posixpath
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

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


def safe_extract(source: Path | BinaryIO | bytes, dest: Path, limits: ArchiveLimits = ArchiveLimits()) -> list[str]:
    """Unpack the tar (optionally gzip, multi-member too) at ``source`` into ``dest``; returns member names."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    if isinstance(source, bytes):
        source = io.BytesIO(source)
    try:
        tar = tarfile.open(name=source, mode="r:*") if isinstance(source, Path) else tarfile.open(fileobj=source, mode="r:*")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise UnsafeArchive(f"not a readable tar archive: {exc}") from None
    names: list[str] = []
    total = 0
    with tar:
        try:
            for member in tar:
                name = _check_name(member.name)
                if name == ".":
                    continue
                if member.ischr() or member.isblk() or member.isfifo() or member.isdev():
                    raise UnsafeArchive(f"archive member {member.name!r} is a device or FIFO")
                if member.issym() or member.islnk():
                    _check_link(member, name)
                total += max(member.size, 0)
                if len(names) >= limits.max_files:
                    raise UnsafeArchive(f"archive has more than {limits.max_files} members")
                if total > limits.max_bytes:
                    raise UnsafeArchive(f"archive unpacks to more than {limits.max_bytes} bytes")
                try:
                    tar.extract(member, dest, filter="data")
                except tarfile.FilterError as exc:
                    raise UnsafeArchive(f"archive member {member.name!r} rejected: {exc}") from None
                names.append(name)
        except (tarfile.TarError, EOFError, OSError) as exc:
            if isinstance(exc, UnsafeArchive):
                raise
            raise UnsafeArchive(f"archive is corrupt: {exc}") from None
    return names


def inspect_archive(source: Path | BinaryIO, limits: ArchiveLimits = ArchiveLimits()) -> list[str]:
    """Apply :func:`safe_extract`'s checks to every member header without writing anything; returns names.

    The tar is read as a stream and a member's declared size is checked before its data is read, so a
    gzip bomb is rejected after at most ``limits.max_bytes`` of decompression.
    """
    names: list[str] = []
    total = 0
    try:
        with tarfile.open(name=source, mode="r|*") if isinstance(source, Path) else tarfile.open(fileobj=source, mode="r|*") as tar:
            for member in tar:
                name = _check_name(member.name)
                if name == ".":
                    continue
                if member.ischr() or member.isblk() or member.isfifo() or member.isdev():
                    raise UnsafeArchive(f"archive member {member.name!r} is a device or FIFO")
                if member.issym() or member.islnk():
                    _check_link(member, name)
                total += max(member.size, 0)
                if len(names) >= limits.max_files:
                    raise UnsafeArchive(f"archive has more than {limits.max_files} members")
                if total > limits.max_bytes:
                    raise UnsafeArchive(f"archive unpacks to more than {limits.max_bytes} bytes")
                names.append(name)
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise UnsafeArchive(f"not a readable tar archive: {exc}") from None
    return names


def pack_directory(src: Path, out: BinaryIO) -> None:
    """Write ``src``'s contents as a gzip'ed tar with paths relative to ``src``."""
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for root, dirs, files in os.walk(src):
            dirs.sort()
            for fname in sorted(files):
                full = Path(root) / fname
                tar.add(full, arcname=str(full.relative_to(src)), recursive=False)
