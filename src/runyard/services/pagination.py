"""One paginate helper: opaque tokens over (created_at, key) keysets, newest first."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, literal, tuple_
from sqlalchemy.orm import InstrumentedAttribute, Session

from runyard.domain.errors import Invalid

T = TypeVar("T")
MAX_PAGE = 50


@dataclass
class Page(Generic[T]):
    items: list[T]
    next_token: str | None = None


def _encode(created_at: datetime, key: Any) -> str:
    raw = json.dumps([created_at.isoformat(), key]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(token: str) -> tuple[datetime, Any]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        created, key = json.loads(raw)
        return datetime.fromisoformat(created), key
    except (ValueError, TypeError) as exc:
        raise Invalid("pagetoken is not a valid page token") from exc


def paginate(
    session: Session,
    query: Select[Any],
    *,
    created: InstrumentedAttribute[Any],
    key: InstrumentedAttribute[Any],
    token: str | None,
    limit: int | None,
) -> Page[Any]:
    """Rows of ``query`` newest first; ``limit=None`` returns everything (the legacy shapes)."""
    query = query.order_by(created.desc(), key.desc())
    if token:
        at, last = _decode(token)
        # A row-value comparison lets SQLite and PostgreSQL seek the (…, created_at, id) index directly.
        query = query.where(tuple_(created, key) < tuple_(literal(at, created.type), literal(last, key.type)))
    if limit is None:
        return Page(list(session.scalars(query)))
    rows = list(session.scalars(query.limit(limit + 1)))
    if len(rows) <= limit:
        return Page(rows)
    rows = rows[:limit]
    last_row = rows[-1]
    return Page(rows, _encode(getattr(last_row, created.key), getattr(last_row, key.key)))
