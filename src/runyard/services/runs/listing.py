"""Listing runs, filtered: of one application, or of the whole account.

Every list is a keyset page newest first, and every filter is answered by an index whose order is the
page's order, so the first page costs the same at ten runs and at a million. A set of statuses (or
"every status", when the filter's index has the status before ``created_at``) becomes one ordered,
limited index range per status, and the page is the newest of those few rows: no filter ever sorts
an application's runs, and nothing counts them.

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
from typing import Any

from sqlalchemy import Select, bindparam, select

from runyard.domain.errors import Invalid, NotFound
from runyard.domain.runs import RunStatus
from runyard.services.pagination import Page, paginate_union
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
        return cls(statuses=parse_statuses(status), instance_id=instance_id or None, version_id=version_id or None,
                   created_after=after, created_before=before, application_id=application_id or None)


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
    row = platform.db.first(_APP_PK, {"account_id": principal.account_id, "app_id": app_id})
    if row is None:
        raise NotFound(f"application {app_id!r} does not exist")
    return int(row.pk)


def _narrowed(query: Select[Any], f: RunFilter) -> Select[Any]:
    c = Run.__table__.c
    if f.created_after is not None:
        query = query.where(c.created_at >= f.created_after)
    if f.created_before is not None:
        query = query.where(c.created_at < f.created_before)
    if f.instance_id is not None:
        query = query.where(c.instance_id == f.instance_id)
    if f.version_id is not None:
        query = query.where(c.version_id == f.version_id)
    return query


def _by_status(query: Select[Any], statuses: tuple[str, ...]) -> list[Select[Any]]:
    return [query.where(Run.__table__.c.status == s) for s in statuses] if statuses else [query]


def app_branches(app_pk: int, f: RunFilter) -> list[Select[Any]]:
    """The ordered index ranges whose newest rows make a page of the app's runs."""
    query = _narrowed(select(Run.__table__).where(Run.__table__.c.app_pk == app_pk), f)
    # The instance and version indexes hold the status before created_at: without a status filter, every status.
    statuses = f.statuses or (STATUSES if (f.instance_id or f.version_id) else ())
    return _by_status(query, statuses)


def account_branches(account_id: str, f: RunFilter) -> list[Select[Any]]:
    """The same for every run of the account (one range per status of ``ix_runs_account_status``)."""
    query = _narrowed(select(Run.__table__).where(Run.__table__.c.account_id == account_id), f)
    return _by_status(query, f.statuses or STATUSES)


def _page(platform: Platform, branches: list[Select[Any]], token: str | None, limit: int) -> Page[Run]:
    table = Run.__table__
    with platform.db.engine.connect() as conn:
        return paginate_union(conn, branches, created=table.c.created_at, key=table.c.id, token=token, limit=limit)  # type: ignore[return-value]


def list_app_runs(platform: Platform, principal: Principal, app_id: str, f: RunFilter, *, token: str | None,
                  limit: int) -> Page[Run]:
    """The caller's runs of one application newest first (read-only rows with ``Run``'s columns)."""
    return _page(platform, app_branches(_app_pk(platform, principal, app_id), f), token, limit)


def list_account_runs(platform: Platform, principal: Principal, f: RunFilter, *, token: str | None, limit: int) -> Page[Run]:
    """The caller's account's runs newest first, of every application or of ``f.application_id``."""
    if f.application_id is not None:
        return list_app_runs(platform, principal, f.application_id, f, token=token, limit=limit)
    if f.instance_id is not None or f.version_id is not None:
        # Instance and version ids are an application's own: "latest" of one app is not "latest" of another.
        raise Invalid("instance_id and version_id filters need application_id (they are ids within an application)")
    return _page(platform, account_branches(principal.account_id, f), token, limit)
