"""Signed URLs: minting them for one object and method, and honouring them without an API key."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import quote

from sqlalchemy import select

from runyard.domain.errors import Invalid, NotFound
from runyard.services.platform import Platform
from runyard.storage.blobs import SignedUrlError, sign, verify
from runyard.storage.db import Bundle, Upload

SIGNED_PREFIX = "/v1/signed/"


class SignatureRejected(Exception):
    """The signed URL is invalid or has expired."""


def signed_url(platform: Platform, base_url: str, method: str, key: str, ttl: int | None = None) -> str:
    """An absolute URL allowing ``method`` on blob ``key`` for ``ttl`` seconds, with no API key."""
    ttl = platform.settings.limits.signed_url_ttl_seconds if ttl is None else ttl
    expires, sig = sign(platform.signing_secret, method, key, ttl)
    base = (platform.settings.public_url or base_url).rstrip("/")
    return f"{base}{SIGNED_PREFIX}{quote(key)}?method={method.upper()}&expires={expires}&signature={sig}"


def check_signature(platform: Platform, method: str, key: str, expires: str, signature: str) -> None:
    try:
        verify(platform.signing_secret, method, key, int(expires), signature)
    except (SignedUrlError, ValueError) as exc:
        raise SignatureRejected(str(exc)) from None


def receive(platform: Platform, key: str, chunks: Iterator[bytes]) -> int:
    """Store a signed upload and mark the upload slot or bundle it belongs to as received."""
    with platform.db.session() as s:
        upload = s.scalar(select(Upload).where(Upload.blob_key == key))
        bundle = None if upload is not None else s.scalar(select(Bundle).where(Bundle.blob_key == key))
        if upload is None and bundle is None:
            raise NotFound("nothing is expected at this URL")
    limit = platform.settings.limits.upload_max_bytes
    try:
        size = platform.blobs.write_stream(key, chunks, max_bytes=limit)
    except ValueError as exc:
        raise Invalid(str(exc)) from None
    now = datetime.now(UTC)
    with platform.db.session() as s:
        if upload is not None:
            row = s.get(Upload, upload.id)
            if row is not None:
                row.size, row.received_at = size, now
        elif bundle is not None:
            brow = s.get(Bundle, bundle.id)
            if brow is not None:
                brow.size, brow.uploaded_at = size, now
    return size
