"""The runs list's filters (shared by ``GET …/applications/{app_id}/runs``) and the account-wide
``GET /v1/runs``: a Runyard extension, documented in docs/console.md."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response

from runyard.server.deps import PAGE_SIZE, PagingDep, PlatformDep, Viewer, json_response
from runyard.server.schemas import views
from runyard.services.pagination import Page
from runyard.services.runs import listing
from runyard.services.runs.listing import RunFilter

router = APIRouter(prefix="/v1/runs", tags=["runs"])
LEGACY_RUN_LIST = 1000  # the most runs an unpaginated (0.28.5-style) list answers with


@dataclass
class ListQuery:
    filter: RunFilter
    limit: int
    token: str | None


def _describe(text: str) -> Any:
    return Query(description=text)


async def list_query(
    paging: PagingDep,
    status: Annotated[str | None, _describe("Only runs with one of these statuses (status_v2), comma-separated: "
                                           "queued, running, succeeded, failed, canceled.")] = None,
    instance_id: Annotated[str | None, _describe("Only runs of this instance.")] = None,
    version_id: Annotated[str | None, _describe("Only runs of this version.")] = None,
    created_after: Annotated[str | None, _describe("Only runs created at or after this ISO 8601 time (UTC without a zone).")] = None,
    created_before: Annotated[str | None, _describe("Only runs created before this ISO 8601 time (UTC without a zone).")] = None,
    limit: Annotated[str | None, _describe("Runs per page, 1 to 100 (default 50 with pagereturn=true).")] = None,
) -> ListQuery:
    f = RunFilter.parse(status=status, instance_id=instance_id, version_id=version_id,
                        created_after=created_after, created_before=created_before)
    default = PAGE_SIZE if paging.paginated else LEGACY_RUN_LIST
    return ListQuery(filter=f, limit=listing.parse_limit(limit, default), token=paging.token)


ListQueryDep = Annotated[ListQuery, Depends(list_query)]


def page_body(page: Page[Any]) -> Response:
    """A page of runs as JSON, without FastAPI's serialization pass (it took longer than the query)."""
    out: dict[str, Any] = {"runs": [views.run_list_item(r) for r in page.items]}
    if page.next_token:
        out["next_page_token"] = page.next_token
    return json_response(out)


@router.get("", response_model=None)
def list_account_runs(
    platform: PlatformDep,
    principal: Viewer,
    query: ListQueryDep,
    application_id: Annotated[str | None, _describe("Only runs of this application (needed with instance_id or version_id).")] = None,
) -> Response:
    """Every run of the caller's account, newest first, in pages (``pagereturn=true``, ``pagetoken``)."""
    f = RunFilter.parse(application_id=application_id)
    f = RunFilter(**{**query.filter.__dict__, "application_id": f.application_id})
    return page_body(listing.list_account_runs(platform, principal, f, token=query.token, limit=query.limit))
