"""Push: an upload URL for the bundle, then activation that validates and unpacks it defensively."""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from datetime import UTC, datetime
from typing import Any, BinaryIO

import yaml
from sqlalchemy import select

from runyard.domain.errors import Conflict, Invalid, NotFound
from runyard.domain.ids import new_id
from runyard.domain.manifest import Manifest, manifest_from_requirements, manifest_paths, parse_manifest
from runyard.execution.runtime.bundles import archive_sha256, set_aside, unpack
from runyard.services.apps import load_app
from runyard.services.blob_keys import bundle_key
from runyard.services.platform import Platform, Principal
from runyard.services.presigned import claim_bundles
from runyard.services.signed import signed_url
from runyard.storage.archives import ArchiveLimits, ArchiveScan, scan_archive
from runyard.storage.db import Bundle

log = logging.getLogger("runyard.bundles")
PREWARM_INLINE_MEMBERS = 2_000  # bundles up to this many members are unpacked during their activation
# The SDK gives activation 20 s. Past this many seconds of scanning, the scan stops as soon as the manifest
# is complete and valid, and the rest of the archive is checked in the background. (A Python-native model
# pushed with 0.28.5 is 236 MB of gzip, 817 MB and 20,800 members: 4.3 s of CPU to read through, 16 s of
# wall time on a loaded machine.)
INLINE_SCAN_SECONDS = 4.0
_MANIFEST_EVERY = 256  # members between two tries of the manifest once the inline budget is spent


def binary_upload_url(platform: Platform, principal: Principal, app_id: str, base_url: str) -> str:
    """A signed URL to PUT the next bundle of ``app_id`` to."""
    with platform.db.session() as s:
        app = load_app(s, principal, app_id)
        if app.type == "subscription":
            raise Conflict(f"application {app_id!r} is a marketplace subscription: it runs what its partner "
                           "publishes, and takes no pushes")
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


def _manifest_for(scan: ArchiveScan, requirements: dict[str, Any]) -> Manifest:
    """The bundle's own app.yaml, overlaid with what the activation payload says, its paths checked
    against the archive's members (links followed, as a run would follow them)."""
    raw: dict[str, Any] = {}
    if "app.yaml" in scan.contents:
        try:
            loaded = yaml.safe_load(scan.contents["app.yaml"].decode("utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise Invalid(f"app.yaml in the bundle is not valid YAML: {exc}") from None
        raw = loaded if isinstance(loaded, dict) else {}
    manifest = parse_manifest(_merge_deep(raw, manifest_from_requirements(requirements)))
    for field, value in manifest_paths(manifest):
        if scan.resolve(value) is None:
            raise Invalid(f"{field}: {value!r} leads outside the app; paths in the manifest are relative to the app's folder")
    cwd = scan.resolve(manifest.working_directory)
    if cwd != "." and cwd not in scan.dirs:
        raise Invalid(f"execution.cwd (working_directory): {manifest.working_directory!r} is not a folder in the bundle")
    if scan.resolve(manifest.entrypoint) not in scan.files:
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
    started = time.monotonic()
    try:
        scan, digest, manifest = _scan(platform, blob_key, requirements)
    except Invalid:
        _reject(platform, bundle_id, blob_key)
        raise
    with platform.db.session() as s:
        row = s.get(Bundle, bundle_id)
        app = load_app(s, principal, app_id)
        if row is None:
            raise NotFound("the bundle disappeared during activation")
        row.status = "active"
        row.sha256 = digest
        row.requirements = requirements
        row.manifest = manifest.model_dump(by_alias=True, exclude_none=True)
        app.latest_bundle_id = bundle_id
        app.updated_at = datetime.now(UTC)
    if scan.complete:
        # A quick scan promises a quick unpack; one that read hundreds of MB of bundled wheels does not.
        quick = time.monotonic() - started < INLINE_SCAN_SECONDS / 4
        _prewarm(platform, bundle_id, blob_key, digest, members=len(scan.files) + len(scan.links) if quick else None)
    else:
        _finish_in_background(platform, bundle_id, blob_key)
    return row


def _reject(platform: Platform, bundle_id: str, blob_key: str) -> None:
    """A bundle that failed activation is never run: its archive goes now (a push uploads a new one)."""
    with platform.db.session() as s:
        row = s.get(Bundle, bundle_id)
        if row is not None and row.status == "pending":
            row.status = "rejected"
    platform.blobs.delete_prefix(blob_key)


class _Hashing:
    """A file read through: what is read is hashed, so the archive is checked and digested in one pass."""

    def __init__(self, f: BinaryIO) -> None:
        self.f, self.digest = f, hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        data = self.f.read(n)
        self.digest.update(data)
        return data

    def rest(self) -> str:
        while self.read(1024 * 1024):
            pass
        return self.digest.hexdigest()


class _Budget:
    """``enough`` for :func:`scan_archive`: never within the inline budget; after it, as soon as the
    members seen so far hold a valid manifest (tried again every ``_MANIFEST_EVERY`` members)."""

    def __init__(self, requirements: dict[str, Any]) -> None:
        self.requirements, self.deadline = requirements, time.monotonic() + INLINE_SCAN_SECONDS
        self.seen = self.next_try = 0
        self.manifest: Manifest | None = None

    def __call__(self, scan: ArchiveScan) -> bool:
        self.seen += 1
        if self.seen < self.next_try or "app.yaml" not in scan.contents or time.monotonic() < self.deadline:
            return False
        try:
            self.manifest = _manifest_for(scan, self.requirements)
        except Invalid:
            self.next_try = self.seen + _MANIFEST_EVERY
            return False
        return True


def _scan(platform: Platform, blob_key: str, requirements: dict[str, Any]) -> tuple[ArchiveScan, str | None, Manifest]:
    """The bundle's members, checked as an unpack would check them, without writing a file, its manifest,
    and the archive's SHA-256: recorded now and checked whenever it is unpacked, a version runs the code it
    was cut from. (Writing 20,000 files took most of a 20,000-file activation: the SDK gives it 20 s.)
    A scan stopped by the inline budget has no digest yet (``_finish_in_background`` records it)."""
    local = platform.blobs.local_path(blob_key)
    budget = _Budget(requirements)
    with (open(local, "rb") if local is not None else platform.blobs.open(blob_key)) as f:
        reader = _Hashing(f)
        scan = scan_archive(reader, _limits(platform), read=("app.yaml",), aside=set_aside,  # type: ignore[arg-type]
                            enough=budget)
        if not scan.complete and budget.manifest is not None:
            return scan, None, budget.manifest
        return scan, reader.rest(), _manifest_for(scan, requirements)


def _finish_in_background(platform: Platform, bundle_id: str, blob_key: str) -> None:
    """What an activation stopped by its budget left: the archive's digest, then the unpack, which checks
    every member (a member found unsafe now fails the runs of this executable, naming it, and none of it
    is written)."""
    def work() -> None:
        try:
            digest = archive_sha256(platform.blobs, blob_key)
            with platform.db.session() as s:
                row = s.get(Bundle, bundle_id)
                if row is None:
                    return
                row.sha256 = digest
            unpack(platform.blobs, blob_key, platform.bundle_cache / bundle_id, _limits(platform), sha256=digest)
        except Exception:  # noqa: BLE001 - a run unpacks it again, and reports what fails
            log.warning("could not check bundle %s after its activation", bundle_id, exc_info=True)

    threading.Thread(target=work, name=f"check-{bundle_id}", daemon=True).start()


def _prewarm(platform: Platform, bundle_id: str, blob_key: str, digest: str, *, members: int | None) -> None:
    """Unpack the bundle for its first run: now if it is small (the first run then waits for nothing),
    in the background if not (a run that comes first unpacks it itself)."""
    def work() -> None:
        try:
            unpack(platform.blobs, blob_key, platform.bundle_cache / bundle_id, _limits(platform), sha256=digest)
        except Exception:  # noqa: BLE001 - the first run unpacks it again, and reports what fails
            log.warning("could not unpack bundle %s ahead of its first run", bundle_id, exc_info=True)

    if members is not None and members <= PREWARM_INLINE_MEMBERS:
        work()
    else:
        threading.Thread(target=work, name=f"unpack-{bundle_id}", daemon=True).start()


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
