"""Managed inputs (M1–M5), input sets (S1–S5), batch experiments and scenario tests (X1–X7), acceptance tests (T1–T5)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request, Response

from runyard.domain.errors import Invalid
from runyard.server.api.applications import listing
from runyard.server.api.run_list import page_body
from runyard.server.deps import PAGE_SIZE, Developer, Operator, PagingDep, PlatformDep, Viewer, base_url
from runyard.server.schemas import experiments as ev
from runyard.server.schemas import requests as rq
from runyard.services import acceptance, inputs
from runyard.services import experiment_analysis as analysis
from runyard.services import experiments as exps
from runyard.services.runs import listing as run_filters
from runyard.services.signed import signed_url

router = APIRouter(prefix="/v1/applications/{app_id}", tags=["experiments"])


# managed inputs
@router.get("/inputs")
def list_managed_inputs(app_id: str, platform: PlatformDep, principal: Viewer, paging: PagingDep) -> Any:
    page = inputs.list_managed_inputs(platform, principal, app_id, token=paging.token, limit=paging.limit)
    return listing([ev.managed_input(m) for m in page.items], page.next_token, paging.paginated)


@router.post("/inputs")
def create_managed_input(app_id: str, body: rq.ManagedInputCreate, platform: PlatformDep, principal: Operator) -> dict[str, Any]:
    row = inputs.create_managed_input(platform, principal, app_id, input_id=body.id, fields=inputs.InputFields(body.name, body.description),
                                      upload_id=body.upload_id, run_id=body.run_id, fmt=body.format)
    return ev.managed_input(row)


@router.get("/inputs/{input_id}")
def get_managed_input(app_id: str, input_id: str, platform: PlatformDep, principal: Viewer) -> dict[str, Any]:
    return ev.managed_input(inputs.get_managed_input(platform, principal, app_id, input_id))


@router.get("/inputs/{input_id}/download")
def download_managed_input(app_id: str, input_id: str, request: Request, platform: PlatformDep, principal: Viewer) -> dict[str, str]:
    """A signed URL to the managed input's data (a Runyard extension; the URL carries no key)."""
    key = inputs.get_managed_input(platform, principal, app_id, input_id).blob_key
    return {"url": signed_url(platform, base_url(request), "GET", key)}


@router.put("/inputs/{input_id}")
def update_managed_input(app_id: str, input_id: str, body: rq.NameDescription, platform: PlatformDep, principal: Operator) -> dict[str, Any]:
    return ev.managed_input(inputs.update_managed_input(platform, principal, app_id, input_id, inputs.InputFields(body.name, body.description)))


@router.delete("/inputs/{input_id}", status_code=204)
def delete_managed_input(app_id: str, input_id: str, platform: PlatformDep, principal: Operator) -> Response:
    inputs.delete_managed_input(platform, principal, app_id, input_id)
    return Response(status_code=204)


# input sets
@router.get("/experiments/inputsets")
def list_input_sets(app_id: str, platform: PlatformDep, principal: Viewer, paging: PagingDep) -> Any:
    page, members = inputs.list_input_sets(platform, principal, app_id, token=paging.token, limit=paging.limit)
    return listing([ev.input_set(r, members[r.id], app_id) for r in page.items], page.next_token, paging.paginated)


@router.post("/experiments/inputsets")
def create_input_set(app_id: str, body: rq.InputSetCreate, platform: PlatformDep, principal: Operator) -> dict[str, Any]:
    ids = _input_ids(body.inputs)
    req = inputs.InputSetRequest(body.id, body.name, body.description, body.instance_id, _dt(body.start_time, "start_time"),
                                 _dt(body.end_time, "end_time"), body.maximum_runs, body.run_ids, ids)
    row = inputs.create_input_set(platform, principal, app_id, req)
    _, members = inputs.get_input_set(platform, principal, app_id, row.id)
    return ev.input_set(row, members, app_id)


def _input_ids(raw: list[Any] | None) -> list[str] | None:
    """Ids from ``inputs``: managed inputs (objects with an ``id``, as the SDKs send them) or plain ids."""
    if not raw:
        return None
    ids = [i.get("id") if isinstance(i, dict) else i for i in raw]
    if not all(isinstance(i, str) and i for i in ids):
        raise Invalid("inputs must be managed inputs (objects with a string id) or input ids")
    return ids


def _dt(value: str | None, name: str) -> datetime | None:
    """An ISO 8601 date-time; one without an offset (a naive ``datetime.isoformat()``) is taken as UTC."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise Invalid(f"{name} must be an ISO 8601 date-time") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


@router.get("/experiments/inputsets/{set_id}")
def get_input_set(app_id: str, set_id: str, platform: PlatformDep, principal: Viewer) -> dict[str, Any]:
    row, members = inputs.get_input_set(platform, principal, app_id, set_id)
    return ev.input_set(row, members, app_id)


@router.put("/experiments/inputsets/{set_id}")
def update_input_set(app_id: str, set_id: str, body: rq.InputSetUpdate, platform: PlatformDep, principal: Operator) -> dict[str, Any]:
    ids = _input_ids(body.inputs)
    row, members = inputs.update_input_set(platform, principal, app_id, set_id, name=body.name, description=body.description, input_ids=ids)
    return ev.input_set(row, members, app_id)


@router.delete("/experiments/inputsets/{set_id}", status_code=204)
def delete_input_set(app_id: str, set_id: str, platform: PlatformDep, principal: Operator) -> Response:
    inputs.delete_input_set(platform, principal, app_id, set_id)
    return Response(status_code=204)


# batch experiments and scenario tests
@router.get("/experiments/batch")
def list_batches(app_id: str, platform: PlatformDep, principal: Viewer, paging: PagingDep, type: str | None = None) -> Any:
    items, token = exps.list_batches(platform, principal, app_id, kind=type, token=paging.token, limit=paging.limit)
    return listing([ev.batch_metadata(e, c, app_id) for e, c in items], token, paging.paginated)


@router.post("/experiments/batch")
def create_batch(app_id: str, body: rq.BatchCreate, platform: PlatformDep, principal: Operator) -> dict[str, Any]:
    runs = [exps.RunSpec(**r.model_dump()) for r in body.runs] if body.runs else None
    req = exps.BatchRequest(body.id, body.name, body.description, body.type or "batch", body.input_set_id, body.instance_ids or [],
                            ev.option_sets(body.option_sets), runs)
    return {"id": exps.create_batch(platform, principal, app_id, req).id}


@router.get("/experiments/batch/{exp_id}")
def get_batch(app_id: str, exp_id: str, platform: PlatformDep, principal: Viewer) -> dict[str, Any]:
    exp, counts = exps.get_batch(platform, principal, app_id, exp_id)  # (HotPaths answers the polls)
    return ev.batch(exp, counts, app_id)


@router.get("/experiments/batch/{exp_id}/metadata")
def get_batch_metadata(app_id: str, exp_id: str, platform: PlatformDep, principal: Viewer) -> dict[str, Any]:
    exp, counts = exps.get_batch(platform, principal, app_id, exp_id)  # (HotPaths answers the polls)
    return ev.batch_metadata(exp, counts, app_id)


@router.get("/experiments/batch/{exp_id}/runs", response_model=None)
def get_batch_runs(app_id: str, exp_id: str, platform: PlatformDep, principal: Viewer, paging: PagingDep,
                   status: str | None = None, limit: str | None = None) -> Response:
    """Every run, oldest first (X4); with ``pagereturn=true`` or ``limit`` (1–100) in keyset pages, and
    ``status`` (comma-separated) filtering them: Runyard extensions for the console (docs/console.md)."""
    size = run_filters.parse_limit(limit, PAGE_SIZE) if paging.paginated or limit else None
    page = exps.batch_runs_page(platform, principal, app_id, exp_id, statuses=run_filters.parse_statuses(status),
                                token=paging.token, limit=size)
    return page_body(page)


@router.get("/experiments/batch/{exp_id}/analysis")
def get_batch_analysis(app_id: str, exp_id: str, platform: PlatformDep, principal: Viewer,
                       baseline_instance_id: str | None = None) -> dict[str, Any]:
    """Beyond the reference: each instance against the baseline instance, paired by input."""
    return analysis.batch_analysis(platform, principal, app_id, exp_id, baseline_instance_id=baseline_instance_id)


@router.patch("/experiments/batch/{exp_id}")
def update_batch(app_id: str, exp_id: str, body: rq.NameDescription, platform: PlatformDep, principal: Operator) -> dict[str, Any]:
    exp, counts = exps.update_batch(platform, principal, app_id, exp_id, name=body.name, description=body.description)
    return ev.batch_metadata(exp, counts, app_id)


@router.delete("/experiments/batch/{exp_id}", status_code=204)
def delete_batch(app_id: str, exp_id: str, platform: PlatformDep, principal: Operator) -> Response:
    exps.delete_batch(platform, principal, app_id, exp_id)
    return Response(status_code=204)


# acceptance tests
@router.get("/experiments/acceptance")
def list_acceptance(app_id: str, platform: PlatformDep, principal: Viewer, paging: PagingDep) -> Any:
    page = acceptance.list_acceptance(platform, principal, app_id, token=paging.token, limit=paging.limit)
    return listing([ev.acceptance(t, app_id) for t in page.items], page.next_token, paging.paginated)


@router.post("/experiments/acceptance")
def create_acceptance(app_id: str, body: rq.AcceptanceCreate, platform: PlatformDep, principal: Operator) -> dict[str, Any]:
    test = acceptance.create_acceptance(platform, principal, app_id, test_id=body.id, experiment_id=body.experiment_id, name=body.name,
                                        description=body.description, control=body.control, candidate=body.candidate, metrics=body.metrics)
    return ev.acceptance(test, app_id)


@router.get("/experiments/acceptance/{test_id}")
def get_acceptance(app_id: str, test_id: str, platform: PlatformDep, principal: Viewer) -> dict[str, Any]:
    return ev.acceptance(acceptance.get_acceptance(platform, principal, app_id, test_id), app_id)


@router.get("/experiments/acceptance/{test_id}/analysis")
def get_acceptance_analysis(app_id: str, test_id: str, platform: PlatformDep, principal: Viewer) -> dict[str, Any]:
    """Beyond the reference: the candidate against the control, paired by input, per metric of the test."""
    return analysis.acceptance_analysis(platform, principal, app_id, test_id)


@router.patch("/experiments/acceptance/{test_id}")
def update_acceptance(app_id: str, test_id: str, body: rq.NameDescription, platform: PlatformDep, principal: Operator) -> dict[str, Any]:
    return ev.acceptance(acceptance.update_acceptance(platform, principal, app_id, test_id, name=body.name, description=body.description), app_id)


@router.delete("/experiments/acceptance/{test_id}", status_code=204)
def delete_acceptance(app_id: str, test_id: str, platform: PlatformDep, principal: Developer) -> Response:
    acceptance.delete_acceptance(platform, principal, app_id, test_id)
    return Response(status_code=204)
