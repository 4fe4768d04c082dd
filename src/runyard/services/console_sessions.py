"""Console sessions: a browser signs in with an API key once and then carries a cookie.

Only a hash of the session token is stored, so a copy of the database opens no session. The row keeps
the key's id, account and role and a CSRF token; it lives in the database so every server of a cluster
honours it, and it ends when it expires, when the browser signs out or when its key is revoked.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select

from runyard.domain.errors import Forbidden, Unauthenticated
from runyard.services import accounts
from runyard.services.platform import Platform, Principal
from runyard.storage.db import ApiKey, ConsoleSession

ENDED = "the console session has ended or expired: sign in again"


@dataclass
class Session:
    """A signed-in browser, as its cookie's holder may see it (the token itself only at sign-in)."""

    principal: Principal
    csrf_token: str
    expires_at: datetime
    token: str = ""


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def open_session(platform: Platform, api_key: str) -> Session:
    """A new session for the holder of ``api_key``; ``Unauthenticated`` when the key is not valid."""
    principal = accounts.authenticate(platform, api_key.strip())
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
    now = datetime.now(UTC)
    expires = now + timedelta(seconds=platform.settings.console.session_seconds)
    with platform.db.session() as s:
        s.execute(delete(ConsoleSession).where(ConsoleSession.expires_at < now))  # keep the table small
        s.add(ConsoleSession(token_hash=_hash(token), key_id=principal.key_id, account_id=principal.account_id,
                             role=principal.role, key_name=principal.key_name, csrf_token=csrf, created_at=now,
                             expires_at=expires))
    return Session(principal=principal, csrf_token=csrf, expires_at=expires, token=token)


def find_session(platform: Platform, token: str) -> Session:
    """The live session the cookie ``token`` names; ``Unauthenticated`` when it has ended, expired or its
    key was revoked."""
    with platform.db.session() as s:
        row = s.get(ConsoleSession, _hash(token))
        if row is None or row.expires_at <= datetime.now(UTC):
            raise Unauthenticated(ENDED)
        if row.key_id == "env":
            alive = bool(platform.settings.api_key)
        else:
            alive = s.scalar(select(ApiKey.id).where(ApiKey.id == row.key_id, ApiKey.revoked_at.is_(None))) is not None
        if not alive:
            raise Unauthenticated(ENDED)
        principal = Principal(account_id=row.account_id, key_id=row.key_id, role=row.role,
                              email=f"{row.key_id}@{row.account_id}", key_name=row.key_name)
        return Session(principal=principal, csrf_token=row.csrf_token, expires_at=row.expires_at)


def check_csrf(session: Session, sent: str | None) -> None:
    """``Forbidden`` unless ``sent`` is the session's CSRF token (state-changing calls with a cookie)."""
    if not sent:
        raise Forbidden("a state-changing call with a console session needs the X-CSRF-Token header")
    if not hmac.compare_digest(sent.encode(), session.csrf_token.encode()):
        raise Forbidden("the X-CSRF-Token header does not match the console session")


def close_session(platform: Platform, token: str) -> None:
    """Sign out: the session ends on every server at once."""
    with platform.db.session() as s:
        s.execute(delete(ConsoleSession).where(ConsoleSession.token_hash == _hash(token)))

