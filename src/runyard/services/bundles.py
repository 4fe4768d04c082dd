"""Push: an upload URL for the bundle, then activation that validates and unpacks it defensively."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select

from runyard.domain.errors import Conflict, Invalid, NotFound
from runyard.domain.ids import new_id
from runyard.domain.manifest import Manifest, manifest_from_requirements, parse_manifest
from runyard.execution.runtime.bundles import unpack
from runyard.services.apps import load_app
from runyard.services.blob_keys import bundle_key
from runyard.services.platform import Platform, Principal
from runyard.services.presigned import claim_bundles
from runyard.services.signed import signed_url
from runyard.storage.archives import ArchiveLimits
from runyard.storage.db import Bundle


def binary_upload_url(platform: Platform, principal: Principal, app_id: str, base_url: str) -> str:
    """A signed URL to PUT the next bundle of ``app_id`` to."""
    with platform.db.session() as s:
        app = load_app(s, principal, app_id)
        bundle_id = new_id("exec", 12)
        key = bundle_key(app.pk, bundle_id)
        s.add(Bundle(id=bundle_id, app_pk=app.pk, blob_key=key, user_email=principal.email))
    return signed_url(platform, base_url, "PUT", key)


def _limits(platform: Platform) -> ArchiveLimits:
    lim = platform.settings.limits
    return ArchiveLimits(max_files=lim.bundle_max_files, max_bytes=lim.bundle_max_bytes)


def _merge_deep(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        out[key] = _merge_deep(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _manifest_for(unpacked: Path, requirements: dict[str, Any]) -> Manifest:
    """The bundle's own app.yaml, overlaid with what the activation payload says."""
    raw: dict[str, Any] = {}
    path = unpacked / "app.yaml"
    if path.is_file():
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise Invalid(f"app.yaml in the bundle is not valid YAML: {exc}") from None
        raw = loaded if isinstance(loaded, dict) else {}
    manifest = parse_manifest(_merge_deep(raw, manifest_from_requirements(requirements)))
    entry = (unpacked / manifest.entrypoint).resolve()
    if not entry.is_file() or unpacked.resolve() not in entry.parents:
        raise Invalid(f"the bundle has no {manifest.entrypoint} (the entrypoint of a {manifest.type} app)")
    return manifest


def activate(platform: Platform, principal: Principal, app_id: str, requirements: dict[str, Any]) -> Bundle:
    """Make the newest uploaded bundle the app's executable; ``Invalid`` if it is unsafe or incomplete."""
    with platform.db.session() as s:
        app = load_app(s, principal, app_id)
        claim_bundles(platform, s, app)
        bundle = s.scalar(
            select(Bundle)
            .where(Bundle.app_pk == app.pk, Bundle.status == "pending", Bundle.uploaded_at.is_not(None))
            .order_by(Bundle.uploaded_at.desc())
            .limit(1)
        )
        if bundle is None:
            raise Conflict("no bundle was uploaded: GET …/binary and PUT the archive to its upload_url first")
        bundle_id, blob_key = bundle.id, bundle.blob_key
    target = platform.bundle_cache / bundle_id
    manifest = _unpack_and_validate(platform, blob_key, target, requirements)
    with platform.db.session() as s:
        row = s.get(Bundle, bundle_id)
        app = load_app(s, principal, app_id)
        if row is None:
            raise NotFound("the bundle disappeared during activation")
        row.status = "active"
        row.requirements = requirements
        row.manifest = manifest.model_dump(by_alias=True, exclude_none=True)
        app.latest_bundle_id = bundle_id
        app.updated_at = datetime.now(UTC)
        return row


def _unpack_and_validate(platform: Platform, blob_key: str, target: Path, requirements: dict[str, Any]) -> Manifest:
    found: list[Manifest] = []
    unpack(platform.blobs, blob_key, target, _limits(platform), replace=True,
           check=lambda tree: found.append(_manifest_for(tree, requirements)))
    return found[0]


def executable_view(bundle: Bundle) -> dict[str, Any]:
    req = bundle.requirements or {}
    manifest = bundle.manifest or {}
    return {
        "id": bundle.id,
        "user_email": bundle.user_email,
        "uploaded_at": bundle.uploaded_at or bundle.created_at,
        "requirements": {
            "executable_type": req.get("executable_type") or manifest.get("type", "python"),
            "runtime": req.get("runtime") or manifest.get("runtime", ""),
        },
    }
