"""The audit log: every state-changing API call, who made it and from where; read by admins, never edited."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select

from runyard.domain.errors import Invalid
from runyard.services import accounts
from runyard.services.platform import Platform, Principal
from runyard.storage.db import AuditEvent

MAX_PAGE = 1000


@dataclass(frozen=True)
class Call:
    """What the server saw of one state-changing call."""

    method: str
    route: str
    path: str
    status: int
    client: str
    request_id: str


# Every state-changing call writes one: a Core statement built once (the ORM's unit of work cost more
# than the insert, on every submission of a run).
_INSERT = insert(AuditEvent.__table__)


def record(platform: Platform, principal: Principal, call: Call) -> None:
    with platform.db.engine.begin() as conn:
        conn.execute(_INSERT, {"account_id": principal.account_id, "key_id": principal.key_id,
                               "key_name": principal.key_name, "role": principal.role, "method": call.method,
                               "route": call.route[:256], "path": call.path[:1024], "status": call.status,
                               "client": call.client[:64], "request_id": call.request_id[:64]})


def list_events(platform: Platform, principal: Principal, *, limit: int = 100, before: int | None = None) -> list[dict[str, Any]]:
    """The account's events, newest first; ``before`` (an event id) pages back."""
    accounts.require_role(principal, "admin")
    if not 1 <= limit <= MAX_PAGE:
        raise Invalid(f"limit must be from 1 to {MAX_PAGE}")
    query = select(AuditEvent).where(AuditEvent.account_id == principal.account_id)
    if before is not None:
        query = query.where(AuditEvent.id < before)
    with platform.db.session() as s:
        rows = s.scalars(query.order_by(AuditEvent.id.desc()).limit(limit)).all()
        return [_view(row) for row in rows]


def _view(row: AuditEvent) -> dict[str, Any]:
    at = row.at.isoformat().replace("+00:00", "Z") if row.at.tzinfo else row.at.isoformat() + "Z"
    return {"id": row.id, "at": at, "key": {"id": row.key_id, "name": row.key_name, "role": row.role},
            "action": f"{row.method} {row.route}", "resource": row.path, "status": row.status,
            "client": row.client, "request_id": row.request_id}
