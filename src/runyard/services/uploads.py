"""Upload slots for run inputs and tracked-run artefacts: ``POST …/runs/uploadurl`` then a signed PUT."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from runyard.domain.errors import Invalid, NotFound
from runyard.domain.ids import new_id
from runyard.services.apps import load_app
from runyard.services.blob_keys import upload_key
from runyard.services.platform import Platform, Principal
from runyard.services.presigned import claim_upload
from runyard.services.signed import signed_url
from runyard.storage.db import Application, Upload


@dataclass
class UploadSlot:
    upload_id: str
    upload_url: str


def new_upload(platform: Platform, principal: Principal, app_id: str, base_url: str) -> UploadSlot:
    ttl = platform.settings.limits.signed_url_ttl_seconds
    with platform.db.session() as s:
        app = load_app(s, principal, app_id)
        upload_id = new_id("upload", 12)
        key = upload_key(upload_id)
        s.add(Upload(id=upload_id, app_pk=app.pk, blob_key=key, expires_at=datetime.now(UTC) + timedelta(seconds=ttl)))
    return UploadSlot(upload_id=upload_id, upload_url=signed_url(platform, base_url, "PUT", key, ttl))


def resolve_upload(session: Session, app: Application, upload_id: str, *, platform: Platform | None = None) -> Upload:
    """The received upload ``upload_id`` of ``app``; ``Invalid`` when nothing was PUT to it yet.
    With ``platform``, an upload PUT straight to the blob store is claimed first (``presigned``)."""
    upload = session.scalar(select(Upload).where(Upload.id == upload_id, Upload.app_pk == app.pk))
    if upload is None:
        raise NotFound(f"upload {upload_id!r} does not exist")
    if platform is not None:
        claim_upload(platform, upload)
    if upload.received_at is None:
        raise Invalid(f"upload {upload_id!r} has no data yet: PUT the data to its upload_url first")
    return upload
