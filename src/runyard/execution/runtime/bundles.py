"""Executables unpacked on the machine that runs them, once each, from the blob store."""

from __future__ import annotations

import shutil
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from runyard.storage.archives import ArchiveLimits, safe_extract
from runyard.storage.blobs import BlobStore

_lock = threading.Lock()


def unpack(blobs: BlobStore, blob_key: str, target: Path, limits: ArchiveLimits, *, replace: bool = False,
           check: Callable[[Path], object] | None = None) -> Path:
    """The bundle at ``blob_key`` unpacked (defensively) into ``target``, made whole or not at all;
    ``check`` sees the unpacked tree before it is put in place (and may refuse it by raising)."""
    if target.is_dir() and not replace:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".unpack-", dir=target.parent))
    try:
        local = blobs.local_path(blob_key)
        if local is not None:
            safe_extract(local, tmp, limits)
        else:
            with blobs.open(blob_key) as f:
                safe_extract(f, tmp, limits)
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

    def ensure(self, bundle_id: str, blob_key: str) -> Path:
        target = self.path(bundle_id)
        if target.is_dir():
            return target
        return unpack(self._blobs, blob_key, target, self._limits)
