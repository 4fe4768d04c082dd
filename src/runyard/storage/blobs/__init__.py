"""Blob storage for inputs, outputs, logs and bundles, with HMAC-signed expiring URLs."""

from runyard.storage.blobs.base import (
    BlobChanged,
    BlobInfo,
    BlobNotFound,
    BlobStore,
    BlobStoreUnavailable,
    BlobWriter,
)
from runyard.storage.blobs.registry import known_schemes, open_blob_store
from runyard.storage.blobs.signing import SignedUrlError, sign, verify

__all__ = ["BlobChanged", "BlobInfo", "BlobNotFound", "BlobStore", "BlobStoreUnavailable", "BlobWriter", "SignedUrlError", "known_schemes", "open_blob_store", "sign", "verify"]
