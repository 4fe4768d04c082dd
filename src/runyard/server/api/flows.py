"""A workflow run's flow graph (nextpipe's ``PUT v1/internal/applications/{app}/runs/{run}/flow``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from runyard.server.deps import Operator, PlatformDep, Viewer
from runyard.services import flows

router = APIRouter(tags=["runs"])
PATHS = ("/v1/internal/applications/{app_id}/runs/{run_id}/flow", "/v1/applications/{app_id}/runs/{run_id}/flow")


@router.put(PATHS[0], status_code=204)
@router.put(PATHS[1], status_code=204, include_in_schema=False)
async def put_flow(app_id: str, run_id: str, request: Request, platform: PlatformDep, principal: Operator) -> Response:
    body = await request.body()
    await run_in_threadpool(flows.put_flow, platform, principal, app_id, run_id, body)
    return Response(status_code=204)


@router.get(PATHS[0])
@router.get(PATHS[1], include_in_schema=False)
def get_flow(app_id: str, run_id: str, platform: PlatformDep, principal: Viewer) -> Any:
    return flows.get_flow(platform, principal, app_id, run_id)
