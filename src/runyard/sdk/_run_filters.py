"""The query of a filtered runs list (``status``, ``instance_id``, ``version_id``, ``created_after``,
``created_before``, ``limit``): a Runyard extension of ``GET …/runs`` and ``GET v1/runs``."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from itertools import islice
from typing import TYPE_CHECKING, Any

from runyard.sdk._pagination import iter_pages

if TYPE_CHECKING:
    from runyard.sdk._client import Client

MAX_PAGE = 100
"""The largest page the server gives."""


def _time(value: datetime | str | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()


def _statuses(status: str | Iterable[str] | None) -> str | None:
    if status is None:
        return None
    if isinstance(status, str):  # a StatusV2 is a str too
        return str(status.value if hasattr(status, "value") else status)
    return ",".join(str(s.value if hasattr(s, "value") else s) for s in status) or None


def run_query(*, status: str | Iterable[str] | None = None, instance_id: str | None = None,
              version_id: str | None = None, created_after: datetime | str | None = None,
              created_before: datetime | str | None = None, application_id: str | None = None) -> dict[str, Any]:
    """The filters as query parameters (absent ones left out); naive datetimes are taken as UTC."""
    query = {"status": _statuses(status), "instance_id": instance_id, "version_id": version_id,
             "created_after": _time(created_after), "created_before": _time(created_before),
             "application_id": application_id}
    return {k: v for k, v in query.items() if v is not None}


def iter_runs(client: Client, endpoint: str, query: dict[str, Any], limit: int | None) -> Iterator[dict[str, Any]]:
    """The runs of a filtered list newest first, page after page, at most ``limit`` of them (all if ``None``):
    only the pages needed are read."""
    page = MAX_PAGE if limit is None else max(1, min(limit, MAX_PAGE))
    items = iter_pages(client, endpoint, "runs", {**query, "limit": page})
    return items if limit is None else islice(items, limit)
