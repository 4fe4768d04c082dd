"""Instances (I1–I6)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from runyard.server.api.applications import listing
from runyard.server.deps import Developer, PagingDep, PlatformDep, Viewer
from runyard.server.schemas import requests as rq
from runyard.server.schemas import views
from runyard.services import instances

router = APIRouter(prefix="/v1/applications/{app_id}/instances", tags=["instances"])


@router.get("")
def list_instances(app_id: str, platform: PlatformDep, principal: Viewer, paging: PagingDep) -> Any:
    page = instances.list_instances(platform, principal, app_id, token=paging.token, limit=paging.limit)
    return listing([views.instance(i, app_id) for i in page.items], page.next_token, paging.paginated)


@router.post("")
def create_instance(app_id: str, body: rq.InstanceCreate, platform: PlatformDep, principal: Developer) -> dict[str, Any]:
    fields = instances.InstanceFields(body.version_id, body.name, body.description, body.configuration)
    return views.instance(instances.create_instance(platform, principal, app_id, instance_id=body.id, fields=fields), app_id)


@router.get("/{instance_id}")
def get_instance(app_id: str, instance_id: str, platform: PlatformDep, principal: Viewer) -> dict[str, Any]:
    return views.instance(instances.get_instance(platform, principal, app_id, instance_id), app_id)


@router.put("/{instance_id}")
def update_instance(app_id: str, instance_id: str, body: rq.InstanceUpdate, platform: PlatformDep, principal: Developer) -> dict[str, Any]:
    # 1.13.0 sends the whole object back, ``locked`` included: lock changes only come through …/lock.
    fields = instances.InstanceFields(body.version_id, body.name, body.description, body.configuration)
    return views.instance(instances.update_instance(platform, principal, app_id, instance_id, fields), app_id)


@router.put("/{instance_id}/lock")
def lock_instance(app_id: str, instance_id: str, body: rq.InstanceLock, platform: PlatformDep, principal: Developer) -> dict[str, Any]:
    return views.instance(instances.lock_instance(platform, principal, app_id, instance_id, body.locked), app_id)


@router.delete("/{instance_id}", status_code=204)
def delete_instance(app_id: str, instance_id: str, platform: PlatformDep, principal: Developer) -> Response:
    instances.delete_instance(platform, principal, app_id, instance_id)
    return Response(status_code=204)
