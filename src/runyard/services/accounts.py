"""Accounts (teams) and their API keys: keys are stored hashed and compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, select

from runyard.domain.errors import Forbidden, Invalid, NotFound, Unauthenticated
from runyard.domain.ids import new_id
from runyard.services import notify
from runyard.services.keycache import KeyCache
from runyard.services.platform import Platform, Principal
from runyard.storage.db import Account, ApiKey, ConsoleSession, Database

DEFAULT_ACCOUNT = "default"
ROLES = ("viewer", "operator", "developer", "admin")
_RANK = {role: i for i, role in enumerate(ROLES)}
_PREFIX = "ry"


@dataclass
class IssuedKey:
    id: str
    account_id: str
    role: str
    name: str
    key: str  # shown once


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def has_role(principal: Principal, role: str) -> bool:
    """Whether the principal's role is at least ``role``."""
    return _RANK.get(principal.role, -1) >= _RANK[role]


def require_role(principal: Principal, role: str) -> None:
    """``Forbidden`` unless the principal's role is at least ``role``."""
    if _RANK.get(principal.role, -1) < _RANK[role]:
        raise Forbidden(f"this needs the role {role!r}; the key has {principal.role!r}")


def ensure_default_account(db: Database) -> None:
    with db.session() as s:
        if s.get(Account, DEFAULT_ACCOUNT) is None:
            s.add(Account(id=DEFAULT_ACCOUNT, name="Default account"))


def has_keys(db: Database, account_id: str = DEFAULT_ACCOUNT) -> bool:
    with db.session() as s:
        return s.scalar(select(ApiKey.id).where(ApiKey.account_id == account_id, ApiKey.revoked_at.is_(None)).limit(1)) is not None


def create_key(db: Database, account_id: str, *, role: str = "developer", name: str = "",
               member_email: str | None = None) -> IssuedKey:
    """A new key for ``account_id``; the secret is returned once and only its hash is kept."""
    if role not in ROLES:
        raise Invalid(f"role must be one of {', '.join(ROLES)}")
    key_id = new_id("key", 10)
    secret = secrets.token_urlsafe(32)
    with db.session() as s:
        if s.get(Account, account_id) is None:
            raise NotFound(f"account {account_id!r} does not exist")
        s.add(ApiKey(id=key_id, account_id=account_id, name=name, role=role, secret_hash=_hash(secret),
                     member_email=member_email))
    return IssuedKey(id=key_id, account_id=account_id, role=role, name=name, key=f"{_PREFIX}_{key_id}_{secret}")


def authenticate_cached(platform: Platform, token: str | None) -> Principal | None:
    """The principal for ``token`` without any I/O, when it can be decided so: the configured admin
    key or a key verified within the last few seconds. ``None`` means ``authenticate`` must ask the database;
    a malformed token raises ``Unauthenticated`` here already."""
    if not token:
        raise Unauthenticated()
    configured = platform.settings.api_key
    if configured and hmac.compare_digest(token.encode(), configured.encode()):
        return Principal(account_id=DEFAULT_ACCOUNT, key_id="env", role="admin", email="admin@runyard.local",
                         key_name="RUNYARD_API_KEY")
    key_id, digest = _split(token)
    cached = platform.key_cache.get(key_id)
    if cached is not None and hmac.compare_digest(cached[0], digest):
        return cached[1]
    return None


def _split(token: str) -> tuple[str, str]:
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != _PREFIX:
        raise Unauthenticated("the API key is not valid")
    return parts[1], _hash(parts[2])


def authenticate(platform: Platform, token: str | None) -> Principal:
    """The principal for a bearer token; ``Unauthenticated`` for a missing, unknown or revoked key."""
    principal = authenticate_cached(platform, token)
    if principal is not None:
        return principal
    key_id, digest = _split(token or "")
    generation = platform.key_cache.generation
    with platform.db.session() as s:
        row = s.get(ApiKey, key_id)
        expected = row.secret_hash if row is not None else _hash("x" * 43)
        valid = hmac.compare_digest(expected, digest)
        if row is None or not valid or row.revoked_at is not None:
            raise Unauthenticated("the API key is not valid")
        principal = Principal(account_id=row.account_id, key_id=row.id, role=row.role,
                              email=row.member_email or f"{row.id}@{row.account_id}",
                              key_name=row.name)
    platform.key_cache.put(key_id, expected, principal, generation=generation)
    return principal


def create_account(db: Database, name: str) -> Account:
    if not name.strip():
        raise Invalid("name must not be empty")
    with db.session() as s:
        account = Account(id=new_id("acct"), name=name.strip())
        s.add(account)
        return account


def list_accounts(db: Database) -> list[Account]:
    with db.session() as s:
        return list(s.scalars(select(Account).order_by(Account.created_at)))


def list_keys(db: Database, account_id: str | None = None) -> list[ApiKey]:
    with db.session() as s:
        query = select(ApiKey).order_by(ApiKey.created_at)
        if account_id:
            query = query.where(ApiKey.account_id == account_id)
        return list(s.scalars(query))


def revoke_key(db: Database, key_id: str, *, account_id: str | None = None, cache: KeyCache | None = None) -> None:
    with db.session() as s:
        row = s.get(ApiKey, key_id)
        if row is None or (account_id is not None and row.account_id != account_id):
            raise NotFound(f"key {key_id!r} does not exist")
        row.revoked_at = datetime.now(UTC)
        s.execute(delete(ConsoleSession).where(ConsoleSession.key_id == key_id))  # its console sessions end too
        notify.publish_on_commit(s, notify.KEYS, key_id)  # the other servers forget it (a CLI's revocation too)
    if cache is not None:
        cache.forget(key_id)


def may_manage(principal: Principal, account_id: str) -> None:
    """Admins manage their own account; admins of the default account manage every account."""
    require_role(principal, "admin")
    if principal.account_id not in (DEFAULT_ACCOUNT, account_id):
        raise NotFound(f"account {account_id!r} does not exist")
