"""Listing runs, filtered: of one application, or of the whole account.

Every list is a keyset page newest first, and every filter is answered by an index whose order is the
page's order, so the first page costs the same at ten runs and at a million. A set of statuses (or
"every status", when the filter's index has the status before ``created_at``) becomes one ordered,
limited index range per status, read from the index alone, and the page is the newest of those few
keys, whose rows are then read by primary key: no filter ever sorts an application's runs, and
nothing counts them. Each shape of statement is built once and its values bound (building a union of
wide subqueries took SQLAlchemy 30 ms a request; the built statement is compiled once and cached).

| filter | index |
|---|---|
| none, ``created_after`` / ``created_before`` | ``ix_runs_app_created`` (app_pk, created_at, id) |
| ``status`` | ``ix_runs_app_status`` (app_pk, status, created_at, id) |
| ``instance_id`` (and ``status``) | ``ix_runs_app_instance`` (app_pk, instance_id, status, created_at, id) |
| ``version_id`` (and ``status``) | ``ix_runs_app_version`` (app_pk, version_id, status, created_at, id) |
| account-wide, ``status`` | ``ix_runs_account_status`` (account_id, status, created_at, id) |
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Select, bindparam, select

from runyard.domain.errors import Invalid, NotFound
from runyard.domain.runs import RunStatus
from runyard.services.pagination import Page, keyset_params, keyset_union, page_of
from runyard.services.platform import Platform, Principal
from runyard.storage.db import Application, Run

MAX_LIMIT = 100
STATUSES = tuple(s.value for s in RunStatus)


@dataclass(frozen=True)
class RunFilter:
    """What a runs list is narrowed to; ``None`` or empty means "any"."""

    statuses: tuple[str, ...] = ()
    instance_id: str | None = None
    version_id: str | None = None
    created_after: datetime | None = None  # inclusive
    created_before: datetime | None = None  # exclusive
    application_id: str | None = None  # the account-wide list only

    @classmethod
    def parse(cls, *, status: str | None = None, instance_id: str | None = None, version_id: str | None = None,
              created_after: str | None = None, created_before: str | None = None,
              application_id: str | None = None) -> RunFilter:
        """The filter of a list request's query; ``Invalid`` names the value that is not understood."""
        after = parse_time("created_after", created_after)
        before = parse_time("created_before", created_before)
        if after is not None and before is not None and after >= before:
            raise Invalid(f"created_after ({created_after}) must be earlier than created_before ({created_before})")
        return cls(statuses=parse_statuses(status), instance_id=_id("instance_id", instance_id),
                   version_id=_id("version_id", version_id), created_after=after, created_before=before,
                   application_id=_id("application_id", application_id))


def _id(name: str, raw: str | None) -> str | None:
    """An id to compare with; control characters are in no id (and PostgreSQL refuses a NUL outright)."""
    if not raw:
        return None
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in raw):
        raise Invalid(f"{name} {raw!r} contains a control character: no id does")
    return raw


def parse_statuses(raw: str | None) -> tuple[str, ...]:
    """``succeeded,failed`` → the distinct statuses, in the order of the run state machine."""
    wanted = {part.strip().lower() for part in (raw or "").split(",") if part.strip()}
    unknown = sorted(wanted - set(STATUSES))
    if unknown:
        raise Invalid(f"status {unknown[0]!r} is not a run status: use one or more of {', '.join(STATUSES)}, comma-separated")
    return tuple(s for s in STATUSES if s in wanted)


def parse_time(name: str, raw: str | None) -> datetime | None:
    """An ISO 8601 time (``2026-12-01``, ``2026-12-01T08:00:00Z``, with an offset); UTC when it has no zone."""
    if raw is None or not raw.strip():
        return None
    text = raw.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise Invalid(f"{name} {raw!r} is not an ISO 8601 time such as 2026-12-01T08:00:00Z") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def parse_limit(raw: str | None, default: int) -> int:
    """``limit`` of a page: 1 … ``MAX_LIMIT``."""
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_LIMIT:
        raise Invalid(f"limit must be a whole number from 1 to {MAX_LIMIT}, not {raw!r}")
    return value


_APP_PK = select(Application.__table__.c.pk).where(
    Application.__table__.c.account_id == bindparam("account_id"), Application.__table__.c.id == bindparam("app_id"))


def _app_pk(platform: Platform, principal: Principal, app_id: str) -> int:
    row = None if "\x00" in app_id else platform.db.first(_APP_PK, {"account_id": principal.account_id, "app_id": app_id})
    if row is None:
        raise NotFound(f"application {app_id!r} does not exist")
    return int(row.pk)


@dataclass(frozen=True)
class _Shape:
    """What a list's statement is made of; values are bound at execution, so one statement serves every
    list of the same shape (built once, compiled once)."""

    account_wide: bool
    statuses: int  # one index range per status; 0: no status condition (one range)
    instance: bool
    version: bool
    after: bool
    before: bool
    token: bool


def _shape(f: RunFilter, *, account_wide: bool, token: str | None) -> _Shape:
    # The instance, version and account indexes hold the status before created_at: without a status
    # filter, one range per status.
    every = account_wide or f.instance_id is not None or f.version_id is not None
    statuses = len(f.statuses) or (len(STATUSES) if every else 0)
    return _Shape(account_wide, statuses, f.instance_id is not None, f.version_id is not None,
                  f.created_after is not None, f.created_before is not None, bool(token))


@lru_cache(maxsize=512)
def _statement(shape: _Shape) -> Select[Any]:
    c = Run.__table__.c
    owner = c.account_id if shape.account_wide else c.app_pk
    query = select(Run.__table__).where(owner == bindparam("owner"))
    if shape.after:
        query = query.where(c.created_at >= bindparam("created_after", type_=c.created_at.type))
    if shape.before:
        query = query.where(c.created_at < bindparam("created_before", type_=c.created_at.type))
    if shape.instance:
        query = query.where(c.instance_id == bindparam("instance_id"))
    if shape.version:
        query = query.where(c.version_id == bindparam("version_id"))
    branches = [query.where(c.status == bindparam(f"status_{i}")) for i in range(shape.statuses)] or [query]
    return keyset_union(branches, created=c.created_at, key=c.id, after=shape.token)


def _params(f: RunFilter, shape: _Shape, owner: Any, token: str | None, limit: int) -> dict[str, Any]:
    params: dict[str, Any] = {"owner": owner, **keyset_params(token, limit)}
    for i, status in enumerate(f.statuses or (STATUSES if shape.statuses else ())):
        params[f"status_{i}"] = status
    for name in ("instance_id", "version_id", "created_after", "created_before"):
        if getattr(f, name) is not None:
            params[name] = getattr(f, name)
    return params


def page_statement(f: RunFilter, owner: Any, *, account_wide: bool, token: str | None, limit: int) -> tuple[Select[Any], dict[str, Any]]:
    """The statement of a page and its parameters; ``owner`` is the app's ``pk`` or the account's id.
    (Benchmark P9 explains it.)"""
    shape = _shape(f, account_wide=account_wide, token=token)
    return _statement(shape), _params(f, shape, owner, token, limit)


def _page(platform: Platform, f: RunFilter, owner: Any, *, account_wide: bool, token: str | None, limit: int) -> Page[Run]:
    statement, params = page_statement(f, owner, account_wide=account_wide, token=token, limit=limit)
    with platform.db.engine.connect() as conn:
        rows = list(conn.execute(statement, params).all())
    return page_of(rows, limit, created="created_at", key="id")


def list_app_runs(platform: Platform, principal: Principal, app_id: str, f: RunFilter, *, token: str | None,
                  limit: int) -> Page[Run]:
    """The caller's runs of one application newest first (read-only rows with ``Run``'s columns)."""
    return _page(platform, f, _app_pk(platform, principal, app_id), account_wide=False, token=token, limit=limit)


def list_account_runs(platform: Platform, principal: Principal, f: RunFilter, *, token: str | None, limit: int) -> Page[Run]:
    """The caller's account's runs newest first, of every application or of ``f.application_id``."""
    if f.application_id is not None:
        return list_app_runs(platform, principal, f.application_id, f, token=token, limit=limit)
    if f.instance_id is not None or f.version_id is not None:
        # Instance and version ids are an application's own: "latest" of one app is not "latest" of another.
        raise Invalid("instance_id and version_id filters need application_id (they are ids within an application)")
    return _page(platform, f, principal.account_id, account_wide=True, token=token, limit=limit)
