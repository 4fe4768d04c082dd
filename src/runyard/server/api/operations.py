"""What operators read: Prometheus ``/metrics`` and the audit log ``GET /v1/audit``."""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from runyard.domain.errors import NotFound
from runyard.server.deps import Admin, PlatformDep, authenticate, bearer_token
from runyard.services import accounts, audit
from runyard.services.metrics import CONTENT_TYPE

router = APIRouter(tags=["operations"])


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
              before: Annotated[int | None, Query(ge=1, le=2**62)] = None) -> dict[str, Any]:
    """State-changing calls of the caller's account, newest first (admin keys only; read-only)."""
    events = audit.list_events(platform, principal, limit=limit, before=before)
    out: dict[str, Any] = {"items": events}
    if len(events) == limit:
        out["next_before"] = events[-1]["id"]
    return out
