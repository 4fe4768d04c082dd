"""Secrets collections: encrypted at rest, masked below the developer role, injected into runs."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import select
from sqlalchemy.orm import Session

from runyard.domain.errors import Conflict, Invalid, NotFound
from runyard.domain.ids import new_id
from runyard.services.accounts import _RANK
from runyard.services.apps import check_user_id, load_app
from runyard.services.pagination import Page, paginate
from runyard.services.platform import Platform, Principal
from runyard.storage.db import Application, SecretsCollection

MAX_SECRETS = 20
MAX_VALUE = 1024
MASK = "********"
TYPES = ("env", "file")


@dataclass(frozen=True)
class Secret:
    type: str
    location: str
    value: str

    @property
    def key(self) -> tuple[str, str]:
        return (self.type, self.location)


def _fernet(platform: Platform) -> Fernet:
    # Any configured string works as the key: it is stretched to Fernet's 32 bytes.
    digest = hashlib.sha256(platform.secrets_key.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def _encrypt(platform: Platform, secrets: list[Secret]) -> str:
    doc = json.dumps([s.__dict__ for s in secrets]).encode()
    return _fernet(platform).encrypt(doc).decode()


def _decrypt(platform: Platform, row: SecretsCollection) -> list[Secret]:
    try:
        return [Secret(**d) for d in json.loads(_fernet(platform).decrypt(row.ciphertext.encode()))]
    except InvalidToken:
        raise Conflict(f"secrets collection {row.id!r} cannot be decrypted with this server's key") from None


def parse_secrets(raw: Any, where: str = "secrets") -> list[Secret]:
    """Validated secrets; a bad one is named."""
    if not isinstance(raw, list):
        raise Invalid(f"{where} must be a list")
    out: list[Secret] = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            raise Invalid(f"{where}[{i}] must be an object")
        kind = item.get("type", item.get("secret_type"))
        location, value = item.get("location"), item.get("value")
        if kind not in TYPES:
            raise Invalid(f"{where}[{i}].type must be 'env' or 'file'")
        if not isinstance(location, str) or not location.strip():
            raise Invalid(f"{where}[{i}].location must be a non-empty string")
        if not isinstance(value, str) or len(value.encode()) > MAX_VALUE:
            raise Invalid(f"{where}[{i}].value must be text of at most {MAX_VALUE} bytes")
        if kind == "file" and ".." in location.replace("\\", "/").split("/"):
            raise Invalid(f"{where}[{i}].location must not contain '..'")
        if kind == "env" and not location.replace("_", "a").isalnum():
            raise Invalid(f"{where}[{i}].location {location!r} is not a valid environment variable name")
        out.append(Secret(kind, location, value))
    _check_unique(out, where)
    return out


def _check_unique(secrets: list[Secret], where: str) -> None:
    if len(secrets) > MAX_SECRETS:
        raise Invalid(f"{where}: at most {MAX_SECRETS} secrets per collection")
    keys = [s.key for s in secrets]
    if len(set(keys)) != len(keys):
        raise Invalid(f"{where}: each (type, location) may appear once")


def load_collection(session: Session, app: Application, collection_id: str) -> SecretsCollection:
    row = session.scalar(select(SecretsCollection).where(SecretsCollection.app_pk == app.pk, SecretsCollection.id == collection_id))
    if row is None:
        raise NotFound(f"secrets collection {collection_id!r} of application {app.id!r} does not exist")
    return row


def create(platform: Platform, principal: Principal, app_id: str, *, collection_id: str | None, name: str | None,
           description: str | None, secrets: Any) -> SecretsCollection:
    parsed = parse_secrets(secrets)
    if not parsed:
        raise Invalid("secrets must not be empty")
    with platform.db.session() as s:
        app = load_app(s, principal, app_id)
        collection_id = check_user_id(collection_id, "secrets collection id") if collection_id else new_id("secrets")
        if s.scalar(select(SecretsCollection.pk).where(SecretsCollection.app_pk == app.pk, SecretsCollection.id == collection_id)):
            raise Conflict(f"secrets collection {collection_id!r} already exists")
        row = SecretsCollection(app_pk=app.pk, id=collection_id, name=(name or "").strip() or collection_id,
                                description=description or "", ciphertext=_encrypt(platform, parsed))
        s.add(row)
        s.flush()
        return row


def get(platform: Platform, principal: Principal, app_id: str, collection_id: str) -> tuple[SecretsCollection, list[Secret]]:
    """The collection and its secrets; values are masked for roles below developer."""
    with platform.db.session() as s:
        row = load_collection(s, load_app(s, principal, app_id), collection_id)
        secrets = _decrypt(platform, row)
    if _RANK.get(principal.role, -1) < _RANK["developer"]:
        secrets = [Secret(x.type, x.location, MASK) for x in secrets]
    return row, secrets


def list_collections(platform: Platform, principal: Principal, app_id: str, *, token: str | None, limit: int | None) -> Page[SecretsCollection]:
    with platform.db.session() as s:
        app = load_app(s, principal, app_id)
        query = select(SecretsCollection).where(SecretsCollection.app_pk == app.pk)
        return paginate(s, query, created=SecretsCollection.created_at, key=SecretsCollection.id, token=token, limit=limit)


def replace(platform: Platform, principal: Principal, app_id: str, collection_id: str, *, name: str | None,
            description: str | None, secrets: Any) -> SecretsCollection:
    """0.28.5's full replacement (PUT)."""
    parsed = parse_secrets(secrets) if secrets is not None else None
    return _update(platform, principal, app_id, collection_id, name, description, lambda _old: parsed)


def patch(platform: Platform, principal: Principal, app_id: str, collection_id: str, *, name: str | None,
          description: str | None, operations: Any) -> SecretsCollection:
    """1.13.0's PATCH with ``operations`` (create, update, delete by type and location)."""
    if operations is not None and not isinstance(operations, list):
        raise Invalid("operations must be a list")

    def apply(old: list[Secret]) -> list[Secret] | None:
        if not operations:
            return None
        current = {s.key: s for s in old}
        for i, op in enumerate(operations):
            _apply_op(current, op, i)
        return list(current.values())

    return _update(platform, principal, app_id, collection_id, name, description, apply)


def _apply_op(current: dict[tuple[str, str], Secret], op: Any, i: int) -> None:
    if not isinstance(op, dict) or op.get("op") not in ("create", "update", "delete"):
        raise Invalid(f"operations[{i}].op must be create, update or delete")
    key = (op.get("type"), op.get("location"))
    if op["op"] == "delete":
        if key not in current:
            raise Invalid(f"operations[{i}]: no {key[0]} secret at {key[1]!r} to delete")
        del current[key]
        return
    (secret,) = parse_secrets([{k: op.get(k) for k in ("type", "location", "value")}], f"operations[{i}]")
    if op["op"] == "create" and key in current:
        raise Invalid(f"operations[{i}]: a {key[0]} secret at {key[1]!r} exists already; use update")
    if op["op"] == "update" and key not in current:
        raise Invalid(f"operations[{i}]: no {key[0]} secret at {key[1]!r} to update")
    current[key] = secret


def _update(platform: Platform, principal: Principal, app_id: str, collection_id: str, name: str | None,
            description: str | None, new_secrets: Any) -> SecretsCollection:
    with platform.db.session() as s:
        row = load_collection(s, load_app(s, principal, app_id), collection_id)
        updated = new_secrets(_decrypt(platform, row))
        if updated is not None:
            _check_unique(updated, "secrets")
            if not updated:
                raise Invalid("a secrets collection must keep at least one secret")
            row.ciphertext = _encrypt(platform, updated)
        if name is not None:
            row.name = name.strip() or row.id
        if description is not None:
            row.description = description
        row.updated_at = datetime.now(UTC)
        return row


def delete(platform: Platform, principal: Principal, app_id: str, collection_id: str) -> None:
    with platform.db.session() as s:
        s.delete(load_collection(s, load_app(s, principal, app_id), collection_id))


def for_run(platform: Platform, app_pk: int, collection_id: str) -> tuple[dict[str, str], dict[str, str]]:
    """(env, files) of a collection for a run of the same application."""
    with platform.db.session() as s:
        row = s.scalar(select(SecretsCollection).where(SecretsCollection.app_pk == app_pk, SecretsCollection.id == collection_id))
        if row is None:
            raise NotFound(f"secrets collection {collection_id!r} does not exist")
        secrets = _decrypt(platform, row)
    env = {x.location: x.value for x in secrets if x.type == "env"}
    files = {x.location.lstrip("/"): x.value for x in secrets if x.type == "file"}
    return env, files


def check_exists(session: Session, app: Application, collection_id: str | None) -> None:
    if collection_id:
        load_collection(session, app, collection_id)
