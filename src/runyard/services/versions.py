"""Versions: immutable snapshots of the application's latest pushed executable."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from runyard.domain.errors import Conflict, NotFound
from runyard.domain.ids import new_id
from runyard.services import events
from runyard.services.apps import check_user_id, load_app
from runyard.services.pagination import Page, paginate
from runyard.services.platform import Platform, Principal
from runyard.storage.db import Application, Bundle, Version


def load_version(session: Session, app: Application, version_id: str) -> Version:
    version = session.scalar(select(Version).where(Version.app_pk == app.pk, Version.id == version_id))
    if version is None:
        raise NotFound(f"version {version_id!r} of application {app.id!r} does not exist")
    return version


def bundle_of(session: Session, bundle_id: str) -> Bundle:
    bundle = session.get(Bundle, bundle_id)
    if bundle is None:
        raise NotFound(f"executable {bundle_id!r} does not exist")
    return bundle


def create_version(
    platform: Platform, principal: Principal, app_id: str, *, version_id: str | None, name: str | None, description: str | None
) -> tuple[Version, Bundle]:
    with platform.db.session() as s:
        app = load_app(s, principal, app_id)
        if app.latest_bundle_id is None:
            raise Conflict(f"application {app_id!r} has no pushed executable yet: push the app first")
        version_id = check_user_id(version_id, "version id") if version_id else new_id("version")
        if s.scalar(select(Version.pk).where(Version.app_pk == app.pk, Version.id == version_id)) is not None:
            raise Conflict(f"version {version_id!r} already exists")
        version = Version(
            app_pk=app.pk, id=version_id, name=(name or "").strip() or version_id, description=description or "", bundle_id=app.latest_bundle_id
        )
        s.add(version)
        s.flush()
        bundle = bundle_of(s, version.bundle_id)
        events.emit(s, "version.pushed", {
            "application_id": app.id, "version_id": version.id, "name": version.name, "description": version.description,
            "created_at": version.created_at.isoformat().replace("+00:00", "Z") if version.created_at else None,
        }, account_id=principal.account_id, subject=version.id, app_id=app.id)
        return version, bundle


def get_version(platform: Platform, principal: Principal, app_id: str, version_id: str) -> tuple[Version, Bundle]:
    with platform.db.session() as s:
        version = load_version(s, load_app(s, principal, app_id), version_id)
        return version, bundle_of(s, version.bundle_id)


def list_versions(platform: Platform, principal: Principal, app_id: str, *, token: str | None, limit: int | None) -> Page[tuple[Version, Bundle]]:
    with platform.db.session() as s:
        app = load_app(s, principal, app_id)
        page = paginate(s, select(Version).where(Version.app_pk == app.pk), created=Version.created_at, key=Version.id, token=token, limit=limit)
        bundles = {b.id: b for b in s.scalars(select(Bundle).where(Bundle.id.in_({v.bundle_id for v in page.items})))}
        return Page([(v, bundles[v.bundle_id]) for v in page.items], page.next_token)


def update_version(
    platform: Platform, principal: Principal, app_id: str, version_id: str, *, name: str | None, description: str | None
) -> tuple[Version, Bundle]:
    with platform.db.session() as s:
        version = load_version(s, load_app(s, principal, app_id), version_id)
        if name is not None:
            version.name = name.strip() or version.id
        if description is not None:
            version.description = description
        version.updated_at = datetime.now(UTC)
        return version, bundle_of(s, version.bundle_id)


def delete_version(platform: Platform, principal: Principal, app_id: str, version_id: str) -> None:
    from runyard.storage.db import Instance

    with platform.db.session() as s:
        app = load_app(s, principal, app_id)
        version = load_version(s, app, version_id)
        users = list(s.scalars(select(Instance.id).where(Instance.app_pk == app.pk, Instance.version_id == version_id)))
        if users:
            raise Conflict(f"version {version_id!r} is used by instances {', '.join(users)}; point them elsewhere first")
        s.delete(version)
