"""Instances: a version plus a configuration. ``latest`` and ``devint`` are built in and run the latest push."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from runyard.domain.errors import Conflict, Invalid, NotFound
from runyard.domain.ids import new_id
from runyard.services.apps import check_user_id, load_app
from runyard.services.pagination import Page, paginate
from runyard.services.platform import Platform, Principal
from runyard.services.versions import load_version
from runyard.settings import Settings
from runyard.storage.db import Application, Instance

BUILTIN = ("latest", "devint")


@dataclass
class InstanceFields:
    version_id: str | None = None
    name: str | None = None
    description: str | None = None
    configuration: dict[str, Any] | None = None


def builtin_instance(app: Application, instance_id: str) -> Instance:
    """The virtual row of a built-in instance (not stored)."""
    return Instance(
        app_pk=app.pk,
        id=instance_id,
        name=instance_id,
        description="Built in: runs the latest pushed executable",
        version_id="",
        configuration={},
        locked=False,
        created_at=app.created_at,
        updated_at=app.updated_at,
    )


def load_instance(session: Session, app: Application, instance_id: str) -> Instance:
    instance = session.scalar(select(Instance).where(Instance.app_pk == app.pk, Instance.id == instance_id))
    if instance is None:
        if instance_id in BUILTIN:
            return builtin_instance(app, instance_id)
        raise NotFound(f"instance {instance_id!r} of application {app.id!r} does not exist")
    return instance


def check_configuration(settings: Settings, configuration: dict[str, Any]) -> dict[str, Any]:
    """A configuration with a known execution class and a queuing priority in 1..9."""
    cls = configuration.get("execution_class")
    if cls and cls not in settings.execution.classes and cls != "integration":
        known = ", ".join(sorted(settings.execution.classes))
        raise Invalid(f"configuration.execution_class {cls!r} is not known; known classes: {known}")
    queuing = configuration.get("queuing") or {}
    if not isinstance(queuing, dict):
        raise Invalid("configuration.queuing must be an object")
    priority = queuing.get("priority")
    if priority is not None and (not isinstance(priority, int) or isinstance(priority, bool) or not 1 <= priority <= 9):
        raise Invalid("configuration.queuing.priority must be an integer from 1 (first) to 9 (last)")
    options = configuration.get("options")
    if options is not None and not isinstance(options, dict):
        raise Invalid("configuration.options must be an object")
    return configuration


def create_instance(platform: Platform, principal: Principal, app_id: str, *, instance_id: str | None, fields: InstanceFields) -> Instance:
    with platform.db.session() as s:
        app = load_app(s, principal, app_id)
        instance_id = check_user_id(instance_id, "instance id") if instance_id else new_id("instance")
        if instance_id in BUILTIN:
            raise Conflict(f"instance {instance_id!r} is built in")
        if not fields.version_id:
            raise Invalid("version_id is required")
        load_version(s, app, fields.version_id)
        if s.scalar(select(Instance.pk).where(Instance.app_pk == app.pk, Instance.id == instance_id)) is not None:
            raise Conflict(f"instance {instance_id!r} already exists")
        instance = Instance(
            app_pk=app.pk,
            id=instance_id,
            name=(fields.name or "").strip() or instance_id,
            description=fields.description or "",
            version_id=fields.version_id,
            configuration=check_configuration(platform.settings, fields.configuration or {}),
        )
        s.add(instance)
        s.flush()
        return instance


def get_instance(platform: Platform, principal: Principal, app_id: str, instance_id: str) -> Instance:
    with platform.db.session() as s:
        return load_instance(s, load_app(s, principal, app_id), instance_id)


def list_instances(platform: Platform, principal: Principal, app_id: str, *, token: str | None, limit: int | None) -> Page[Instance]:
    with platform.db.session() as s:
        app = load_app(s, principal, app_id)
        query = select(Instance).where(Instance.app_pk == app.pk)
        return paginate(s, query, created=Instance.created_at, key=Instance.id, token=token, limit=limit)


def _stored(session: Session, app: Application, instance_id: str) -> Instance:
    instance = load_instance(session, app, instance_id)
    if instance.pk is None:
        raise Conflict(f"instance {instance_id!r} is built in and cannot be changed")
    return instance


def update_instance(platform: Platform, principal: Principal, app_id: str, instance_id: str, fields: InstanceFields) -> Instance:
    with platform.db.session() as s:
        app = load_app(s, principal, app_id)
        instance = _stored(s, app, instance_id)
        if fields.version_id is not None and fields.version_id != instance.version_id:
            load_version(s, app, fields.version_id)
            instance.version_id = fields.version_id
        if fields.name is not None:
            instance.name = fields.name.strip() or instance.id
        if fields.description is not None:
            instance.description = fields.description
        if fields.configuration is not None:
            instance.configuration = check_configuration(platform.settings, fields.configuration)
        instance.updated_at = datetime.now(UTC)
        return instance


def lock_instance(platform: Platform, principal: Principal, app_id: str, instance_id: str, locked: bool) -> Instance:
    with platform.db.session() as s:
        instance = _stored(s, load_app(s, principal, app_id), instance_id)
        instance.locked = locked
        instance.updated_at = datetime.now(UTC)
        return instance


def delete_instance(platform: Platform, principal: Principal, app_id: str, instance_id: str) -> None:
    with platform.db.session() as s:
        instance = _stored(s, load_app(s, principal, app_id), instance_id)
        if instance.locked:
            raise Conflict(f"instance {instance_id!r} is locked; unlock it first")
        s.delete(instance)
