"""Signed URLs: minting them for one object and method, and honouring them without an API key."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from sqlalchemy import or_, select, update

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
    """What a signed upload fills: an upload slot or an application's bundle, and, once claimed for a
    PUT, the claim's time (which tells this PUT's claim from one that took over a stale claim)."""

    kind: str  # "upload" or "bundle"
    id: str
    claimed_at: datetime | None = None


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


class ClaimLost(Conflict):
    """This PUT's claim went stale and another PUT of the same URL took it over."""


def claim(platform: Platform, key: str) -> UploadTarget:
    """The upload slot or bundle waiting for ``key``, claimed for this one PUT. ``AlreadyUploaded`` when
    a PUT has filled it or is filling it (or it is an activated bundle): what a run or a version was
    made from never changes. ``NotFound`` when nothing is expected there.

    A PUT renews its claim while it streams (``renew``). A claim not renewed for
    ``limits.upload_claim_stale_seconds`` belongs to a server that died mid-upload: it is taken over,
    so the client's retry of the same URL is not refused forever."""
    target = expected_upload(platform, key)
    now = datetime.now(UTC)
    free = _claimable(platform, now)
    with platform.db.session() as s:
        if target.kind == "upload":
            claimed = s.execute(update(Upload).where(Upload.id == target.id, free(Upload.claimed_at),
                                                     Upload.received_at.is_(None)).values(claimed_at=now))
        else:
            claimed = s.execute(update(Bundle).where(Bundle.id == target.id, free(Bundle.claimed_at),
                                                     Bundle.uploaded_at.is_(None), Bundle.status == "pending")
                                .values(claimed_at=now))
    if claimed.rowcount != 1:
        raise AlreadyUploaded()
    return replace(target, claimed_at=now)


def _claimable(platform: Platform, now: datetime):  # type: ignore[no-untyped-def]
    stale = now - timedelta(seconds=platform.settings.limits.upload_claim_stale_seconds)
    return lambda column: or_(column.is_(None), column < stale)


def renew_every(platform: Platform) -> float:
    """Seconds between two renewals of a streaming PUT's claim: well inside the stale limit."""
    return platform.settings.limits.upload_claim_stale_seconds / 4


def renew(platform: Platform, target: UploadTarget) -> UploadTarget:
    """Renew this PUT's claim; ``ClaimLost`` if another PUT took it over meanwhile."""
    now = datetime.now(UTC)
    table = Upload if target.kind == "upload" else Bundle
    with platform.db.session() as s:
        done = s.execute(update(table).where(table.id == target.id, table.claimed_at == target.claimed_at).values(claimed_at=now))
    if done.rowcount != 1:
        raise ClaimLost("this upload was taken over by a later PUT of the same URL; request a new URL if both failed")
    return replace(target, claimed_at=now)


def release(platform: Platform, target: UploadTarget) -> None:
    """Give back the claim of a PUT that stored nothing (refused, cut off, failed): the URL may be retried."""
    table = Upload if target.kind == "upload" else Bundle
    done = Upload.received_at if target.kind == "upload" else Bundle.uploaded_at
    mine = table.claimed_at == target.claimed_at if target.claimed_at is not None else True
    with platform.db.session() as s:
        s.execute(update(table).where(table.id == target.id, done.is_(None), mine).values(claimed_at=None))


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
    claim_of = [target]
    try:
        size = platform.blobs.write_stream(key, _renewing(platform, claim_of, chunks),
                                           max_bytes=platform.settings.limits.upload_max_bytes)
    except ValueError as exc:
        release(platform, claim_of[0])
        raise Invalid(str(exc)) from None
    except BaseException:
        release(platform, claim_of[0])
        raise
    record_received(platform, claim_of[0], size)
    return size


def _renewing(platform: Platform, claim_of: list[UploadTarget], chunks: Iterator[bytes]) -> Iterator[bytes]:
    every = renew_every(platform)
    last = time.monotonic()
    for chunk in chunks:
        if time.monotonic() - last >= every:
            claim_of[0] = renew(platform, claim_of[0])
            last = time.monotonic()
        yield chunk
    claim_of[0] = renew(platform, claim_of[0])  # still ours, just before the data becomes visible
