"""Executables unpacked on the machine that runs them, once each, from the blob store."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from runyard.domain.errors import RunyardError
from runyard.storage.archives import ArchiveLimits, safe_extract
from runyard.storage.blobs import BlobStore

_lock = threading.Lock()
_CHUNK = 1024 * 1024
_BUNDLED_DEPS = ".nextmv/python/deps/"


def set_aside(name: str) -> bool:
    """The official SDK's bundled dependencies (wheels for Linux ARM64, never run here; a Python-native
    model brings mlflow's whole tree, 20,000 files): not unpacked, except each ``*.dist-info/METADATA``,
    whose versions are the lock the environment is built from (``envs.bundled_requirements``)."""
    return name.startswith(_BUNDLED_DEPS) and not (
        name.endswith(".dist-info/METADATA") and name.count("/") == 4)


class BundleChanged(RunyardError):
    """The executable's archive no longer matches the checksum recorded when it was activated: it is not
    run. Push the app again and cut a new version."""


def archive_sha256(blobs: BlobStore, blob_key: str) -> str:
    """The SHA-256 (hex) of the blob at ``blob_key``, read as a stream."""
    digest = hashlib.sha256()
    local = blobs.local_path(blob_key)
    with (open(local, "rb") if local is not None else blobs.open(blob_key)) as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def unpack(blobs: BlobStore, blob_key: str, target: Path, limits: ArchiveLimits, *, replace: bool = False,
           check: Callable[[Path], object] | None = None, sha256: str | None = None) -> Path:
    """The bundle at ``blob_key`` unpacked (defensively) into ``target``, made whole or not at all;
    ``check`` sees the unpacked tree before it is put in place (and may refuse it by raising). With
    ``sha256``, an archive whose digest differs is refused (``BundleChanged``) before a file is written."""
    if target.is_dir() and not replace:
        return target
    if sha256 and archive_sha256(blobs, blob_key) != sha256:
        raise BundleChanged()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".unpack-", dir=target.parent))
    try:
        local = blobs.local_path(blob_key)
        if local is not None:
            safe_extract(local, tmp, limits, aside=set_aside)
        else:
            with blobs.open(blob_key) as f:
                safe_extract(f, tmp, limits, aside=set_aside)
        if check is not None:
            check(tmp)
        with _lock:
            if target.exists():
                if not replace:
                    return target
                shutil.rmtree(target)
            tmp.rename(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


class BundleCache:
    """Unpacked bundles under ``root``, by id (an executable never changes once activated)."""

    def __init__(self, root: Path, blobs: BlobStore, limits: ArchiveLimits) -> None:
        self.root, self._blobs, self._limits = Path(root), blobs, limits

    def path(self, bundle_id: str) -> Path:
        return self.root / bundle_id

    def ensure(self, bundle_id: str, blob_key: str, sha256: str | None = None) -> Path:
        """The bundle unpacked here; unpacked now if it is not, its archive checked against ``sha256``."""
        target = self.path(bundle_id)
        if target.is_dir():
            return target
        return unpack(self._blobs, blob_key, target, self._limits, sha256=sha256)
