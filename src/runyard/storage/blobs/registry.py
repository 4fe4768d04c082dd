"""Blob backends chosen by URL scheme in one place."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse

from runyard.storage.blobs.base import BlobStore


def _filesystem(url: str) -> BlobStore:
    from runyard.storage.blobs.backends.filesystem import FilesystemBlobStore

    parsed = urlparse(url)
    return FilesystemBlobStore(root=Path(parsed.netloc + parsed.path))


def _memory(url: str) -> BlobStore:
    from runyard.storage.blobs.backends.memory import MemoryBlobStore

    return MemoryBlobStore()


def _s3(url: str) -> BlobStore:
    from runyard.storage.blobs.backends.s3 import from_url

    return from_url(url)


_BACKENDS: dict[str, Callable[[str], BlobStore]] = {"file": _filesystem, "memory": _memory, "s3": _s3}


def known_schemes() -> list[str]:
    return sorted(_BACKENDS)


def open_blob_store(url: str) -> BlobStore:
    """The blob store for ``url``; an unknown scheme names the known ones."""
    scheme = urlparse(url).scheme
    if scheme not in _BACKENDS:
        raise ValueError(f"unknown blob store scheme {scheme!r} in {url!r}; known: {', '.join(known_schemes())}")
    return _BACKENDS[scheme](url)
