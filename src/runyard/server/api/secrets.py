"""Secrets collections (K1–K6)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from runyard.server.deps import Developer, PagingDep, PlatformDep, Viewer
from runyard.server.schemas import requests as rq
from runyard.server.schemas.views import ts
from runyard.services import secrets
from runyard.storage.db import SecretsCollection

router = APIRouter(prefix="/v1/applications/{app_id}/secrets", tags=["secrets"])


def summary(row: SecretsCollection, app_id: str) -> dict[str, Any]:
    return {"id": row.id, "application_id": app_id, "name": row.name, "description": row.description or "",
            "created_at": ts(row.created_at), "updated_at": ts(row.updated_at)}


@router.get("")
def list_collections(app_id: str, platform: PlatformDep, principal: Viewer, paging: PagingDep) -> dict[str, Any]:
    # Both SDK generations read {"items": …}, paginated or not.
    page = secrets.list_collections(platform, principal, app_id, token=paging.token, limit=paging.limit)
    out: dict[str, Any] = {"items": [summary(r, app_id) for r in page.items]}
    if page.next_token:
        out["next_page_token"] = page.next_token
    return out


@router.post("")
def create_collection(app_id: str, body: rq.SecretsCreate, platform: PlatformDep, principal: Developer) -> dict[str, Any]:
    row = secrets.create(platform, principal, app_id, collection_id=body.id, name=body.name, description=body.description, secrets=body.secrets)
    return summary(row, app_id)


@router.get("/{collection_id}")
def get_collection(app_id: str, collection_id: str, platform: PlatformDep, principal: Viewer) -> dict[str, Any]:
    row, values = secrets.get(platform, principal, app_id, collection_id)
    return {**summary(row, app_id), "secrets": [{"type": v.type, "location": v.location, "value": v.value} for v in values]}


@router.put("/{collection_id}")
def replace_collection(app_id: str, collection_id: str, body: rq.SecretsReplace, platform: PlatformDep, principal: Developer) -> dict[str, Any]:
    row = secrets.replace(platform, principal, app_id, collection_id, name=body.name, description=body.description, secrets=body.secrets)
    return summary(row, app_id)


@router.patch("/{collection_id}")
def patch_collection(app_id: str, collection_id: str, body: rq.SecretsPatch, platform: PlatformDep, principal: Developer) -> dict[str, Any]:
    row = secrets.patch(platform, principal, app_id, collection_id, name=body.name, description=body.description, operations=body.operations)
    return summary(row, app_id)


@router.delete("/{collection_id}", status_code=204)
def delete_collection(app_id: str, collection_id: str, platform: PlatformDep, principal: Developer) -> Response:
    secrets.delete(platform, principal, app_id, collection_id)
    return Response(status_code=204)
