"""Ensemble definitions (N1–N5); ensemble runs are ``POST …/runs`` with an ensemble ``run_type``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from runyard.server.deps import Operator, PagingDep, PlatformDep, Viewer
from runyard.server.schemas import online as ov
from runyard.server.schemas.requests import NameDescription
from runyard.services import ensembles

router = APIRouter(prefix="/v1/applications/{app_id}/ensembles", tags=["ensembles"])


@router.get("")
def list_definitions(app_id: str, platform: PlatformDep, principal: Viewer, paging: PagingDep) -> Any:
    page = ensembles.list_definitions(platform, principal, app_id, token=paging.token, limit=paging.limit)
    out: dict[str, Any] = {"items": [ov.ensemble_definition(d, app_id) for d in page.items]}  # an object in both modes (N1)
    if page.next_token:
        out["next_page_token"] = page.next_token
    return out


@router.post("")
def create_definition(app_id: str, body: ov.EnsembleCreate, platform: PlatformDep, principal: Operator) -> dict[str, Any]:
    req = ensembles.DefinitionRequest(body.id, body.name, body.description, body.run_groups, body.rules)
    return ov.ensemble_definition(ensembles.create_definition(platform, principal, app_id, req), app_id)


@router.get("/{def_id}")
def get_definition(app_id: str, def_id: str, platform: PlatformDep, principal: Viewer) -> dict[str, Any]:
    return ov.ensemble_definition(ensembles.get_definition(platform, principal, app_id, def_id), app_id)


@router.patch("/{def_id}")
def update_definition(app_id: str, def_id: str, body: NameDescription, platform: PlatformDep, principal: Operator) -> dict[str, Any]:
    row = ensembles.update_definition(platform, principal, app_id, def_id, name=body.name, description=body.description)
    return ov.ensemble_definition(row, app_id)


@router.delete("/{def_id}", status_code=204)
def delete_definition(app_id: str, def_id: str, platform: PlatformDep, principal: Operator) -> Response:
    ensembles.delete_definition(platform, principal, app_id, def_id)
    return Response(status_code=204)
