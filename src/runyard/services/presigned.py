"""Payloads that go straight between the client and a blob store that signs its own URLs (S3).

Such a store takes the data of a presigned PUT without Runyard hearing of it, and cannot make a URL
single-use. So an upload is *claimed* when something first uses it (a run, a managed input, a tracked
run, a bundle's activation): its object is checked against the upload limit, then

- up to ``COPY_UP_TO`` bytes, copied within the store to an immutable key of its own and the landing
  key deleted: a second PUT to the same URL (until it expires) lands where nothing ever reads it;
- larger, *pinned* (``BlobStore.pin``: its ETag recorded in the key Runyard reads it by), since a copy
  costs about as much as the upload and would hold up the request that claims it: a second PUT makes
  every later read of it fail with ``BlobChanged`` rather than read other data.

An upload claimed after its URL expired is immutable already (nobody can write it any more) and is
used in place.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from runyard.domain.errors import Invalid
from runyard.services.platform import Platform
from runyard.storage.blobs import BlobNotFound
from runyard.storage.blobs.base import over_limit
from runyard.storage.db import Application, Bundle, Upload

SEALED = ".sealed"
COPY_UP_TO = 16 * 1024 * 1024


def store_presigns(platform: Platform) -> bool:
    """Whether upload and download URLs point at the blob store itself."""
    return platform.blobs.presigns


def sealed_key(key: str) -> str:
    """Where a claimed upload's data lives: next to its landing key, never signed for a client."""
    folder, slash, name = key.rpartition("/")
    stem, dot, ext = name.partition(".")
    return f"{folder}{slash}{stem}{SEALED}{dot}{ext}"


def _seal(platform: Platform, key: str, url_expires: datetime) -> tuple[str, int] | None:
    """Seal the object PUT at ``key`` (see the module's note); (key to read it by, size), or ``None`` if
    nothing came."""
    try:
        size = platform.blobs.size(key)
    except BlobNotFound:
        return None
    limit = platform.settings.limits.upload_max_bytes
    if limit is not None and size > limit:
        platform.blobs.delete(key)
        raise Invalid(f"the uploaded data was refused: {over_limit(limit)}")
    if datetime.now(UTC) >= url_expires:
        return key, size
    if size > COPY_UP_TO:
        pinned = platform.blobs.pin(key)
        return pinned, platform.blobs.size(pinned)
    target = sealed_key(key)
    try:
        platform.blobs.copy(key, target)
    except BlobNotFound:
        return None
    platform.blobs.delete(key)
    return target, platform.blobs.size(target)


def claim_upload(platform: Platform, upload: Upload) -> None:
    """Mark ``upload`` received if its data was PUT to the store directly (see the module's note)."""
    if upload.received_at is not None or not store_presigns(platform):
        return
    sealed = _seal(platform, upload.blob_key, upload.expires_at)
    if sealed is not None:
        upload.blob_key, upload.size = sealed
        upload.received_at = datetime.now(UTC)


def claim_bundles(platform: Platform, session: Session, app: Application) -> None:
    """Mark the app's pending bundles PUT to the store directly as uploaded, oldest first, so the newest
    is the one activated. Only bundles whose URL may still be in use or was used are looked at."""
    if not store_presigns(platform):
        return
    ttl = timedelta(seconds=platform.settings.limits.signed_url_ttl_seconds)
    since = datetime.now(UTC) - 2 * ttl
    pending = session.scalars(
        select(Bundle)
        .where(Bundle.app_pk == app.pk, Bundle.status == "pending", Bundle.uploaded_at.is_(None), Bundle.created_at >= since)
        .order_by(Bundle.created_at)
    ).all()
    for bundle in pending:
        sealed = _seal(platform, bundle.blob_key, bundle.created_at + ttl)
        if sealed is not None:
            bundle.blob_key, bundle.size = sealed
            bundle.uploaded_at = datetime.now(UTC)
