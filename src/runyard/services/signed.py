"""Signed URLs: minting them for one object and method, and honouring them without an API key."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

from sqlalchemy import select

from runyard.domain.errors import Invalid, NotFound
from runyard.services.platform import Platform
from runyard.storage.blobs import SignedUrlError, sign, verify
from runyard.storage.blobs.base import over_limit
from runyard.storage.db import Bundle, Upload

SIGNED_PREFIX = "/v1/signed/"


class SignatureRejected(Exception):
    """The signed URL is invalid or has expired."""


def signed_url(platform: Platform, base_url: str, method: str, key: str, ttl: int | None = None) -> str:
    """An absolute URL allowing ``method`` on blob ``key`` for ``ttl`` seconds, with no API key: the
    store's own presigned URL where it has them (S3), else one Runyard serves under ``/v1/signed/``."""
    ttl = platform.settings.limits.signed_url_ttl_seconds if ttl is None else ttl
    if (presigned := platform.blobs.presign(method, key, ttl)) is not None:
        return presigned  # the store signs it: the payload never passes through Runyard
    expires, sig = sign(platform.signing_secret, method, key, ttl)
    base = (platform.settings.public_url or base_url).rstrip("/")
    return f"{base}{SIGNED_PREFIX}{quote(key)}?method={method.upper()}&expires={expires}&signature={sig}"


def check_signature(platform: Platform, method: str, key: str, expires: str, signature: str) -> None:
    try:
        verify(platform.signing_secret, method, key, int(expires), signature)
    except (SignedUrlError, ValueError) as exc:
        raise SignatureRejected(str(exc)) from None


@dataclass(frozen=True)
class UploadTarget:
    """What a signed upload fills: an upload slot or an application's bundle."""

    kind: str  # "upload" or "bundle"
    id: str


def expected_upload(platform: Platform, key: str) -> UploadTarget:
    """The upload slot or bundle waiting for ``key``; ``NotFound`` when nothing is expected there."""
    with platform.db.session() as s:
        upload = s.scalar(select(Upload).where(Upload.blob_key == key))
        if upload is not None:
            return UploadTarget("upload", upload.id)
        bundle = s.scalar(select(Bundle).where(Bundle.blob_key == key))
        if bundle is not None:
            return UploadTarget("bundle", bundle.id)
    raise NotFound("nothing is expected at this URL")


def too_large(platform: Platform, size: int) -> Invalid | None:
    """The error for a payload of ``size`` bytes past the signed-upload limit, if it is."""
    limit = platform.settings.limits.upload_max_bytes
    return Invalid(str(over_limit(limit))) if limit is not None and size > limit else None


def record_received(platform: Platform, target: UploadTarget, size: int) -> None:
    """Mark ``target`` as received with ``size`` bytes (after its blob was committed)."""
    now = datetime.now(UTC)
    with platform.db.session() as s:
        if target.kind == "upload":
            row = s.get(Upload, target.id)
            if row is not None:
                row.size, row.received_at = size, now
        else:
            brow = s.get(Bundle, target.id)
            if brow is not None:
                brow.size, brow.uploaded_at = size, now


def receive(platform: Platform, key: str, chunks: Iterator[bytes]) -> int:
    """Store a signed upload and mark the upload slot or bundle it belongs to as received."""
    target = expected_upload(platform, key)
    try:
        size = platform.blobs.write_stream(key, chunks, max_bytes=platform.settings.limits.upload_max_bytes)
    except ValueError as exc:
        raise Invalid(str(exc)) from None
    record_received(platform, target, size)
    return size
