"""Tracked runs: runs that happened elsewhere, recorded exactly as a finished run looks."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from runyard.domain.errors import Invalid
from runyard.domain.ids import new_id
from runyard.domain.runs import RunStatus
from runyard.execution.runtime.publish import store_assets
from runyard.services.apps import load_app
from runyard.services.blob_keys import assets_key, assets_prefix, output_key
from runyard.services.events import record_run_status
from runyard.services.platform import Platform, Principal
from runyard.services.runs.logs import append_log
from runyard.services.runs.requests import RunRequest
from runyard.services.runs.submission import store_input
from runyard.services.uploads import resolve_upload
from runyard.storage.db import Application, Run

TRACKED_STATUSES = {"succeeded": RunStatus.SUCCEEDED, "failed": RunStatus.FAILED}
SMALL_JSON = 16 * 1024 * 1024


def _upload_json(platform: Platform, session: Session, app: Application, upload_id: str | None, key: str) -> Any:
    if not upload_id:
        return None
    upload = resolve_upload(session, app, upload_id, platform=platform)
    if (upload.size or 0) > SMALL_JSON:
        raise Invalid(f"result.{key} is larger than {SMALL_JSON} bytes")
    try:
        value = json.loads(platform.blobs.get_bytes(upload.blob_key) or b"null")
    except ValueError:
        raise Invalid(f"result.{key} upload is not JSON") from None
    return value.get(key.split("_")[0], value) if isinstance(value, dict) else value


def _log_lines(text: str) -> list[str]:
    # The SDKs join a list of log lines with a literal backslash-n (spec §3.6).
    return text.replace("\\n", "\n").splitlines()


def submit_tracked_run(platform: Platform, principal: Principal, app_id: str, request: RunRequest, result: dict[str, Any]) -> str:
    """Record a run that happened elsewhere, exactly as a finished run looks."""
    status = TRACKED_STATUSES.get(str(result.get("status")))
    if status is None:
        raise Invalid("result.status must be 'succeeded' or 'failed'")
    duration = result.get("execution_duration") or 0
    if not isinstance(duration, int | float) or isinstance(duration, bool) or duration < 0:
        raise Invalid("result.execution_duration must be a non-negative number of milliseconds")
    run_id = new_id("run", 12)
    now = datetime.now(UTC)
    with platform.db.session() as s:
        app = load_app(s, principal, app_id)
        instance_id = request.instance_id or app.default_instance or "latest"
        key, size = store_input(platform, s, app, run_id, request)
        statistics = _upload_json(platform, s, app, result.get("statistics_upload_id"), "statistics")
        metrics = _upload_json(platform, s, app, result.get("metrics_upload_id"), "metrics")
        assets = _upload_json(platform, s, app, result.get("assets_upload_id"), "assets")
        output = resolve_upload(s, app, result["output_upload_id"], platform=platform) if result.get("output_upload_id") else None
        logs = resolve_upload(s, app, result["error_upload_id"]) if result.get("error_upload_id") else None
        fmt = (request.configuration.get("format") or {}) if isinstance(request.configuration.get("format"), dict) else {}
        in_fmt = (fmt.get("input") or {}).get("type") or ("text" if isinstance(request.input, str) else "json")
        out_fmt = (fmt.get("output") or {}).get("type") or "json"
        out_size = platform.blobs.copy(output.blob_key, output_key(run_id)) if output is not None else 0
        raw_log = platform.blobs.get_bytes(logs.blob_key).decode("utf-8", "replace") if logs is not None else ""
        log_text = "\n".join(_log_lines(raw_log))  # what run_logs shows, also error_log.stderr
        if output is not None and out_fmt == "json" and statistics is None and out_size <= SMALL_JSON:
            statistics, metrics = _from_output(platform, run_id, statistics, metrics)
        error = str(result.get("error_message") or "") if status is RunStatus.FAILED else ""
        s.add(
            Run(
                id=run_id, app_pk=app.pk, account_id=principal.account_id, app_id=app.id, instance_id=instance_id,
                name=request.name or "", description=request.description or "", user_email=principal.email,
                status=status.value, error=error, run_type="external", input_format=in_fmt, output_format=out_fmt,
                input_key=key, input_size=size, output_size=out_size, has_output=output is not None,
                configuration=request.configuration, execution_class=request.configuration.get("execution_class") or "external",
                statistics=statistics if isinstance(statistics, dict) else None,
                metrics=metrics if isinstance(metrics, dict) else None,
                error_log={"error": error, "stdout": "", "stderr": log_text} if status is RunStatus.FAILED else None,
                started_at=now, finished_at=now, duration_ms=float(duration), execution_ms=float(duration),
                idempotency_key=request.idempotency_key,
            )
        )
        s.flush()
        record_run_status(s, [run_id], now=now)
    store_assets(platform.blobs, assets_key(run_id), assets_prefix(run_id), assets)
    for line in log_text.splitlines():
        append_log(platform, run_id, line, at=now)
    return run_id


def _from_output(platform: Platform, run_id: str, statistics: Any, metrics: Any) -> tuple[Any, Any]:
    try:
        doc = json.loads(platform.blobs.get_bytes(output_key(run_id)))
    except ValueError:
        return statistics, metrics
    if isinstance(doc, dict):
        statistics = statistics if statistics is not None else doc.get("statistics")
        metrics = metrics if metrics is not None else doc.get("metrics")
    return statistics, metrics
