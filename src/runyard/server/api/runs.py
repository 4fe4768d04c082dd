"""Runs (R1, R3–R13)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response

from runyard.domain.errors import Invalid
from runyard.server import streams
from runyard.server.api.run_list import ListQueryDep, page_body
from runyard.server.deps import Operator, PlatformDep, Viewer, base_url, json_response
from runyard.server.schemas import requests as rq
from runyard.server.schemas import views
from runyard.services import ensembles, online, uploads, waiting
from runyard.services.blob_keys import output_key
from runyard.services.platform import Platform, point_read
from runyard.services.runs import listing, logs, reads, results, tracked
from runyard.services.runs.requests import RunRequest
from runyard.services.signed import signed_url
from runyard.storage.db import Run

router = APIRouter(prefix="/v1/applications/{app_id}/runs", tags=["runs"])
FormatQuery = Annotated[str | None, Query(alias="format")]
SMALL_OUTPUT = 256 * 1024  # outputs up to this size are answered in one body instead of streamed
# A long-polled result (``?wait=``) carries its output inline up to this size (the SDKs' inline limit for
# inputs and outputs), as a download URL beyond it, and then says so in this header.
INLINE_OUTPUT_MAX = 5 * 1024 * 1024
OUTPUT_DELIVERY_HEADER = "Runyard-Output"


@router.post("/uploadurl")
def upload_url(app_id: str, request: Request, platform: PlatformDep, principal: Operator) -> dict[str, str]:
    slot = uploads.new_upload(platform, principal, app_id, base_url(request))
    return {"upload_id": slot.upload_id, "upload_url": slot.upload_url}


# (No response model: FastAPI validates a sync route's return value against one in a second worker
# thread, a hop that every submission paid for a dict of one string.)
@router.post("", response_model=None)
def create_run(
    app_id: str,
    body: rq.RunCreate,
    request: Request,
    platform: PlatformDep,
    principal: Operator,
    instance_id: str | None = None,
    idempotency_key: Annotated[str | None, Header()] = None,
) -> dict[str, str]:
    if sum(x is not None for x in (body.input, body.upload_id, body.input_id)) > 1:
        raise Invalid("send only one of input, upload_id and input_id")
    if body.input is not None and not isinstance(body.input, dict | str):
        raise Invalid("input must be a JSON object or a string")
    req = RunRequest(
        instance_id=instance_id or None,
        input=body.input,
        has_input="input" in body.model_fields_set and body.input is not None,
        upload_id=body.upload_id,
        name=body.name,
        description=body.description,
        options=body.options or {},
        configuration=body.configuration or {},
        idempotency_key=idempotency_key or None,  # an empty header is no key
        batch_experiment_id=body.batch_experiment_id or None,
        cloned_run_id=cloned_run_id(body.tracking),
    )
    kind = run_type(req.configuration)
    if kind == "ensemble":
        return {"run_id": ensembles.submit_ensemble_run(platform, principal, app_id, req, input_id=body.input_id)}
    if body.result is not None:
        return {"run_id": tracked.submit_tracked_run(platform, principal, app_id, req, body.result)}
    # (every run goes by the shadow and switchback tests of its instance)
    return {"run_id": online.submit_run(platform, principal, app_id, req, input_id=body.input_id)}


RUN_TYPES = ("standard", "external", "ensemble")


def cloned_run_id(tracking: dict[str, Any] | None) -> str | None:
    value = (tracking or {}).get("cloned_run_id")
    if value is not None and not isinstance(value, str):
        raise Invalid("tracking.cloned_run_id must be a string")
    return value or None


def run_type(configuration: dict[str, Any]) -> str:
    """``configuration.run_type.type``; one this server does not run is refused, never run as a standard run."""
    raw = configuration.get("run_type")
    if raw is None:
        return "standard"
    if not isinstance(raw, dict):
        raise Invalid("configuration.run_type must be an object such as {\"type\": \"standard\"}")
    kind = raw.get("type") or raw.get("run_type") or "standard"
    if kind not in RUN_TYPES:
        raise Invalid(f"configuration.run_type.type {kind!r} is not supported: use one of {', '.join(RUN_TYPES)}")
    return str(kind)


@router.get("", response_model=None)
def list_runs(app_id: str, platform: PlatformDep, principal: Viewer, query: ListQueryDep) -> Response:
    """The application's runs newest first; filters and ``limit`` are Runyard extensions (docs/console.md)."""
    return page_body(listing.list_app_runs(platform, principal, app_id, query.filter, token=query.token, limit=query.limit))


@router.get("/{run_id}/metadata", response_model=None)
async def run_metadata(app_id: str, run_id: str, platform: PlatformDep, principal: Viewer, wait: float | None = None) -> Response:
    """With ``wait=<seconds>`` (a Runyard extension, ≤ 60) the answer comes once the run ends, or at the timeout."""
    if wait:
        run = await waiting.wait_for_run(platform, principal, app_id, run_id, wait)
    else:
        run = await point_read(platform, reads.get_run, platform, principal, app_id, run_id)
    return json_response(views.run_information(run))


def _download(platform: Platform, request: Request, key: str) -> dict[str, str]:
    return {"url": signed_url(platform, base_url(request), "GET", key)}


def _output_chunks(platform: Platform, run: Run) -> list[bytes] | Any:
    """The stored output if it is a JSON object, streamed; ``null`` otherwise."""
    if not run.has_output or run.output_format != "json":
        return [b"null"]
    key = output_key(run.id)
    with platform.blobs.open(key) as f:
        first = f.read(64).lstrip()
    return platform.blobs.iter_chunks(key) if first.startswith(b"{") else [b"null"]


@router.get("/{run_id}", response_model=None)
async def run_result(app_id: str, run_id: str, request: Request, platform: PlatformDep, principal: Viewer,
                     fmt: FormatQuery = None, wait: float | None = None) -> Any:
    """With ``wait=<seconds>`` (a Runyard extension, ≤ 60) the answer comes once the run ends, or at the
    timeout: a client gets the result in one request instead of polling the metadata first. A JSON
    output over ``INLINE_OUTPUT_MAX`` then comes as a download URL, as with ``format=url``, and the
    ``Runyard-Output: url`` header says so."""
    if wait:
        run = await waiting.wait_for_run(platform, principal, app_id, run_id, wait)
        if fmt is None and run.output_format == "json" and (run.output_size or 0) > INLINE_OUTPUT_MAX:
            fmt = "url"
    else:
        run = await point_read(platform, reads.get_run, platform, principal, app_id, run_id)
    head = result_head(run)
    if fmt == "url":
        head["output"] = _download(platform, request, output_key(run.id)) if run.has_output else None
        response = json_response(head)
        if wait:
            response.headers[OUTPUT_DELIVERY_HEADER] = "url"
        return response
    if (run.output_size or 0) <= SMALL_OUTPUT:  # read whole: one answer, no thread hop per chunk
        return await point_read(platform, _small_result, platform, run, head)
    return streams.json_stream(streams.wrap_object(head, "output", _output_chunks(platform, run)))


def result_head(run: Run) -> dict[str, Any]:
    """A run's result without its output: its information and, when it failed, its error log."""
    head = views.run_information(run)
    if run.error_log:
        head["error_log"] = run.error_log
    return head


def _small_result(platform: Platform, run: Run, head: dict[str, Any]) -> Response:
    return Response(_result_bytes(platform, run, head), media_type="application/json")


def _result_bytes(platform: Platform, run: Run, head: dict[str, Any]) -> bytes:
    return b"".join(streams.wrap_object(head, "output", _output_chunks(platform, run)))


def small_result_body(platform: Platform, run: Run) -> bytes | None:
    """The body ``GET …/runs/{id}`` answers for a run whose output is at most ``SMALL_OUTPUT``; None for
    a larger one (which that request streams, or hands out as a URL)."""
    if (run.output_size or 0) > SMALL_OUTPUT:
        return None
    return _result_bytes(platform, run, result_head(run))


@router.get("/{run_id}/output")
def run_output(app_id: str, run_id: str, request: Request, platform: PlatformDep, principal: Viewer, fmt: FormatQuery = None) -> Any:
    run = reads.get_run(platform, principal, app_id, run_id)
    if not run.has_output:
        raise Invalid(f"run {run_id!r} has no output ({run.status})")
    if fmt == "url" or run.output_format != "json":
        return _download(platform, request, output_key(run.id))
    return streams.json_stream(platform.blobs.iter_chunks(output_key(run.id)))


@router.get("/{run_id}/input")
def run_input(app_id: str, run_id: str, request: Request, platform: PlatformDep, principal: Viewer, fmt: FormatQuery = None) -> Any:
    run = reads.get_run(platform, principal, app_id, run_id)
    if run.input_key is None:
        return Response(content=b"null", media_type="application/json")
    if fmt == "url" or run.input_format in ("csv-archive", "multi-file"):
        return _download(platform, request, run.input_key)
    chunks = platform.blobs.iter_chunks(run.input_key)
    return streams.json_stream(streams.json_string_chunks(chunks) if run.input_format == "text" else chunks)


@router.get("/{run_id}/logs")
def run_logs(app_id: str, run_id: str, platform: PlatformDep, principal: Viewer) -> Any:
    run = reads.get_run(platform, principal, app_id, run_id)

    def lines() -> Any:
        for i, record in enumerate(logs.iter_log_records(platform, run.id)):
            yield (b"\n" if i else b"") + record.get("l", "").encode()

    return streams.json_stream(streams.wrap_object({}, "log", streams.json_string_chunks(lines())))


@router.get("/{run_id}/logs/live")
async def run_logs_live(app_id: str, run_id: str, platform: PlatformDep, principal: Viewer, since: str | None = None,
                        wait: float | None = None) -> dict[str, Any]:
    """With ``wait=<seconds>`` (a Runyard extension, ≤ 60) the answer comes once there are lines after
    ``since`` or the run has ended, or at the timeout with none."""
    if wait:
        page = await waiting.wait_for_log(platform, principal, app_id, run_id, since, wait)
    else:
        page = await point_read(platform, logs.live_logs, platform, principal, app_id, run_id, since)
    # Always a positive hint: 1.13.0 sleeps exactly this long between polls (0 would spin).
    return {"items": page.records, "status_v2": page.status, "next_page_token": page.next_token, "next_available_in_seconds": 1}


@router.get("/{run_id}/assets")
def run_assets(app_id: str, run_id: str, platform: PlatformDep, principal: Viewer) -> dict[str, Any]:
    return {"items": results.list_assets(platform, principal, app_id, run_id)}


@router.get("/{run_id}/assets/{asset_id}")
def run_asset(app_id: str, run_id: str, asset_id: str, request: Request, platform: PlatformDep, principal: Viewer) -> dict[str, str]:
    key, content_type = results.asset_key(platform, principal, app_id, run_id, asset_id)
    return {"download_url": signed_url(platform, base_url(request), "GET", key), "type": content_type}


@router.get("/{run_id}/ensemble")
def run_ensemble(app_id: str, run_id: str, platform: PlatformDep, principal: Viewer) -> dict[str, Any]:
    return ensembles.ensemble_result(platform, principal, app_id, run_id)


@router.patch("/{run_id}/cancel")
def cancel_run(app_id: str, run_id: str, platform: PlatformDep, principal: Operator) -> dict[str, str]:
    ensembles.cancel_run(platform, principal, app_id, run_id)  # (an ensemble run's children with it)
    return {"status": "canceling"}


@router.delete("/{run_id}", status_code=204)
def delete_run(app_id: str, run_id: str, platform: PlatformDep, principal: Operator) -> Response:
    reads.delete_run(platform, principal, app_id, run_id)
    return Response(status_code=204)


@router.patch("/{run_id}")
@router.put("/{run_id}")
def update_run(app_id: str, run_id: str, body: rq.RunUpdate, platform: PlatformDep, principal: Operator) -> dict[str, Any]:
    return views.run_information(reads.update_run(platform, principal, app_id, run_id, name=body.name, description=body.description))



