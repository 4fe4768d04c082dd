"""Applications (A1–A5) and push (B1, B3)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from runyard.server.deps import Developer, PagingDep, PlatformDep, Viewer, base_url
from runyard.server.schemas import requests as rq
from runyard.server.schemas import views
from runyard.services import apps, bundles

router = APIRouter(prefix="/v1/applications", tags=["applications"])


def listing(items: list[Any], next_token: str | None, paginated: bool, key: str = "items") -> Any:
    """The paginated object for 1.13.0, or the legacy bare array."""
    if not paginated:
        return items
    out: dict[str, Any] = {key: items}
    if next_token:
        out["next_page_token"] = next_token
    return out


@router.get("")
def list_applications(platform: PlatformDep, principal: Viewer, paging: PagingDep) -> Any:
    page = apps.list_apps(platform, principal, token=paging.token, limit=paging.limit)
    return listing([views.application(a) for a in page.items], page.next_token, paging.paginated)


@router.post("")
def create_application(body: rq.ApplicationCreate, platform: PlatformDep, principal: Developer) -> dict[str, Any]:
    fields = apps.AppFields(body.name, body.description, body.default_instance, body.default_experiment_instance)
    app = apps.create_app(platform, principal, app_id=body.id, fields=fields, app_type="pipeline" if body.is_pipeline else "custom")
    return views.application(app)


@router.get("/{app_id}")
def get_application(app_id: str, platform: PlatformDep, principal: Viewer) -> dict[str, Any]:
    return views.application(apps.get_app(platform, principal, app_id))


@router.put("/{app_id}")
def update_application(app_id: str, body: rq.ApplicationUpdate, platform: PlatformDep, principal: Developer) -> dict[str, Any]:
    fields = apps.AppFields(body.name, body.description, body.default_instance, body.default_experiment_instance)
    return views.application(apps.update_app(platform, principal, app_id, fields))


@router.delete("/{app_id}", status_code=204)
def delete_application(app_id: str, platform: PlatformDep, principal: Developer) -> Response:
    apps.delete_app(platform, principal, app_id)
    return Response(status_code=204)


@router.get("/{app_id}/binary")
def binary_upload_url(app_id: str, request: Request, platform: PlatformDep, principal: Developer) -> dict[str, str]:
    return {"upload_url": bundles.binary_upload_url(platform, principal, app_id, base_url(request))}


@router.put("/{app_id}/binary")
def activate_binary(app_id: str, body: rq.BinaryActivate, platform: PlatformDep, principal: Developer) -> dict[str, Any]:
    bundle = bundles.activate(platform, principal, app_id, body.requirements)
    executable = bundles.executable_view(bundle)
    executable["uploaded_at"] = views.ts(executable["uploaded_at"])
    return executable
