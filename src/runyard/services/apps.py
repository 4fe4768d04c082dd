"""Applications: create, read, list, update, delete."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from runyard.domain.errors import Conflict, Invalid, NotFound
from runyard.domain.ids import is_valid_user_id, new_id
from runyard.services.blob_keys import app_prefix, run_prefix
from runyard.services.pagination import Page, paginate
from runyard.services.platform import Platform, Principal
from runyard.storage.db import Application, Run, Upload


@dataclass
class AppFields:
    name: str | None = None
    description: str | None = None
    default_instance: str | None = None
    default_experiment_instance: str | None = None


def check_user_id(value: str, what: str) -> str:
    if not is_valid_user_id(value):
        raise Invalid(f"{what} {value!r} is not valid: use letters, digits, '.', '_' or '-' (at most 128)")
    return value


def load_app(session: Session, principal: Principal, app_id: str) -> Application:
    """The caller's application; other accounts' applications do not exist for it."""
    app = session.scalar(select(Application).where(Application.account_id == principal.account_id, Application.id == app_id))
    if app is None:
        raise NotFound(f"application {app_id!r} does not exist")
    return app


def create_app(platform: Platform, principal: Principal, *, app_id: str | None, fields: AppFields, app_type: str = "custom") -> Application:
    app_id = check_user_id(app_id, "application id") if app_id else new_id("app")
    name = (fields.name or "").strip() or app_id
    with platform.db.session() as s:
        exists = s.scalar(select(Application.pk).where(Application.account_id == principal.account_id, Application.id == app_id))
        if exists is not None:
            raise Conflict(f"application {app_id!r} already exists")
        app = Application(
            account_id=principal.account_id,
            id=app_id,
            name=name,
            description=fields.description or "",
            type=app_type,
            default_instance=fields.default_instance or None,
            default_experiment_instance=fields.default_experiment_instance or None,
        )
        s.add(app)
        s.flush()
        return app


def get_app(platform: Platform, principal: Principal, app_id: str) -> Application:
    with platform.db.session() as s:
        return load_app(s, principal, app_id)


def list_apps(platform: Platform, principal: Principal, *, token: str | None, limit: int | None) -> Page[Application]:
    with platform.db.session() as s:
        query = select(Application).where(Application.account_id == principal.account_id)
        return paginate(s, query, created=Application.created_at, key=Application.id, token=token, limit=limit)


def update_app(platform: Platform, principal: Principal, app_id: str, fields: AppFields) -> Application:
    with platform.db.session() as s:
        app = load_app(s, principal, app_id)
        if fields.name is not None:
            app.name = fields.name.strip() or app.id
        if fields.description is not None:
            app.description = fields.description
        if fields.default_instance is not None:
            app.default_instance = fields.default_instance or None
        if fields.default_experiment_instance is not None:
            app.default_experiment_instance = fields.default_experiment_instance or None
        app.updated_at = datetime.now(UTC)
        return app


def delete_app(platform: Platform, principal: Principal, app_id: str) -> None:
    """Remove the application, everything under it and its payloads; running runs are canceled first."""
    with platform.db.session() as s:
        app = load_app(s, principal, app_id)
        active = list(s.scalars(select(Run.id).where(Run.app_pk == app.pk, Run.status.in_(("queued", "running")))))
        run_ids = list(s.scalars(select(Run.id).where(Run.app_pk == app.pk)))
        # Uploaded inputs live outside the app's prefix; their rows go with the app, so the janitor never sees them.
        upload_keys = list(s.scalars(select(Upload.blob_key).where(Upload.app_pk == app.pk)))
        s.execute(delete(Run).where(Run.app_pk == app.pk))
        s.delete(app)
        pk = app.pk
    for run_id in active:
        platform.cancel_hook(run_id)
    for run_id in run_ids:
        platform.blobs.delete_prefix(run_prefix(run_id))
    for key in upload_keys:
        platform.blobs.delete_prefix(key)
    platform.blobs.delete_prefix(app_prefix(pk))
