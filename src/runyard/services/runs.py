"""Runs: submission, reading, logs, cancel, and the runner's report turned into a final status."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from runyard.domain import runs as states
from runyard.domain.errors import CapacityExhausted, Conflict, Invalid, NotFound
from runyard.domain.ids import new_id
from runyard.domain.manifest import Manifest, parse_manifest
from runyard.domain.options import option_value_str
from runyard.domain.runs import RunStatus
from runyard.execution.runtime.types import RunReport
from runyard.services.apps import load_app
from runyard.services.instances import BUILTIN, check_configuration, load_instance
from runyard.services.pagination import Page, paginate
from runyard.services.platform import Platform, Principal
from runyard.services.uploads import resolve_upload
from runyard.services.versions import bundle_of, load_version
from runyard.storage.db import Application, Bundle, Run

INPUT_FORMATS = ("json", "text", "csv", "csv-archive", "multi-file")
OUTPUT_FORMATS = ("json", "text", "csv-archive", "multi-file")


@dataclass
class RunRequest:
    """A ``POST …/runs`` body after wire parsing."""

    instance_id: str | None = None
    input: Any = None
    has_input: bool = False
    upload_id: str | None = None
    name: str | None = None
    description: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    configuration: dict[str, Any] = field(default_factory=dict)
    idempotency_key: str | None = None


def input_key(run_id: str) -> str:
    return f"runs/{run_id}/input"


def output_key(run_id: str) -> str:
    return f"runs/{run_id}/output"


def log_key(run_id: str) -> str:
    return f"runs/{run_id}/log"


def load_run(session: Session, app: Application, run_id: str) -> Run:
    run = session.scalar(select(Run).where(Run.id == run_id, Run.app_pk == app.pk))
    if run is None:
        raise NotFound(f"run {run_id!r} of application {app.id!r} does not exist")
    return run


def get_run(platform: Platform, principal: Principal, app_id: str, run_id: str) -> Run:
    with platform.db.session() as s:
        return load_run(s, load_app(s, principal, app_id), run_id)


def _target(session: Session, app: Application, instance_id: str) -> tuple[str, Bundle, dict[str, Any]]:
    """(version id, bundle, instance configuration) that a run on ``instance_id`` executes."""
    instance = load_instance(session, app, instance_id)
    if instance.id in BUILTIN and instance.pk is None:
        if app.latest_bundle_id is None:
            raise Conflict(f"application {app.id!r} has no pushed executable yet: push the app first")
        return "", bundle_of(session, app.latest_bundle_id), {}
    version = load_version(session, app, instance.version_id)
    return version.id, bundle_of(session, version.bundle_id), dict(instance.configuration or {})


def _formats(manifest: Manifest, configuration: dict[str, Any], request: RunRequest) -> tuple[str, str]:
    fmt = configuration.get("format") or {}
    in_type = ((fmt.get("input") or {}).get("type")) if isinstance(fmt, dict) else None
    out_type = ((fmt.get("output") or {}).get("type")) if isinstance(fmt, dict) else None
    if in_type is None:
        in_type = "text" if isinstance(request.input, str) else ("json" if request.has_input else manifest.content_format)
    if in_type == "csv":
        in_type = "csv-archive"
    if in_type not in INPUT_FORMATS:
        raise Invalid(f"configuration.format.input.type {in_type!r} is not one of {', '.join(INPUT_FORMATS)}")
    manifest_out = manifest.content_format
    out_type = manifest_out if manifest_out != "text" else (out_type or "json")
    if out_type not in OUTPUT_FORMATS:
        raise Invalid(f"configuration.format.output.type {out_type!r} is not one of {', '.join(OUTPUT_FORMATS)}")
    return in_type, out_type


def resolve_options(manifest: Manifest, instance_options: dict[str, Any], request_options: dict[str, Any]) -> tuple[dict[str, str], list[dict[str, str]]]:
    """Active options and their summary: manifest defaults < instance < run, each value a string."""
    items = {item.name: item for item in manifest.option_items}
    opts = manifest.configuration.options
    if opts is not None and opts.strict:
        unknown = sorted(set(request_options) - set(items))
        if unknown:
            raise Invalid(f"option {unknown[0]!r} is not defined in the app's manifest (strict options)")
    active: dict[str, str] = {}
    source: dict[str, str] = {}
    for name, item in items.items():
        if item.default is not None:
            active[name], source[name] = option_value_str(item.default), "version"
    for layer, label in ((instance_options, "instance"), (request_options, "run")):
        for name, value in layer.items():
            active[name], source[name] = option_value_str(value), label
    if opts is not None and opts.validation is not None and opts.validation.enforce == "all":
        _validate_values(items, active)
    missing = [name for name, item in items.items() if item.required and name not in active]
    if missing:
        raise Invalid(f"option {missing[0]!r} is required")
    return active, [{"name": n, "value": v, "source": source[n]} for n, v in active.items()]


def _validate_values(items: dict[str, Any], active: dict[str, str]) -> None:
    for name, value in active.items():
        item = items.get(name)
        if item is None:
            raise Invalid(f"option {name!r} is not defined in the app's manifest")
        kind = item.option_type
        try:
            parsed: Any = {"int": int, "float": float}.get(kind, str)(value)
        except ValueError:
            raise Invalid(f"option {name!r} must be of type {kind}, got {value!r}") from None
        if kind == "bool" and value.lower() not in ("true", "false", "1", "0", "t", "f", "yes", "no", "y", "n"):
            raise Invalid(f"option {name!r} must be a bool, got {value!r}")
        attrs = item.additional_attributes or {}
        if kind in ("int", "float"):
            if "min" in attrs and parsed < attrs["min"]:
                raise Invalid(f"option {name!r} must be at least {attrs['min']}, got {value}")
            if "max" in attrs and parsed > attrs["max"]:
                raise Invalid(f"option {name!r} must be at most {attrs['max']}, got {value}")
        if "values" in attrs and attrs["values"] and parsed not in attrs["values"] and value not in map(str, attrs["values"]):
            raise Invalid(f"option {name!r} must be one of {attrs['values']}, got {value!r}")


def _execution(platform: Platform, configuration: dict[str, Any], instance_cfg: dict[str, Any]) -> tuple[str, int, bool]:
    cls = configuration.get("execution_class") or instance_cfg.get("execution_class") or platform.settings.execution.default_class
    queuing = {**(instance_cfg.get("queuing") or {}), **(configuration.get("queuing") or {})}
    return cls, int(queuing.get("priority") or 6), bool(queuing.get("disabled") or False)


def submit_run(platform: Platform, principal: Principal, app_id: str, request: RunRequest) -> str:
    """Validate and queue a run; returns its id. A retried request with the same idempotency key returns the first run."""
    check_configuration(platform.settings, request.configuration)
    run_id = new_id("run", 12)
    with platform.db.session() as s:
        app = load_app(s, principal, app_id)
        if request.idempotency_key:
            prior = s.scalar(select(Run.id).where(Run.app_pk == app.pk, Run.idempotency_key == request.idempotency_key))
            if prior is not None:
                return prior
        instance_id = request.instance_id or app.default_instance or "latest"
        version_id, bundle, instance_cfg = _target(s, app, instance_id)
        manifest = parse_manifest(bundle.manifest)
        in_fmt, out_fmt = _formats(manifest, request.configuration, request)
        instance_options = instance_cfg.get("options") or {}
        _, summary = resolve_options(manifest, instance_options, request.options)
        cls, priority, no_queue = _execution(platform, request.configuration, instance_cfg)
        if no_queue and not platform.has_capacity(cls):
            raise CapacityExhausted(f"no capacity is free in execution class {cls!r} and queuing is disabled")
        key, size = _store_input(platform, s, app, run_id, request)
        s.add(
            Run(
                id=run_id,
                app_pk=app.pk,
                account_id=principal.account_id,
                app_id=app.id,
                instance_id=instance_id,
                version_id=version_id,
                bundle_id=bundle.id,
                name=request.name or "",
                description=request.description or "",
                user_email=principal.email,
                input_format=in_fmt,
                output_format=out_fmt,
                input_key=key,
                input_size=size,
                options={
                    "request": {k: option_value_str(v) for k, v in request.options.items()},
                    "instance": instance_options,
                    "summary": summary,
                },
                configuration=request.configuration,
                execution_class=cls,
                priority=priority,
                queuing_disabled=no_queue,
                secrets_collection_id=request.configuration.get("secrets_collection_id") or instance_cfg.get("secrets_collection_id"),
                idempotency_key=request.idempotency_key,
            )
        )
    platform.wakeup()
    return run_id


def _store_input(platform: Platform, session: Session, app: Application, run_id: str, request: RunRequest) -> tuple[str | None, int]:
    if request.upload_id:
        upload = resolve_upload(session, app, request.upload_id)
        return upload.blob_key, int(upload.size or 0)
    if not request.has_input:
        return None, 0
    data = request.input.encode() if isinstance(request.input, str) else json.dumps(request.input, separators=(",", ":")).encode()
    key = input_key(run_id)
    platform.blobs.put_bytes(key, data)
    return key, len(data)


def list_runs(platform: Platform, principal: Principal, app_id: str, *, token: str | None, limit: int | None) -> Page[Run]:
    with platform.db.session() as s:
        app = load_app(s, principal, app_id)
        return paginate(s, select(Run).where(Run.app_pk == app.pk), created=Run.created_at, key=Run.id, token=token, limit=limit)


def cancel_run(platform: Platform, principal: Principal, app_id: str, run_id: str) -> None:
    """A queued run never starts; a running run's process tree is stopped and the run ends canceled."""
    now = datetime.now(UTC)
    with platform.db.session() as s:
        run = load_run(s, load_app(s, principal, app_id), run_id)
        if states.is_terminal(run.status):
            raise Conflict(f"run {run_id!r} has already ended ({run.status})")
        s.execute(update(Run).where(Run.id == run_id).values(cancel_requested=True))
        moved = s.execute(
            update(Run)
            .where(Run.id == run_id, Run.status == RunStatus.QUEUED)
            .values(status=RunStatus.CANCELED, error="run was canceled", finished_at=now)
        ).rowcount
    if not moved:
        platform.cancel_hook(run_id)


def delete_run(platform: Platform, principal: Principal, app_id: str, run_id: str) -> None:
    with platform.db.session() as s:
        run = load_run(s, load_app(s, principal, app_id), run_id)
        if not states.is_terminal(run.status):
            s.execute(update(Run).where(Run.id == run_id).values(cancel_requested=True))
        s.delete(run)
    platform.cancel_hook(run_id)
    platform.blobs.delete_prefix(f"runs/{run_id}/")


def update_run(platform: Platform, principal: Principal, app_id: str, run_id: str, *, name: str | None, description: str | None) -> Run:
    with platform.db.session() as s:
        run = load_run(s, load_app(s, principal, app_id), run_id)
        if name is not None:
            run.name = name
        if description is not None:
            run.description = description
        return run


# --- what the runner and dispatcher use -------------------------------------------------------

def transition(session: Session, run_id: str, target: RunStatus, **values: Any) -> bool:
    """Move a run to ``target`` only from a status the state machine allows; True if it moved."""
    sources = [s.value for s in states.sources_of(target)]
    result = session.execute(update(Run).where(Run.id == run_id, Run.status.in_(sources)).values(status=target.value, **values))
    return bool(result.rowcount)


def append_log(platform: Platform, run_id: str, line: str, *, at: datetime | None = None) -> None:
    stamp = (at or datetime.now(UTC)).isoformat().replace("+00:00", "Z")
    record = json.dumps({"t": stamp, "l": line}, ensure_ascii=False) + "\n"
    platform.blobs.append(log_key(run_id), record.encode())


def iter_log_records(platform: Platform, run_id: str) -> Iterator[dict[str, str]]:
    key = log_key(run_id)
    if not platform.blobs.exists(key):
        return
    with platform.blobs.open(key) as f:
        for raw in f:
            try:
                yield json.loads(raw)
            except ValueError:
                continue


def log_text(platform: Platform, run_id: str) -> str:
    return "\n".join(r.get("l", "") for r in iter_log_records(platform, run_id))


def finish_run(platform: Platform, run_id: str, report: RunReport) -> RunStatus | None:
    """Store what the runner produced and move the run to its terminal status."""
    with platform.db.session() as s:
        run = s.get(Run, run_id)
        if run is None or states.is_terminal(run.status):
            return None
        cancel = run.cancel_requested or report.canceled
        started = run.started_at or run.created_at
    status, error = states.final_status(exit_code=report.exit_code, cancel_requested=cancel, deadline_hit=report.deadline_hit)
    if report.output_exceeded and not cancel:
        status, error = RunStatus.FAILED, "run output exceeded the size limit and the run was stopped"
    if report.error and not cancel:
        status, error = RunStatus.FAILED, report.error
    size, has_output = _store_output(platform, run_id, report.output_path)
    now = datetime.now(UTC)
    values: dict[str, Any] = {
        "error": error,
        "finished_at": now,
        "duration_ms": (now - started).total_seconds() * 1000,
        "execution_ms": report.execution_ms,
        "output_size": size,
        "has_output": has_output,
        "statistics": report.statistics if isinstance(report.statistics, dict) else None,
        "metrics": report.metrics if isinstance(report.metrics, dict) else None,
    }
    if status is RunStatus.FAILED:
        values["error_log"] = {"error": error, "stdout": report.stdout_tail, "stderr": report.stderr_tail}
    with platform.db.session() as s:
        moved = transition(s, run_id, status, **values)
    return status if moved else None


def _store_output(platform: Platform, run_id: str, path: Path | None) -> tuple[int, bool]:
    if path is None or not path.is_file():
        return 0, False
    with open(path, "rb") as f:
        return platform.blobs.put_file(output_key(run_id), f), True
