"""Versions (V1–V5)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from runyard.server.api.applications import listing
from runyard.server.deps import Developer, PagingDep, PlatformDep, Viewer
from runyard.server.schemas import requests as rq
from runyard.server.schemas import views
from runyard.services import versions

router = APIRouter(prefix="/v1/applications/{app_id}/versions", tags=["versions"])


@router.get("")
def list_versions(app_id: str, platform: PlatformDep, principal: Viewer, paging: PagingDep) -> Any:
    page = versions.list_versions(platform, principal, app_id, token=paging.token, limit=paging.limit)
    return listing([views.version(v, b, app_id) for v, b in page.items], page.next_token, paging.paginated)


@router.post("")
def create_version(app_id: str, platform: PlatformDep, principal: Developer, body: rq.VersionCreate | None = None) -> dict[str, Any]:
    body = body or rq.VersionCreate()
    v, b = versions.create_version(platform, principal, app_id, version_id=body.id, name=body.name, description=body.description)
    return views.version(v, b, app_id)


@router.get("/{version_id}")
def get_version(app_id: str, version_id: str, platform: PlatformDep, principal: Viewer) -> dict[str, Any]:
    v, b = versions.get_version(platform, principal, app_id, version_id)
    return views.version(v, b, app_id)


@router.put("/{version_id}")
def update_version(app_id: str, version_id: str, body: rq.VersionUpdate, platform: PlatformDep, principal: Developer) -> dict[str, Any]:
    v, b = versions.update_version(platform, principal, app_id, version_id, name=body.name, description=body.description)
    return views.version(v, b, app_id)


@router.delete("/{version_id}", status_code=204)
def delete_version(app_id: str, version_id: str, platform: PlatformDep, principal: Developer) -> Response:
    versions.delete_version(platform, principal, app_id, version_id)
    return Response(status_code=204)
