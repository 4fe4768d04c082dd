"""Managed inputs and input sets: fixed inputs for experiments, from uploads, runs or time windows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from runyard.domain.errors import Conflict, Invalid, NotFound
from runyard.domain.ids import new_id
from runyard.services.apps import check_user_id, load_app
from runyard.services.blob_keys import managed_inputs_prefix
from runyard.services.pagination import Page, paginate
from runyard.services.platform import Platform, Principal
from runyard.services.runs.requests import RunSource
from runyard.services.uploads import resolve_upload
from runyard.storage.db import Application, Experiment, InputSet, ManagedInput, Run


def _format(raw: Any) -> dict[str, Any]:
    if raw is None:
        return {"input": {"type": "json"}}
    if not isinstance(raw, dict) or not isinstance(raw.get("input", {}), dict):
        raise Invalid("format must be an object like {\"input\": {\"type\": \"json\"}}")
    kind = (raw.get("input") or {}).get("type", "json")
    if kind not in ("json", "text", "csv", "csv-archive", "multi-file"):
        raise Invalid(f"format.input.type {kind!r} is not json, text, csv-archive or multi-file")
    return raw


def load_managed_input(session: Session, app: Application, input_id: str) -> ManagedInput:
    row = session.scalar(select(ManagedInput).where(ManagedInput.app_pk == app.pk, ManagedInput.id == input_id))
    if row is None:
        raise NotFound(f"managed input {input_id!r} of application {app.id!r} does not exist")
    return row


def resolve_input(session: Session, app: Application, input_id: str) -> RunSource:
    """A managed input, or the input of a run of the same app (experiments accept both as input ids)."""
    row = session.scalar(select(ManagedInput).where(ManagedInput.app_pk == app.pk, ManagedInput.id == input_id))
    if row is not None:
        kind = ((row.format or {}).get("input") or {}).get("type", "json")
        return RunSource(key=row.blob_key, size=row.size, format="csv-archive" if kind == "csv" else kind)
    run = session.scalar(select(Run).where(Run.app_pk == app.pk, Run.id == input_id))
    if run is None:
        raise NotFound(f"input {input_id!r} is neither a managed input nor a run of application {app.id!r}")
    return RunSource(key=run.input_key, size=run.input_size, format=run.input_format)


@dataclass
class InputFields:
    name: str | None = None
    description: str | None = None


def create_managed_input(platform: Platform, principal: Principal, app_id: str, *, input_id: str | None, fields: InputFields,
                         upload_id: str | None, run_id: str | None, fmt: Any) -> ManagedInput:
    if bool(upload_id) == bool(run_id):
        raise Invalid("send exactly one of upload_id and run_id")
    with platform.db.session() as s:
        app = load_app(s, principal, app_id)
        input_id = check_user_id(input_id, "managed input id") if input_id else new_id("managed-input")
        if s.scalar(select(ManagedInput.pk).where(ManagedInput.app_pk == app.pk, ManagedInput.id == input_id)):
            raise Conflict(f"managed input {input_id!r} already exists")
        if upload_id:
            upload = resolve_upload(s, app, upload_id, platform=platform)
            source, fmt = upload.blob_key, _format(fmt)
        else:
            run = s.scalar(select(Run).where(Run.app_pk == app.pk, Run.id == run_id))
            if run is None:
                raise NotFound(f"run {run_id!r} of application {app.id!r} does not exist")
            if run.input_key is None:
                raise Invalid(f"run {run_id!r} has no input")
            source = run.input_key
            fmt = _format(fmt) if fmt else {"input": {"type": run.input_format}, "output": {"type": run.output_format}}
        # The input keeps its own copy: the run it came from may be deleted (with its files), and an
        # upload URL accepts new data until it expires; a managed input must not change or vanish.
        key = managed_input_key(app)
        size = platform.blobs.copy(source, key)
        row = ManagedInput(app_pk=app.pk, id=input_id, name=(fields.name or "").strip() or input_id, description=fields.description or "",
                           upload_id=upload_id, run_id=run_id, blob_key=key, size=size, format=fmt)
        s.add(row)
        try:
            s.flush()
        except Exception:
            platform.blobs.delete(key)
            raise
        return row


def managed_input_key(app: Application) -> str:
    """A fresh blob key under the application's prefix (deleted with the application)."""
    return f"{managed_inputs_prefix(app.pk)}{new_id('data', 16)}"


def get_managed_input(platform: Platform, principal: Principal, app_id: str, input_id: str) -> ManagedInput:
    with platform.db.session() as s:
        return load_managed_input(s, load_app(s, principal, app_id), input_id)


def list_managed_inputs(platform: Platform, principal: Principal, app_id: str, *, token: str | None, limit: int | None) -> Page[ManagedInput]:
    with platform.db.session() as s:
        app = load_app(s, principal, app_id)
        query = select(ManagedInput).where(ManagedInput.app_pk == app.pk)
        return paginate(s, query, created=ManagedInput.created_at, key=ManagedInput.id, token=token, limit=limit)


def update_managed_input(platform: Platform, principal: Principal, app_id: str, input_id: str, fields: InputFields) -> ManagedInput:
    with platform.db.session() as s:
        row = load_managed_input(s, load_app(s, principal, app_id), input_id)
        if fields.name is not None:
            row.name = fields.name.strip() or row.id
        if fields.description is not None:
            row.description = fields.description
        row.updated_at = datetime.now(UTC)
        return row


def delete_managed_input(platform: Platform, principal: Principal, app_id: str, input_id: str) -> None:
    with platform.db.session() as s:
        app = load_app(s, principal, app_id)
        row = load_managed_input(s, app, input_id)
        users = [i.id for i in s.scalars(select(InputSet).where(InputSet.app_pk == app.pk)) if input_id in (i.input_ids or [])]
        if users:
            raise Conflict(f"managed input {input_id!r} is part of input sets {', '.join(users)}; remove it from them first")
        key = row.blob_key
        # Runs made from the input read it from this blob: it goes only when no run refers to it.
        in_use = s.scalar(select(Run.id).where(Run.app_pk == app.pk, Run.input_key == key).limit(1)) is not None
        s.delete(row)
    if key.startswith(managed_inputs_prefix(app.pk)) and not in_use:
        platform.blobs.delete(key)


# --- input sets ----------------------------------------------------------------------------

@dataclass
class InputSetRequest:
    input_set_id: str | None = None
    name: str | None = None
    description: str | None = None
    instance_id: str | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    maximum_runs: int | None = None
    run_ids: list[str] | None = None
    input_ids: list[str] | None = None


def _ids_from_window(session: Session, app: Application, req: InputSetRequest) -> list[str]:
    # Runs an experiment made replay inputs that are already in a set: only the instance's own traffic counts.
    query = select(Run.id).where(Run.app_pk == app.pk, Run.instance_id == req.instance_id, Run.input_key.is_not(None),
                                 Run.status == "succeeded", Run.run_type == "standard", Run.experiment_id.is_(None))
    if req.start_time is not None:
        query = query.where(Run.created_at >= req.start_time)
    if req.end_time is not None:
        query = query.where(Run.created_at <= req.end_time)
    limit = req.maximum_runs if req.maximum_runs and req.maximum_runs > 0 else 20
    return list(session.scalars(query.order_by(Run.created_at.desc()).limit(limit)))


def create_input_set(platform: Platform, principal: Principal, app_id: str, req: InputSetRequest) -> InputSet:
    with platform.db.session() as s:
        app = load_app(s, principal, app_id)
        set_id = check_user_id(req.input_set_id, "input set id") if req.input_set_id else new_id("input-set")
        if s.scalar(select(InputSet.pk).where(InputSet.app_pk == app.pk, InputSet.id == set_id)):
            raise Conflict(f"input set {set_id!r} already exists")
        if req.input_ids:
            ids = list(dict.fromkeys(req.input_ids))
        elif req.run_ids:
            ids = list(dict.fromkeys(req.run_ids))
        elif req.instance_id:
            ids = _ids_from_window(s, app, req)
        else:
            raise Invalid("an input set needs inputs, run_ids, or an instance_id with a time window")
        for input_id in ids:
            resolve_input(s, app, input_id)
        if not ids:
            raise Invalid("the input set would be empty: no matching runs or inputs")
        row = InputSet(app_pk=app.pk, id=set_id, name=(req.name or "").strip() or set_id, description=req.description or "", input_ids=ids)
        s.add(row)
        s.flush()
        return row


def load_input_set(session: Session, app: Application, set_id: str) -> InputSet:
    row = session.scalar(select(InputSet).where(InputSet.app_pk == app.pk, InputSet.id == set_id))
    if row is None:
        raise NotFound(f"input set {set_id!r} of application {app.id!r} does not exist")
    return row


def get_input_set(platform: Platform, principal: Principal, app_id: str, set_id: str) -> tuple[InputSet, list[dict[str, Any]]]:
    with platform.db.session() as s:
        app = load_app(s, principal, app_id)
        row = load_input_set(s, app, set_id)
        return row, set_inputs(s, app, row)


def set_inputs(session: Session, app: Application, row: InputSet) -> list[dict[str, Any]]:
    """The set's inputs as ManagedInput objects (run-based ids appear with their run_id)."""
    managed = {m.id: m for m in session.scalars(select(ManagedInput).where(ManagedInput.app_pk == app.pk, ManagedInput.id.in_(row.input_ids or [])))}
    runs = {r.id: r for r in session.scalars(select(Run).where(Run.app_pk == app.pk, Run.id.in_(row.input_ids or [])))}
    out: list[dict[str, Any]] = []
    for input_id in row.input_ids or []:
        if input_id in managed:
            out.append({"kind": "managed", "row": managed[input_id]})
        elif input_id in runs:
            out.append({"kind": "run", "row": runs[input_id]})
    return out


def list_input_sets(platform: Platform, principal: Principal, app_id: str, *, token: str | None, limit: int | None) -> tuple[Page[InputSet], dict[str, list[dict[str, Any]]]]:
    with platform.db.session() as s:
        app = load_app(s, principal, app_id)
        page = paginate(s, select(InputSet).where(InputSet.app_pk == app.pk), created=InputSet.created_at, key=InputSet.id, token=token, limit=limit)
        return page, {row.id: set_inputs(s, app, row) for row in page.items}


def update_input_set(platform: Platform, principal: Principal, app_id: str, set_id: str, *, name: str | None,
                     description: str | None, input_ids: list[str] | None) -> tuple[InputSet, list[dict[str, Any]]]:
    with platform.db.session() as s:
        app = load_app(s, principal, app_id)
        row = load_input_set(s, app, set_id)
        if name is not None:
            row.name = name.strip() or row.id
        if description is not None:
            row.description = description
        if input_ids:
            for input_id in input_ids:
                resolve_input(s, app, input_id)
            row.input_ids = list(dict.fromkeys(input_ids))
        row.updated_at = datetime.now(UTC)
        s.flush()
        return row, set_inputs(s, app, row)


def delete_input_set(platform: Platform, principal: Principal, app_id: str, set_id: str) -> None:
    with platform.db.session() as s:
        app = load_app(s, principal, app_id)
        row = load_input_set(s, app, set_id)
        direct = s.scalars(select(Experiment.id).where(Experiment.app_pk == app.pk, Experiment.input_set_id == set_id))
        # an experiment with explicit runs (a scenario test, say) may draw on several input sets
        by_run = s.scalars(select(Run.experiment_id).where(Run.app_pk == app.pk, Run.input_set_id == set_id,
                                                           Run.experiment_id.is_not(None)).distinct())
        users = sorted({*direct, *(e for e in by_run if e)})
        if users:
            raise Conflict(f"input set {set_id!r} is used by experiments {', '.join(users)}; delete them first")
        s.delete(row)
