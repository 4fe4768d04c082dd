"""Signed URLs: minting them for one object and method, and honouring them without an API key."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

from sqlalchemy import select, update

from runyard.domain.errors import Conflict, Invalid, NotFound
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


class AlreadyUploaded(Conflict):
    """This upload URL was used already: an upload URL takes exactly one upload; request a new one."""


def claim(platform: Platform, key: str) -> UploadTarget:
    """The upload slot or bundle waiting for ``key``, claimed for this one PUT. ``AlreadyUploaded`` when
    a PUT has filled it or is filling it (or it is an activated bundle): what a run or a version was
    made from never changes. ``NotFound`` when nothing is expected there."""
    target = expected_upload(platform, key)
    now = datetime.now(UTC)
    with platform.db.session() as s:
        if target.kind == "upload":
            claimed = s.execute(update(Upload).where(Upload.id == target.id, Upload.claimed_at.is_(None),
                                                     Upload.received_at.is_(None)).values(claimed_at=now))
        else:
            claimed = s.execute(update(Bundle).where(Bundle.id == target.id, Bundle.claimed_at.is_(None),
                                                     Bundle.uploaded_at.is_(None), Bundle.status == "pending")
                                .values(claimed_at=now))
    if claimed.rowcount != 1:
        raise AlreadyUploaded()
    return target


def release(platform: Platform, target: UploadTarget) -> None:
    """Give back the claim of a PUT that stored nothing (refused, cut off, failed): the URL may be retried."""
    table = Upload if target.kind == "upload" else Bundle
    done = Upload.received_at if target.kind == "upload" else Bundle.uploaded_at
    with platform.db.session() as s:
        s.execute(update(table).where(table.id == target.id, done.is_(None)).values(claimed_at=None))


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
    """Store a signed upload (once) and mark the upload slot or bundle it belongs to as received."""
    target = claim(platform, key)
    try:
        size = platform.blobs.write_stream(key, chunks, max_bytes=platform.settings.limits.upload_max_bytes)
    except ValueError as exc:
        release(platform, target)
        raise Invalid(str(exc)) from None
    except BaseException:
        release(platform, target)
        raise
    record_received(platform, target, size)
    return size
