"""What operators read: Prometheus ``/metrics`` and the audit log ``GET /v1/audit``."""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict

from runyard.domain.errors import NotFound
from runyard.server.deps import Admin, Developer, PlatformDep, Viewer, authenticate, bearer_token
from runyard.services import accounts, audit, janitor
from runyard.services.metrics import CONTENT_TYPE

router = APIRouter(tags=["operations"])


class RetentionBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    keep_days: int | None = None
    keep_last: int | None = None


@router.get("/metrics", response_class=Response)
async def metrics(request: Request, platform: PlatformDep) -> Response:
    """Prometheus text format; needs the ``metrics_token`` setting's token or an admin key."""
    token = bearer_token(request.headers.get("authorization", "")) or ""
    configured = platform.settings.metrics_token
    if not (configured and hmac.compare_digest(token.encode(), configured.encode())):
        accounts.require_role(await authenticate(request), "admin")
    if platform.metrics is None:
        raise NotFound("metrics are not kept by this server")
    return Response(platform.metrics.exposition(), media_type=CONTENT_TYPE)


@router.get("/v1/audit")
def audit_log(platform: PlatformDep, principal: Admin,
              limit: Annotated[int, Query(ge=1, le=audit.MAX_PAGE)] = 100,
              before: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None) -> dict[str, Any]:
    """State-changing calls of the caller's account, newest first (admin keys only; read-only)."""
    events = audit.list_events(platform, principal, limit=limit, before=before)
    out: dict[str, Any] = {"items": events}
    if len(events) == limit:
        out["next_before"] = events[-1]["id"]
    return out


@router.get("/v1/applications/{app_id}/retention")
def get_retention(app_id: str, platform: PlatformDep, principal: Viewer) -> dict[str, Any]:
    """Which ended runs of the application the janitor keeps (a Runyard extension)."""
    return janitor.get_retention(platform, principal, app_id)


@router.put("/v1/applications/{app_id}/retention")
def set_retention(app_id: str, body: RetentionBody, platform: PlatformDep, principal: Developer) -> dict[str, Any]:
    """Keep ended runs for ``keep_days`` days and/or only the last ``keep_last``; runs of an experiment
    stay while the experiment exists. Null: no limit."""
    return janitor.set_retention(platform, principal, app_id, keep_days=body.keep_days, keep_last=body.keep_last)


@router.post("/v1/admin/janitor")
def run_janitor(platform: PlatformDep, principal: Admin) -> dict[str, int]:
    """Sweep now: expired and abandoned uploads, bundles never activated, runs past retention."""
    return janitor.counted(janitor.run_now(platform, principal))
