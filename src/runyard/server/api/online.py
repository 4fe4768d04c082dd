"""Shadow tests (H1–H9) and switchback tests (W1–W9)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from runyard.domain.errors import Invalid
from runyard.server.api.applications import listing
from runyard.server.deps import Operator, PagingDep, PlatformDep, Viewer
from runyard.server.schemas import online as ov
from runyard.server.schemas.requests import NameDescription
from runyard.services import online

router = APIRouter(prefix="/v1/applications/{app_id}/experiments", tags=["online tests"])
SHADOW, SWITCHBACK = online.SHADOW, online.SWITCHBACK


# shadow tests
@router.get("/shadow")
def list_shadow(app_id: str, platform: PlatformDep, principal: Viewer, paging: PagingDep) -> Any:
    page = online.list_tests(platform, principal, app_id, SHADOW, token=paging.token, limit=paging.limit)
    return listing([ov.test_metadata(t, app_id) for t in page.items], page.next_token, paging.paginated)


@router.post("/shadow")
def create_shadow(app_id: str, body: ov.ShadowCreate, platform: PlatformDep, principal: Operator) -> dict[str, Any]:
    end, start = body.termination_events or {}, body.start_events or {}
    if not isinstance(end, dict) or "maximum_runs" not in end:
        raise Invalid("termination_events.maximum_runs is required")
    req = online.ShadowRequest(body.id, body.name, body.description, ov.comparisons_map(body.comparisons),
                               ov.integer(end.get("maximum_runs"), "termination_events.maximum_runs"),
                               ov.when(end.get("time"), "termination_events.time"), ov.when(start.get("time"), "start_events.time"))
    test = online.create_shadow(platform, principal, app_id, req)
    return ov.shadow(online.get_test(platform, principal, app_id, SHADOW, test.id), app_id)


@router.get("/shadow/{test_id}")
def get_shadow(app_id: str, test_id: str, platform: PlatformDep, principal: Viewer) -> dict[str, Any]:
    return ov.shadow(online.get_test(platform, principal, app_id, SHADOW, test_id), app_id)


@router.get("/shadow/{test_id}/metadata")
def get_shadow_metadata(app_id: str, test_id: str, platform: PlatformDep, principal: Viewer) -> dict[str, Any]:
    return ov.test_metadata(online.get_test(platform, principal, app_id, SHADOW, test_id).test, app_id)


@router.get("/shadow/{test_id}/runs")
def get_shadow_runs(app_id: str, test_id: str, platform: PlatformDep, principal: Viewer) -> dict[str, Any]:
    return ov.test_runs(online.get_test(platform, principal, app_id, SHADOW, test_id))


@router.get("/shadow/{test_id}/analysis")
def get_shadow_analysis(app_id: str, test_id: str, platform: PlatformDep, principal: Viewer) -> dict[str, Any]:
    """Beyond the reference: per candidate and metric, the paired comparison with the baseline."""
    return online.analysis(platform, principal, app_id, SHADOW, test_id)


@router.patch("/shadow/{test_id}")
def update_shadow(app_id: str, test_id: str, body: NameDescription, platform: PlatformDep, principal: Operator) -> dict[str, Any]:
    view = online.update_test(platform, principal, app_id, SHADOW, test_id, name=body.name, description=body.description)
    return ov.shadow(view, app_id)


@router.delete("/shadow/{test_id}", status_code=204)
def delete_shadow(app_id: str, test_id: str, platform: PlatformDep, principal: Operator) -> Response:
    online.delete_test(platform, principal, app_id, SHADOW, test_id)
    return Response(status_code=204)


@router.put("/shadow/{test_id}/start", status_code=204)
def start_shadow(app_id: str, test_id: str, platform: PlatformDep, principal: Operator) -> Response:
    online.start_test(platform, principal, app_id, SHADOW, test_id)
    return Response(status_code=204)


@router.put("/shadow/{test_id}/stop", status_code=204)
def stop_shadow(app_id: str, test_id: str, body: ov.StopBody, platform: PlatformDep, principal: Operator) -> Response:
    online.stop_test(platform, principal, app_id, SHADOW, test_id, body.intent or "")
    return Response(status_code=204)


# switchback tests
@router.get("/switchback")
def list_switchback(app_id: str, platform: PlatformDep, principal: Viewer, paging: PagingDep) -> Any:
    page = online.list_tests(platform, principal, app_id, SWITCHBACK, token=paging.token, limit=paging.limit)
    out: dict[str, Any] = {"items": [ov.test_metadata(t, app_id) for t in page.items]}  # an object in both modes (spec W1)
    if page.next_token:
        out["next_page_token"] = page.next_token
    return out


@router.post("/switchback")
def create_switchback(app_id: str, body: ov.SwitchbackCreate, platform: PlatformDep, principal: Operator) -> dict[str, Any]:
    comparison, plan = body.comparison or {}, body.generate_random_plan or {}
    if not isinstance(comparison.get("baseline_instance_id"), str) or not isinstance(comparison.get("candidate_instance_id"), str):
        raise Invalid("comparison needs a baseline_instance_id and a candidate_instance_id")
    if "units" not in plan or "unit_duration_minutes" not in plan:
        raise Invalid("generate_random_plan needs units and unit_duration_minutes")
    req = online.SwitchbackRequest(body.id, body.name, body.description, comparison["baseline_instance_id"],
                                   comparison["candidate_instance_id"],
                                   ov.number(plan["unit_duration_minutes"], "generate_random_plan.unit_duration_minutes"),
                                   ov.integer(plan["units"], "generate_random_plan.units") or 0,
                                   ov.when(plan.get("start"), "generate_random_plan.start"),
                                   ov.integer(plan.get("seed"), "generate_random_plan.seed"))
    test = online.create_switchback(platform, principal, app_id, req)
    return ov.switchback(online.get_test(platform, principal, app_id, SWITCHBACK, test.id), app_id)


@router.get("/switchback/{test_id}")
def get_switchback(app_id: str, test_id: str, platform: PlatformDep, principal: Viewer) -> dict[str, Any]:
    return ov.switchback(online.get_test(platform, principal, app_id, SWITCHBACK, test_id), app_id)


@router.get("/switchback/{test_id}/metadata")
def get_switchback_metadata(app_id: str, test_id: str, platform: PlatformDep, principal: Viewer) -> dict[str, Any]:
    return ov.test_metadata(online.get_test(platform, principal, app_id, SWITCHBACK, test_id).test, app_id)


@router.get("/switchback/{test_id}/runs")
def get_switchback_runs(app_id: str, test_id: str, platform: PlatformDep, principal: Viewer) -> dict[str, Any]:
    return ov.test_runs(online.get_test(platform, principal, app_id, SWITCHBACK, test_id))


@router.get("/switchback/{test_id}/analysis")
def get_switchback_analysis(app_id: str, test_id: str, platform: PlatformDep, principal: Viewer) -> dict[str, Any]:
    """Beyond the reference: per metric, the candidate's units against the baseline's."""
    return online.analysis(platform, principal, app_id, SWITCHBACK, test_id)


@router.patch("/switchback/{test_id}")
def update_switchback(app_id: str, test_id: str, body: NameDescription, platform: PlatformDep, principal: Operator) -> dict[str, Any]:
    view = online.update_test(platform, principal, app_id, SWITCHBACK, test_id, name=body.name, description=body.description)
    return ov.switchback(view, app_id)


@router.delete("/switchback/{test_id}", status_code=204)
def delete_switchback(app_id: str, test_id: str, platform: PlatformDep, principal: Operator) -> Response:
    online.delete_test(platform, principal, app_id, SWITCHBACK, test_id)
    return Response(status_code=204)


@router.put("/switchback/{test_id}/start", status_code=204)
def start_switchback(app_id: str, test_id: str, platform: PlatformDep, principal: Operator) -> Response:
    online.start_test(platform, principal, app_id, SWITCHBACK, test_id)
    return Response(status_code=204)


@router.put("/switchback/{test_id}/stop", status_code=204)
def stop_switchback(app_id: str, test_id: str, body: ov.StopBody, platform: PlatformDep, principal: Operator) -> Response:
    online.stop_test(platform, principal, app_id, SWITCHBACK, test_id, body.intent or "")
    return Response(status_code=204)
