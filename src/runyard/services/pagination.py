"""Pagination: opaque tokens over (created_at, key) keysets, newest first, for ORM queries and Core rows."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection, Row, Select, literal, select, tuple_, union_all
from sqlalchemy.orm import InstrumentedAttribute, Session
from sqlalchemy.sql.elements import ColumnElement

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


def _keyset(query: Select[Any], created: Any, key: Any, token: str | None) -> Select[Any]:
    """``query`` newest first, after the row ``token`` names (if any)."""
    query = query.order_by(created.desc(), key.desc())
    if token:
        at, last = _decode(token)
        # A row-value comparison lets SQLite and PostgreSQL seek the (…, created_at, id) index directly.
        query = query.where(tuple_(created, key) < tuple_(literal(at, created.type), literal(last, key.type)))
    return query


def _page(rows: list[Any], limit: int | None, created: str, key: str) -> Page[Any]:
    """The first ``limit`` of ``rows`` (fetched with one extra), with a token to the rest if there is more."""
    if limit is None or len(rows) <= limit:
        return Page(rows)
    rows = rows[:limit]
    last_row = rows[-1]
    return Page(rows, _encode(getattr(last_row, created), getattr(last_row, key)))


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
    query = _keyset(query, created, key, token)
    if limit is not None:
        query = query.limit(limit + 1)
    return _page(list(session.scalars(query)), limit, created.key, key.key)


def paginate_rows(
    conn: Connection,
    query: Select[Any],
    *,
    created: ColumnElement[Any],
    key: ColumnElement[Any],
    token: str | None,
    limit: int | None,
    params: dict[str, Any] | None = None,
) -> Page[Row[Any]]:
    """``paginate`` for a Core ``select`` on a plain connection (no Session, no ORM objects): Core
    ``Row``s whose attributes are the selected columns, read-only; the same tokens as ``paginate``.
    ``created`` and ``key`` are table columns of ``query`` (e.g. ``Run.__table__.c.created_at``);
    ``params`` binds the ``bindparam``s of a statement built once."""
    query = _keyset(query, created, key, token)
    if limit is not None:
        query = query.limit(limit + 1)
    rows = list(conn.execute(query, params or {}).all())
    return _page(rows, limit, created.key, key.key)  # type: ignore[arg-type]  # a table column has a key


def paginate_union(
    conn: Connection,
    branches: list[Select[Any]],
    *,
    created: ColumnElement[Any],
    key: ColumnElement[Any],
    token: str | None,
    limit: int,
) -> Page[Row[Any]]:
    """``paginate_rows`` over the union of ``branches``: selects of one table, each an ordered index range
    (e.g. one per status of a status filter). Each branch gives its newest ``limit + 1`` rows after the
    token and the page is the newest of those few, so the page costs the same whatever the table's size
    and the union is never sorted as a whole. The branches must not overlap."""
    if len(branches) == 1:
        return paginate_rows(conn, branches[0], created=created, key=key, token=token, limit=limit)
    parts = [select(_keyset(b, created, key, token).limit(limit + 1).subquery()) for b in branches]
    merged = union_all(*parts).subquery()
    query = select(merged).order_by(merged.c[created.key].desc(), merged.c[key.key].desc()).limit(limit + 1)  # type: ignore[index]
    return _page(list(conn.execute(query).all()), limit, created.key, key.key)  # type: ignore[arg-type]
