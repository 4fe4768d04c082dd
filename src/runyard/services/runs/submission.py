"""Submitting a run: target lookup, formats, options, capacity, input storage, the queued row."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import String, and_, bindparam, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from runyard.domain.errors import CapacityExhausted, Conflict, Invalid, UnsafeArchive
from runyard.domain.ids import new_id
from runyard.domain.manifest import ARCHIVE_OUTPUTS, Manifest, parse_manifest
from runyard.domain.memo import Memo
from runyard.domain.options import option_value_str
from runyard.domain.runs import RunStatus
from runyard.services.apps import load_app
from runyard.services.blob_keys import input_key, run_prefix
from runyard.services.events import record_run_status
from runyard.services.inputs import resolve_input
from runyard.services.instances import BUILTIN, check_configuration, load_instance
from runyard.services.platform import Platform, Principal
from runyard.services.runs.options import resolve_options
from runyard.services.runs.requests import ExperimentFields, RunRequest, RunSource
from runyard.services.secrets import check_exists as check_secrets
from runyard.services.uploads import resolve_upload
from runyard.services.versions import bundle_of, load_version
from runyard.storage.archives import ArchiveLimits, inspect_archive
from runyard.storage.db import Application, Bundle, Instance, Run, Version

INPUT_FORMATS = ("json", "text", "csv", "csv-archive", "multi-file")
OUTPUT_FORMATS = ("json", "text", "csv-archive", "multi-file")
ARCHIVE_INPUTS = ("csv-archive", "multi-file")


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
    if out_type in ARCHIVE_OUTPUTS and manifest_out in ("json", "text"):
        pass  # asked for an archive of a json app: its output files are collected as asked (with_output_format)
    else:
        out_type = manifest_out if manifest_out != "text" else (out_type or "json")
    if out_type not in OUTPUT_FORMATS:
        raise Invalid(f"configuration.format.output.type {out_type!r} is not one of {', '.join(OUTPUT_FORMATS)}")
    return in_type, out_type


def _execution(platform: Platform, configuration: dict[str, Any], instance_cfg: dict[str, Any]) -> tuple[str, int, bool]:
    cls = configuration.get("execution_class") or instance_cfg.get("execution_class") or platform.settings.execution.default_class
    queuing = {**(instance_cfg.get("queuing") or {}), **(configuration.get("queuing") or {})}
    return cls, int(queuing.get("priority") or 6), bool(queuing.get("disabled") or False)


MAX_IDEMPOTENCY_KEY = 128  # the column's width


def check_idempotency_key(request: RunRequest) -> None:
    if request.idempotency_key and len(request.idempotency_key) > MAX_IDEMPOTENCY_KEY:
        raise Invalid(f"the Idempotency-Key header is limited to {MAX_IDEMPOTENCY_KEY} characters")


@dataclass
class Routed:
    """What a submission hook decided for one run: the request to queue (perhaps on another instance),
    columns to set on its row, work in the submission's transaction, and work once it has committed."""

    request: RunRequest
    row: dict[str, Any] = field(default_factory=dict)
    on_insert: Callable[[Session, dict[str, Any]], None] | None = None
    after_commit: Callable[[dict[str, Any]], None] | None = None


# (session, application, request) → Routed: how shadow and switchback tests act on a plain submission
SubmissionHook = Callable[[Session, "AppRef | Application", RunRequest], Routed]


def submit_run(platform: Platform, principal: Principal, app_id: str, request: RunRequest, *,
               input_id: str | None = None, hook: SubmissionHook | None = None) -> str:
    """Validate and queue a run; returns its id. A retried request with the same idempotency key returns
    the first run, also when both arrive at once (the unique key decides; the loser answers the winner's id)."""
    check_idempotency_key(request)
    row: dict[str, Any] | None = None
    try:
        with platform.db.session() as s:
            found = submission_target(s, principal, app_id, request.instance_id)
            app, targets = found if found is not None else (load_app(s, principal, app_id), None)
            if request.idempotency_key:
                prior = prior_run(s, app.pk, request.idempotency_key)
                if prior is not None:
                    return prior
            source = resolve_input(s, load_app(s, principal, app_id), input_id) if input_id else None
            routed = hook(s, app, request) if hook is not None else Routed(request)
            if routed.request.instance_id != request.instance_id:
                targets = None  # routed elsewhere: the target looked up above is not the one that runs
            experiment = ExperimentFields(input_id=input_id) if input_id else None
            row = queued_run_row(platform, s, principal, app, routed.request, source=source, experiment=experiment,
                                 targets=targets)
            row.update(routed.row)
            if request.cloned_run_id:
                row["cloned_run_id"] = request.cloned_run_id
            insert_runs(s, [row])
            if routed.on_insert is not None:
                routed.on_insert(s, row)
    except IntegrityError:
        # The same key, sent twice at once: the other request made the run, and this one answers with it.
        if not request.idempotency_key:
            raise
        with platform.db.session() as s:
            prior = prior_run(s, load_app(s, principal, app_id).pk, request.idempotency_key)
        if prior is None:
            raise
        if row is not None:  # the input this request stored under its own (never inserted) run
            platform.blobs.delete_prefix(run_prefix(row["id"]))
        return prior
    platform.start_queued()  # the run first: committed and started before any hook's follow-up
    if routed.after_commit is not None:
        routed.after_commit(row)
    return str(row["id"])


# (Built once: the SDKs send an idempotency key with every submission.)
_PRIOR_RUN = select(Run.__table__.c.id).where(Run.__table__.c.app_pk == bindparam("app_pk"),
                                              Run.__table__.c.idempotency_key == bindparam("key"))


def prior_run(session: Session, app_pk: int, idempotency_key: str) -> str | None:
    return session.execute(_PRIOR_RUN, {"app_pk": app_pk, "key": idempotency_key}).scalar()


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


def submission_target(session: Session, principal: Principal, app_id: str, instance_id: str | None) -> tuple[AppRef, dict[tuple[str, str], Any]] | None:
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


def insert_runs(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert many rows made by :func:`queued_run_row` with one statement (executemany)."""
    if rows:
        session.execute(insert(Run.__table__), rows)
        record_run_status(session, [row["id"] for row in rows])


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
    active, summary = resolve_options(manifest, instance_options, request.options)
    cls, default_priority, no_queue = _execution(platform, request.configuration, instance_cfg)
    if no_queue and not _capacity_now(platform, session, cls):
        raise CapacityExhausted(f"no capacity is free in execution class {cls!r} and queuing is disabled")
    secrets_id = request.configuration.get("secrets_collection_id") or instance_cfg.get("secrets_collection_id")
    check_secrets(session, app, secrets_id)
    if source is None and in_fmt in ARCHIVE_INPUTS:
        _check_input_archive(platform, session, app, request, in_fmt)
    key, size = (source.key, source.size) if source is not None else store_input(platform, session, app, run_id, request)
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
            "active": active,  # resolved once, here: what the runner renders into argv
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
    upload = resolve_upload(session, app, request.upload_id, platform=platform)
    if not upload.size:
        return
    lim = platform.settings.limits
    try:
        with platform.blobs.open(upload.blob_key) as f:
            inspect_archive(f, ArchiveLimits(max_files=lim.archive_max_files, max_bytes=lim.archive_max_bytes))
    except UnsafeArchive as exc:
        raise UnsafeArchive(f"the uploaded {fmt} input is rejected: {exc.message}") from None


def store_input(platform: Platform, session: Session, app: Application, run_id: str, request: RunRequest) -> tuple[str | None, int]:
    """(blob key, size) of the request's input: its upload's blob, or the inline input stored now."""
    if request.upload_id:
        upload = resolve_upload(session, app, request.upload_id, platform=platform)
        return upload.blob_key, int(upload.size or 0)
    if not request.has_input:
        return None, 0
    data = request.input.encode() if isinstance(request.input, str) else json.dumps(request.input, separators=(",", ":")).encode()
    key = input_key(run_id)
    platform.blobs.put_bytes(key, data)
    return key, len(data)
