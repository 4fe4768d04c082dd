"""Runs: submission, reading, logs, cancel, and the runner's report turned into a final status."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, String, and_, bindparam, func, insert, or_, select, update
from sqlalchemy.orm import Session

from runyard.domain import runs as states
from runyard.domain.errors import CapacityExhausted, Conflict, Invalid, NotFound, UnsafeArchive
from runyard.domain.ids import new_id
from runyard.domain.manifest import Manifest, parse_manifest
from runyard.domain.memo import Memo
from runyard.domain.options import option_value_str
from runyard.domain.runs import RunStatus
from runyard.execution.runtime.types import RunReport
from runyard.services.apps import load_app
from runyard.services.instances import BUILTIN, check_configuration, load_instance
from runyard.services.pagination import Page, paginate_rows
from runyard.services.platform import Platform, Principal
from runyard.services.secrets import check_exists as check_secrets
from runyard.services.uploads import resolve_upload
from runyard.services.versions import bundle_of, load_version
from runyard.storage.archives import ArchiveLimits, inspect_archive
from runyard.storage.db import Application, Bundle, Instance, Run, Version

INPUT_FORMATS = ("json", "text", "csv", "csv-archive", "multi-file")
OUTPUT_FORMATS = ("json", "text", "csv-archive", "multi-file")
ARCHIVE_INPUTS = ("csv-archive", "multi-file")


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


# Reading one run is the hottest query (every poll): one statement compiled once, run as a ``PointRead``.
# Its row has the ``Run`` columns as attributes, read-only.
_RUN_OF_APP = (
    select(Run.__table__)
    .join(Application.__table__, Application.pk == Run.app_pk)
    .where(Application.account_id == bindparam("account_id"), Application.id == bindparam("app_id"), Run.id == bindparam("run_id"))
)


def get_run(platform: Platform, principal: Principal, app_id: str, run_id: str) -> Run:
    """The caller's run, read-only; ``NotFound`` names the application when that is what is missing."""
    row = platform.db.first(_RUN_OF_APP, {"account_id": principal.account_id, "app_id": app_id, "run_id": run_id})
    if row is not None:
        return row  # type: ignore[return-value]  # a Row with Run's columns
    with platform.db.session() as s:
        load_run(s, load_app(s, principal, app_id), run_id)  # raises the right NotFound
    raise NotFound(f"run {run_id!r} of application {app_id!r} does not exist")  # pragma: no cover - a race with a delete


def _target(session: Session, app: Application, instance_id: str) -> tuple[str, Bundle, dict[str, Any]]:
    """(version id, bundle, instance configuration) that a run on ``instance_id`` executes."""
    instance = load_instance(session, app, instance_id)
    if instance.id in BUILTIN and instance.pk is None:
        if app.latest_bundle_id is None:
            raise Conflict(f"application {app.id!r} has no pushed executable yet: push the app first")
        return "", bundle_of(session, app.latest_bundle_id), {}
    version = load_version(session, app, instance.version_id)
    return version.id, bundle_of(session, version.bundle_id), dict(instance.configuration or {})


def _formats(manifest: Manifest, configuration: dict[str, Any], request: RunRequest, source: RunSource | None = None) -> tuple[str, str]:
    fmt = configuration.get("format") or {}
    in_type = ((fmt.get("input") or {}).get("type")) if isinstance(fmt, dict) else None
    out_type = ((fmt.get("output") or {}).get("type")) if isinstance(fmt, dict) else None
    if in_type is None and source is not None:
        in_type = source.format
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


@dataclass
class RunSource:
    """Where a run's input comes from when it is not in the request (managed input, another run)."""

    key: str | None
    size: int
    format: str | None = None


@dataclass
class ExperimentFields:
    experiment_id: str | None = None
    input_id: str | None = None
    input_set_id: str | None = None
    option_set: str | None = None
    scenario_id: str | None = None
    repetition: int | None = None


def submit_run(platform: Platform, principal: Principal, app_id: str, request: RunRequest) -> str:
    """Validate and queue a run; returns its id. A retried request with the same idempotency key returns the first run."""
    with platform.db.session() as s:
        found = _submission_target(s, principal, app_id, request.instance_id)
        app, targets = found if found is not None else (load_app(s, principal, app_id), None)
        if request.idempotency_key:
            prior = s.scalar(select(Run.id).where(Run.app_pk == app.pk, Run.idempotency_key == request.idempotency_key))
            if prior is not None:
                return prior
        run_id = queue_run(platform, s, principal, app, request, targets=targets)
    platform.start_queued()
    return run_id


@dataclass(frozen=True)
class AppRef:
    """What a submission needs of its application (read with its target in one statement)."""

    pk: int
    id: str
    default_instance: str | None


# Every submission resolves its application, instance, version and executable: one statement on the
# session's connection instead of four ORM queries (a third of a submission's server time went there).
_APPS, _INSTANCES, _VERSIONS, _BUNDLES = (t.__table__ for t in (Application, Instance, Version, Bundle))
_WANTED = func.coalesce(bindparam("instance_id", type_=String), func.nullif(_APPS.c.default_instance, ""), "latest")
_SUBMISSION_TARGET = (
    select(_APPS.c.pk, _APPS.c.id, _APPS.c.default_instance, _APPS.c.latest_bundle_id, _WANTED.label("instance_id"),
           _INSTANCES.c.pk.label("instance_pk"), _INSTANCES.c.configuration, _VERSIONS.c.id.label("version_id"),
           _VERSIONS.c.bundle_id, _BUNDLES.c.id.label("found_bundle_id"), _BUNDLES.c.manifest)
    .select_from(
        _APPS.outerjoin(_INSTANCES, and_(_INSTANCES.c.app_pk == _APPS.c.pk, _INSTANCES.c.id == _WANTED))
        .outerjoin(_VERSIONS, and_(_VERSIONS.c.app_pk == _APPS.c.pk, _VERSIONS.c.id == _INSTANCES.c.version_id))
        .outerjoin(_BUNDLES, _BUNDLES.c.id == func.coalesce(_VERSIONS.c.bundle_id, _APPS.c.latest_bundle_id))
    )
    .where(_APPS.c.account_id == bindparam("account_id"), _APPS.c.id == bindparam("app_id"))
)
_MANIFESTS: Memo[str, Manifest] = Memo(1024)


def bundle_manifest(bundle_id: str, manifest: dict[str, Any]) -> Manifest:
    """An executable's manifest, parsed once: an executable never changes."""
    return _MANIFESTS.get(bundle_id) or _MANIFESTS.remember(bundle_id, parse_manifest(manifest))


def _submission_target(session: Session, principal: Principal, app_id: str, instance_id: str | None) -> tuple[AppRef, dict[tuple[str, str], Any]] | None:
    """The application and, as :func:`queued_run_row`'s ``targets``, what a run on ``instance_id`` (or the
    default) executes. ``None`` when something is missing: the ORM path then raises the precise error."""
    row = session.execute(_SUBMISSION_TARGET, {"account_id": principal.account_id, "app_id": app_id,
                                               "instance_id": instance_id or None}).first()
    if row is None:
        return None
    if row.instance_pk is not None:  # an instance of the application's own
        if row.version_id is None or row.found_bundle_id != row.bundle_id:
            return None
        version_id, configuration = row.version_id, dict(row.configuration or {})
    else:  # a built-in one runs the latest pushed executable
        if row.instance_id not in BUILTIN or row.latest_bundle_id is None or row.found_bundle_id != row.latest_bundle_id:
            return None
        version_id, configuration = "", {}
    manifest = bundle_manifest(row.found_bundle_id, row.manifest)
    app = AppRef(pk=row.pk, id=row.id, default_instance=row.default_instance)
    return app, {("instance", row.instance_id): (version_id, row.found_bundle_id, configuration, manifest)}


def _capacity_now(platform: Platform, session: Session, cls: str) -> bool:
    """A free slot that no already-queued run of the class will take first."""
    if not platform.has_capacity(cls):
        return False
    waiting = session.scalar(select(func.count()).select_from(Run).where(Run.status == RunStatus.QUEUED.value, Run.execution_class == cls))
    return not waiting


def submit_run_from_input(platform: Platform, principal: Principal, app_id: str, request: RunRequest, input_id: str) -> str:
    """A run whose input is a managed input (or another run's input) of the same application."""
    from runyard.services.inputs import resolve_input

    with platform.db.session() as s:
        app = load_app(s, principal, app_id)
        source = resolve_input(s, app, input_id)
        run_id = queue_run(platform, s, principal, app, request, source=source, experiment=ExperimentFields(input_id=input_id))
    platform.start_queued()
    return run_id


def queue_run(
    platform: Platform,
    session: Session,
    principal: Principal,
    app: Application,
    request: RunRequest,
    *,
    source: RunSource | None = None,
    experiment: ExperimentFields | None = None,
    targets: dict[tuple[str, str], Any] | None = None,
) -> str:
    """Insert one queued run in ``session`` (the caller commits and wakes the dispatcher)."""
    row = queued_run_row(platform, session, principal, app, request, source=source, experiment=experiment, targets=targets)
    # A Core insert (the columns' defaults apply): no ORM object to track and flush for each run.
    session.execute(insert(Run.__table__), row)
    return str(row["id"])


def insert_runs(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert many rows made by :func:`queued_run_row` with one statement (executemany)."""
    if rows:
        session.execute(insert(Run.__table__), rows)


def queued_run_row(
    platform: Platform,
    session: Session,
    principal: Principal,
    app: Application,
    request: RunRequest,
    *,
    version_id: str | None = None,
    source: RunSource | None = None,
    experiment: ExperimentFields | None = None,
    priority: int | None = None,
    targets: dict[tuple[str, str], Any] | None = None,
) -> dict[str, Any]:
    """The validated row of one queued run (its input stored), to be inserted by the caller.

    ``targets`` memoizes instance/version lookups across the runs of one experiment.
    """
    check_configuration(platform.settings, request.configuration)
    run_id = new_id("run", 12)
    instance_id = "" if version_id else (request.instance_id or app.default_instance or "latest")
    cache_key = ("version", version_id) if version_id else ("instance", instance_id)
    cached = targets.get(cache_key) if targets is not None else None
    if cached is None:
        if version_id:
            version = load_version(session, app, version_id)
            bundle, instance_cfg = bundle_of(session, version.bundle_id), {}
        else:
            version_id, bundle, instance_cfg = _target(session, app, instance_id)
        cached = (version_id, bundle.id, instance_cfg, bundle_manifest(bundle.id, bundle.manifest))
        if targets is not None:
            targets[cache_key] = cached
    version_id, bundle_id, instance_cfg, manifest = cached
    in_fmt, out_fmt = _formats(manifest, request.configuration, request, source)
    instance_options = instance_cfg.get("options") or {}
    _, summary = resolve_options(manifest, instance_options, request.options)
    cls, default_priority, no_queue = _execution(platform, request.configuration, instance_cfg)
    if no_queue and not _capacity_now(platform, session, cls):
        raise CapacityExhausted(f"no capacity is free in execution class {cls!r} and queuing is disabled")
    secrets_id = request.configuration.get("secrets_collection_id") or instance_cfg.get("secrets_collection_id")
    check_secrets(session, app, secrets_id)
    if source is None and in_fmt in ARCHIVE_INPUTS:
        _check_input_archive(platform, session, app, request, in_fmt)
    key, size = (source.key, source.size) if source is not None else _store_input(platform, session, app, run_id, request)
    exp = experiment or ExperimentFields()
    return dict(
        id=run_id,
        app_pk=app.pk,
        account_id=principal.account_id,
        app_id=app.id,
        instance_id=instance_id,
        version_id=version_id,
        bundle_id=bundle_id,
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
        priority=priority if priority is not None else default_priority,
        queuing_disabled=no_queue,
        secrets_collection_id=secrets_id,
        idempotency_key=request.idempotency_key,
        experiment_id=exp.experiment_id,
        input_id=exp.input_id,
        input_set_id=exp.input_set_id,
        option_set=exp.option_set,
        scenario_id=exp.scenario_id,
        repetition=exp.repetition,
    )


def _check_input_archive(platform: Platform, session: Session, app: Application, request: RunRequest, fmt: str) -> None:
    """An archive input is checked header by header at submission: a bad one is a 400, never a failed run."""
    if request.has_input:
        raise Invalid(f"a {fmt} input must be uploaded as a .tar.gz (upload_id), not sent inline")
    if not request.upload_id:
        return
    upload = resolve_upload(session, app, request.upload_id)
    if not upload.size:
        return
    lim = platform.settings.limits
    try:
        with platform.blobs.open(upload.blob_key) as f:
            inspect_archive(f, ArchiveLimits(max_files=lim.archive_max_files, max_bytes=lim.archive_max_bytes))
    except UnsafeArchive as exc:
        raise UnsafeArchive(f"the uploaded {fmt} input is rejected: {exc.message}") from None


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


# Listing runs is a read of one index range: like ``_RUN_OF_APP``, a Core statement on a plain connection.
# The application is a scalar subquery, not a join: PostgreSQL then knows ``app_pk`` is one value and
# reads the (app_pk, created_at, id) index in order, 51 rows; with a join it sorted all the app's runs
# (585 ms at a million runs).
_APP_PK = (
    select(Application.__table__.c.pk)
    .where(Application.__table__.c.account_id == bindparam("account_id"), Application.__table__.c.id == bindparam("app_id"))
    .scalar_subquery()
)
_RUNS_OF_APP = select(Run.__table__).where(Run.__table__.c.app_pk == _APP_PK)


def list_runs(platform: Platform, principal: Principal, app_id: str, *, token: str | None, limit: int | None) -> Page[Run]:
    """The caller's runs newest first, read-only rows with ``Run``'s columns; ``NotFound`` if the app is not theirs."""
    table = Run.__table__
    with platform.db.engine.connect() as conn:
        page = paginate_rows(conn, _RUNS_OF_APP, created=table.c.created_at, key=table.c.id, token=token, limit=limit,
                             params={"account_id": principal.account_id, "app_id": app_id})
    if not page.items:
        with platform.db.session() as s:
            load_app(s, principal, app_id)  # an app without (more) runs, or the right NotFound
    return page  # type: ignore[return-value]  # Rows with Run's columns


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
    elif platform.run_events is not None:
        platform.run_events.notify(run_id)


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

def status_among(column: Any, statuses: frozenset[RunStatus]) -> ColumnElement[bool]:
    """``column`` is one of ``statuses``, as plain comparisons: ``IN`` with a list would be an expanding
    parameter, which SQLAlchemy renders anew on every execution of a statement built once."""
    return or_(*(column == s.value for s in sorted(statuses)))


def transition(session: Session, run_id: str, target: RunStatus, **values: Any) -> bool:
    """Move a run to ``target`` only from a status the state machine allows; True if it moved."""
    # A Core UPDATE on the table: the ORM's bulk-update path would first evaluate the criteria against
    # every object in the session, which cost more than the statement on the hot path of every run.
    runs = Run.__table__
    allowed = status_among(runs.c.status, states.sources_of(target))
    result = session.execute(update(runs).where(runs.c.id == run_id, allowed).values(status=target.value, **values))
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


# Every run ends through these two statements, built once: a ``PointRead``, then the update for its status.
_RUNS = Run.__table__
_FINISH_READ = select(_RUNS.c.status, _RUNS.c.cancel_requested, _RUNS.c.started_at, _RUNS.c.created_at).where(
    _RUNS.c.id == bindparam("run_id"))
_FINISHED_COLUMNS = ("status", "error", "finished_at", "duration_ms", "execution_ms", "output_size", "has_output",
                     "statistics", "metrics", "error_log")
_FINISH = {  # by terminal status: the statuses it may be reached from are part of the statement
    target: update(_RUNS)
    .where(_RUNS.c.id == bindparam("run_id"), status_among(_RUNS.c.status, states.sources_of(target)))
    .values({name: bindparam(f"new_{name}", type_=_RUNS.c[name].type) for name in _FINISHED_COLUMNS})
    for target in states.TERMINAL
}


def finish_run(platform: Platform, run_id: str, report: RunReport) -> RunStatus | None:
    """Store what the runner produced and move the run to its terminal status: the status is read, the
    output stored (with no transaction open: an upload to S3 takes time), then the status moved if it
    still may."""
    run = platform.db.first(_FINISH_READ, {"run_id": run_id})
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
    store_assets(platform, run_id, report.assets)
    now = datetime.now(UTC)
    values: dict[str, Any] = {
        "status": status.value,
        "error": error,
        "finished_at": now,
        "duration_ms": (now - started).total_seconds() * 1000,
        "execution_ms": report.execution_ms,
        "output_size": size,
        "has_output": has_output,
        "statistics": report.statistics if isinstance(report.statistics, dict) else None,
        "metrics": report.metrics if isinstance(report.metrics, dict) else None,
        "error_log": {"error": error, "stdout": report.stdout_tail, "stderr": report.stderr_tail}
        if status is RunStatus.FAILED else None,
    }
    params = {f"new_{name}": value for name, value in values.items()}
    with platform.db.engine.begin() as conn:
        moved = conn.execute(_FINISH[status], {"run_id": run_id, **params}).rowcount
    return status if moved else None


def _store_output(platform: Platform, run_id: str, path: Path | None) -> tuple[int, bool]:
    """Store the output file the runner left (it is the runner's to give: it may be moved, not copied).
    Only a regular file counts: a symlink the app put in its place is no output."""
    if path is None:
        return 0, False
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return 0, False
    if not stat.S_ISREG(mode):
        return 0, False
    return platform.blobs.put_local_file(output_key(run_id), path), True


# --- tracked (external) runs --------------------------------------------------------------

TRACKED_STATUSES = {"succeeded": RunStatus.SUCCEEDED, "failed": RunStatus.FAILED}
SMALL_JSON = 16 * 1024 * 1024


def _upload_json(platform: Platform, session: Session, app: Application, upload_id: str | None, key: str) -> Any:
    if not upload_id:
        return None
    upload = resolve_upload(session, app, upload_id)
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
        key, size = _store_input(platform, s, app, run_id, request)
        statistics = _upload_json(platform, s, app, result.get("statistics_upload_id"), "statistics")
        metrics = _upload_json(platform, s, app, result.get("metrics_upload_id"), "metrics")
        assets = _upload_json(platform, s, app, result.get("assets_upload_id"), "assets")
        output = resolve_upload(s, app, result["output_upload_id"]) if result.get("output_upload_id") else None
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
    store_assets(platform, run_id, assets)
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


# --- live logs and the account queue -------------------------------------------------------

@dataclass
class LogPage:
    records: list[dict[str, str]]
    next_token: str
    status: str


def live_logs(platform: Platform, principal: Principal, app_id: str, run_id: str, since: str | None, max_bytes: int = 1024 * 1024) -> LogPage:
    """Log lines written after ``since`` (a byte offset token), with the run's status read first."""
    run = get_run(platform, principal, app_id, run_id)
    try:
        offset = int(since) if since else 0
    except ValueError:
        raise Invalid("since must be a token returned as next_page_token") from None
    key = log_key(run_id)
    records: list[dict[str, str]] = []
    if platform.blobs.exists(key):
        with platform.blobs.open(key) as f:
            f.seek(offset)
            data = f.read(max_bytes)
        complete = data[: data.rfind(b"\n") + 1]
        offset += len(complete)
        for raw in complete.splitlines():
            try:
                rec = json.loads(raw)
            except ValueError:
                continue
            records.append({"timestamp": rec.get("t", ""), "log": rec.get("l", "")})
    return LogPage(records=records, next_token=str(offset), status=run.status)


def account_queue(platform: Platform, principal: Principal) -> list[Run]:
    """The account's runs that are waiting or executing, in the order they will be served."""
    with platform.db.session() as s:
        query = (
            select(Run)
            .where(Run.account_id == principal.account_id, Run.status.in_((RunStatus.QUEUED.value, RunStatus.RUNNING.value)))
            .order_by(Run.status.desc(), Run.priority, Run.created_at)
        )
        return list(s.scalars(query))


# --- assets ----------------------------------------------------------------------------------

def assets_key(run_id: str) -> str:
    return f"runs/{run_id}/assets.json"


def store_assets(platform: Platform, run_id: str, assets: Any) -> None:
    """Keep a run's assets: an index plus one blob per asset's content."""
    if isinstance(assets, dict):
        assets = assets.get("assets")
    if not isinstance(assets, list) or not assets:
        return
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    index = []
    for i, asset in enumerate(a for a in assets if isinstance(a, dict)):
        asset_id = f"asset-{i}"
        content = json.dumps(asset.get("content"), separators=(",", ":")).encode()
        platform.blobs.put_bytes(f"runs/{run_id}/assets/{asset_id}", content)
        entry = {"id": asset_id, "name": str(asset.get("name") or asset_id), "created_at": now, "size": len(content),
                 "content_type": str(asset.get("content_type") or "json")}
        if isinstance(asset.get("visual"), dict):
            entry["visual"] = asset["visual"]
        if asset.get("description"):
            entry["description"] = str(asset["description"])
        index.append(entry)
    platform.blobs.put_bytes(assets_key(run_id), json.dumps(index).encode())


def list_assets(platform: Platform, principal: Principal, app_id: str, run_id: str) -> list[dict[str, Any]]:
    get_run(platform, principal, app_id, run_id)
    if not platform.blobs.exists(assets_key(run_id)):
        return []
    return list(json.loads(platform.blobs.get_bytes(assets_key(run_id))))


def asset_key(platform: Platform, principal: Principal, app_id: str, run_id: str, asset_id: str) -> tuple[str, str]:
    for entry in list_assets(platform, principal, app_id, run_id):
        if entry["id"] == asset_id:
            return f"runs/{run_id}/assets/{asset_id}", entry.get("content_type", "json")
    raise NotFound(f"asset {asset_id!r} of run {run_id!r} does not exist")
