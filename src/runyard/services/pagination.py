"""Pagination: opaque tokens over (created_at, key) keysets, newest first, for ORM queries and Core rows."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import Integer, Select, bindparam, literal, select, tuple_, union_all
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
        if not isinstance(key, str | int) or isinstance(key, bool):
            raise TypeError(key)  # a forged token: only strings and integers are keys
        return datetime.fromisoformat(created), key
    except (ValueError, TypeError) as exc:
        raise Invalid("pagetoken is not a valid page token") from exc


def _keyset(query: Select[Any], created: Any, key: Any, token: str | None, ascending: bool = False) -> Select[Any]:
    """``query`` newest first (oldest first if ``ascending``), after the row ``token`` names (if any)."""
    query = query.order_by(created, key) if ascending else query.order_by(created.desc(), key.desc())
    if token:
        at, last = _decode(token)
        # A row-value comparison lets SQLite and PostgreSQL seek the (…, created_at, id) index directly.
        row, mark = tuple_(created, key), tuple_(literal(at, created.type), literal(last, key.type))
        query = query.where(row > mark if ascending else row < mark)
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
    ascending: bool = False,
) -> Page[Any]:
    """Rows of ``query`` newest first (oldest first if ``ascending``); ``limit=None`` returns everything
    (the legacy shapes)."""
    query = _keyset(query, created, key, token, ascending)
    if limit is not None:
        query = query.limit(limit + 1)
    return _page(list(session.scalars(query)), limit, created.key, key.key)


def keyset_union(branches: list[Select[Any]], *, created: ColumnElement[Any], key: ColumnElement[Any], after: bool) -> Select[Any]:
    """One statement for a page of the union of ``branches`` (selects of one table, each an ordered index
    range, e.g. one per status of a status filter; they must not overlap): each branch gives its newest
    ``page_limit`` rows (after ``page_created``, ``page_key`` when ``after``), and the page is the newest of
    those few, so it costs the same whatever the table's size and the union is never sorted as a whole.
    Build it once per shape and bind ``keyset_params`` (SQLAlchemy spends milliseconds building a
    union of wide subqueries; a built statement is compiled once and cached)."""
    limit = bindparam("page_limit", type_=Integer)

    def ranged(query: Select[Any]) -> Select[Any]:
        query = query.order_by(created.desc(), key.desc())
        if after:
            mark = tuple_(bindparam("page_created", type_=created.type), bindparam("page_key", type_=key.type))
            query = query.where(tuple_(created, key) < mark)
        return query.limit(limit)

    if len(branches) == 1:
        return ranged(branches[0])
    # The branches carry only the keys (read from their index alone); the page's rows are then read by key.
    narrow = [select(ranged(b.with_only_columns(created, key)).subquery()) for b in branches]
    merged = union_all(*narrow).subquery()
    newest = select(merged).order_by(merged.c[created.key].desc(), merged.c[key.key].desc()).limit(limit).subquery()  # type: ignore[index]
    table = key.table  # type: ignore[attr-defined]
    return (select(table).join(newest, key == newest.c[key.key])
            .order_by(newest.c[created.key].desc(), newest.c[key.key].desc()))


def keyset_params(token: str | None, limit: int, key_kind: type = str) -> dict[str, Any]:
    """The parameters of a ``keyset_union`` statement for the page after ``token`` (built with ``after=True``);
    ``key_kind`` is the Python type of the key column (a token naming another kind of key is forged)."""
    params: dict[str, Any] = {"page_limit": limit + 1}
    if token:
        params["page_created"], params["page_key"] = _decode(token)
        if not isinstance(params["page_key"], key_kind):
            raise Invalid("pagetoken is not a valid page token")
    return params


def page_of(rows: list[Any], limit: int, *, created: str, key: str) -> Page[Any]:
    """The page of a ``keyset_union`` statement's rows (``limit + 1`` asked for), with a token if there is more."""
    return _page(rows, limit, created, key)
