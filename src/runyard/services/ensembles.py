"""Ensemble definitions (N1–N5) and ensemble runs.

An ensemble run fans out, on one input, into child runs: every run group × (repetitions + 1), queued
together through the normal queue. It is ``running`` from the start (no worker owns it: ``OWNER``)
and ends when its last child ends: with the winner's output, chosen by the definition's rules, or
failed with every child's error when none succeeded, or canceled.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from runyard.domain import online as dom
from runyard.domain.errors import Conflict, Invalid, NotFound
from runyard.domain.ids import new_id
from runyard.domain.options import option_value_str
from runyard.domain.runs import RunStatus, is_terminal
from runyard.services import events
from runyard.services.apps import check_user_id, load_app
from runyard.services.blob_keys import output_key
from runyard.services.inputs import resolve_input
from runyard.services.instances import load_instance
from runyard.services.pagination import Page, paginate
from runyard.services.platform import Platform, Principal
from runyard.services.runs import reads
from runyard.services.runs.requests import ExperimentFields, RunRequest, RunSource
from runyard.services.runs.submission import check_idempotency_key, insert_runs, prior_run, queued_run_row
from runyard.storage.db import Application, EnsembleDefinition, Run

log = logging.getLogger(__name__)

OWNER = "ensemble"  # an ensemble run is held by no worker: recovery and lease renewal leave it alone
MAX_CHILDREN = 100
OBJECTIVES, TOLERANCES = ("maximize", "minimize"), ("absolute", "relative")


# definitions
@dataclass
class DefinitionRequest:
    definition_id: str | None
    name: str | None
    description: str | None
    run_groups: Any
    rules: Any


def _run_groups(session: Session, app: Application, raw: Any) -> list[dict[str, Any]]:
    if not isinstance(raw, list) or not raw:
        raise Invalid("run_groups must be a non-empty list of run groups")
    groups, seen, children = [], set(), 0
    for i, group in enumerate(raw):
        if not isinstance(group, dict) or not isinstance(group.get("id"), str) or not isinstance(group.get("instance_id"), str):
            raise Invalid(f"run_groups[{i}] needs a string id and instance_id")
        if group["id"] in seen:
            raise Invalid(f"run_groups[{i}].id {group['id']!r} is used twice")
        seen.add(group["id"])
        load_instance(session, app, group["instance_id"])
        options = group.get("options") or {}
        if not isinstance(options, dict):
            raise Invalid(f"run_groups[{i}].options must be an object")
        reps = group.get("repetitions") or 0
        if isinstance(reps, bool) or not isinstance(reps, int) or reps < 0:
            raise Invalid(f"run_groups[{i}].repetitions must be an integer ≥ 0")
        children += reps + 1
        out: dict[str, Any] = {"id": group["id"], "instance_id": group["instance_id"], "repetitions": reps}
        if options:
            out["options"] = {k: option_value_str(v) for k, v in options.items()}
        groups.append(out)
    if children > MAX_CHILDREN:
        raise Invalid(f"an ensemble run may have at most {MAX_CHILDREN} child runs; these run groups make {children}")
    return groups


def _rules(raw: Any) -> list[dict[str, Any]]:
    if not isinstance(raw, list):
        raise Invalid("rules must be a list of evaluation rules")
    rules, seen = [], set()
    for i, rule in enumerate(raw):
        where = f"rules[{i}]"
        if not isinstance(rule, dict) or not isinstance(rule.get("id"), str) or not isinstance(rule.get("statistics_path"), str):
            raise Invalid(f"{where} needs a string id and statistics_path")
        if rule.get("objective") not in OBJECTIVES:
            raise Invalid(f"{where}.objective must be 'maximize' or 'minimize'")
        tol = rule.get("tolerance")
        if not isinstance(tol, dict) or tol.get("type") not in TOLERANCES or isinstance(tol.get("value"), bool) \
                or not isinstance(tol.get("value"), int | float) or tol["value"] < 0:
            raise Invalid(f"{where}.tolerance needs a type ('absolute' or 'relative') and a value ≥ 0")
        index = rule.get("index")
        if isinstance(index, bool) or not isinstance(index, int):
            raise Invalid(f"{where}.index must be an integer")
        if index in seen:
            raise Invalid(f"{where}.index {index} is used twice")
        seen.add(index)
        rules.append({"id": rule["id"], "statistics_path": rule["statistics_path"], "objective": rule["objective"],
                      "tolerance": {"value": float(tol["value"]), "type": tol["type"]}, "index": index})
    return sorted(rules, key=lambda r: r["index"])


def create_definition(platform: Platform, principal: Principal, app_id: str, req: DefinitionRequest) -> EnsembleDefinition:
    with platform.db.session() as s:
        app = load_app(s, principal, app_id)
        def_id = check_user_id(req.definition_id, "ensemble definition id") if req.definition_id else new_id("ensemble")
        if s.scalar(select(EnsembleDefinition.pk).where(EnsembleDefinition.app_pk == app.pk, EnsembleDefinition.id == def_id)):
            raise Conflict(f"ensemble definition {def_id!r} already exists")
        now = datetime.now(UTC)
        row = EnsembleDefinition(app_pk=app.pk, id=def_id, name=(req.name or "").strip() or def_id, description=req.description or "",
                                 run_groups=_run_groups(s, app, req.run_groups), rules=_rules(req.rules), created_at=now, updated_at=now)
        s.add(row)
        s.flush()
        return row


def load_definition(session: Session, app: Application, def_id: str) -> EnsembleDefinition:
    row = session.scalar(select(EnsembleDefinition).where(EnsembleDefinition.app_pk == app.pk, EnsembleDefinition.id == def_id))
    if row is None:
        raise NotFound(f"ensemble definition {def_id!r} of application {app.id!r} does not exist")
    return row


def get_definition(platform: Platform, principal: Principal, app_id: str, def_id: str) -> EnsembleDefinition:
    with platform.db.session() as s:
        return load_definition(s, load_app(s, principal, app_id), def_id)


def list_definitions(platform: Platform, principal: Principal, app_id: str, *, token: str | None,
                     limit: int | None) -> Page[EnsembleDefinition]:
    with platform.db.session() as s:
        app = load_app(s, principal, app_id)
        query = select(EnsembleDefinition).where(EnsembleDefinition.app_pk == app.pk)
        return paginate(s, query, created=EnsembleDefinition.created_at, key=EnsembleDefinition.id, token=token, limit=limit)


def update_definition(platform: Platform, principal: Principal, app_id: str, def_id: str, *, name: str | None,
                      description: str | None) -> EnsembleDefinition:
    if not (name or "").strip() and description is None:
        raise Invalid("send a name or a description to change")
    with platform.db.session() as s:
        row = load_definition(s, load_app(s, principal, app_id), def_id)
        if name is not None and name.strip():
            row.name = name.strip()
        if description is not None:
            row.description = description
        row.updated_at = datetime.now(UTC)
        return row


def delete_definition(platform: Platform, principal: Principal, app_id: str, def_id: str) -> None:
    with platform.db.session() as s:
        row = load_definition(s, load_app(s, principal, app_id), def_id)
        s.execute(delete(EnsembleDefinition).where(EnsembleDefinition.pk == row.pk))


# ensemble runs
def submit_ensemble_run(platform: Platform, principal: Principal, app_id: str, request: RunRequest, *,
                        input_id: str | None = None) -> str:
    """The ensemble run (running at once, held by no worker) and its child runs, queued together."""
    check_idempotency_key(request)
    run_type = request.configuration.get("run_type") or {}
    def_id = run_type.get("definition_id")
    if not isinstance(def_id, str) or not def_id:
        raise Invalid("configuration.run_type.definition_id is required for an ensemble run")
    with platform.db.session() as s:
        app = load_app(s, principal, app_id)
        if request.idempotency_key:
            prior = prior_run(s, app.pk, request.idempotency_key)
            if prior is not None:
                return prior
        definition = load_definition(s, app, def_id)
        source = resolve_input(s, app, input_id) if input_id else None
        groups = definition.run_groups
        parent_request = RunRequest(**{**request.__dict__, "instance_id": groups[0]["instance_id"]})
        parent = queued_run_row(platform, s, principal, app, parent_request, source=source,
                                experiment=ExperimentFields(input_id=input_id) if input_id else None)
        now = datetime.now(UTC)
        parent.update(run_type="ensemble", status=RunStatus.RUNNING.value, owner=OWNER, started_at=now, instance_id="",
                      routing={"ensemble": {"definition_id": def_id, "status": "running", "rules": list(definition.rules)}})
        source = RunSource(key=parent["input_key"], size=int(parent["input_size"] or 0), format=parent["input_format"])
        child_config = {k: v for k, v in request.configuration.items() if k not in ("run_type", "queuing")}
        rows, targets = [], {}  # type: ignore[var-annotated]
        for group in groups:
            for repetition in range(int(group.get("repetitions") or 0) + 1):
                child = RunRequest(instance_id=group["instance_id"], options={**request.options, **(group.get("options") or {})},
                                   configuration=child_config, name=f"{request.name or parent['id']} {group['id']} #{repetition}",
                                   description=request.description)
                row = queued_run_row(platform, s, principal, app, child, source=source, targets=targets,
                                     experiment=ExperimentFields(repetition=repetition))
                row.update(run_type="ensemble-child", parent_run_id=parent["id"],
                           routing={"ensemble_run_id": parent["id"], "run_group_id": group["id"], "order": len(rows)})
                rows.append(row)
        insert_runs(s, [parent])  # (apart: its columns differ from its children's)
        insert_runs(s, rows)
    platform.start_queued()
    return str(parent["id"])


def _children(s: Session, parent_id: str) -> list[Run]:
    rows = s.scalars(select(Run).where(Run.parent_run_id == parent_id))
    return sorted(rows, key=lambda r: (r.routing or {}).get("order", 0))


def child_ended(platform: Platform, parent_id: str) -> None:
    """A child ended: once the last one has, the ensemble run ends as its children decide."""
    with platform.db.session() as s:
        parent = s.scalar(select(Run).where(Run.id == parent_id).with_for_update())
        if parent is None or is_terminal(parent.status):
            return
        children = _children(s, parent_id)
        if any(not is_terminal(c.status) for c in children):
            return
        _finish(platform, s, parent, children)
    if platform.run_events is not None:
        platform.run_events.notify(parent_id)


def _finish(platform: Platform, s: Session, parent: Run, children: list[Run]) -> None:
    definition = (parent.routing or {}).get("ensemble", {})
    rules_doc = list(definition.get("rules") or [])  # as they were when the run was submitted
    rules = [dom.rule_from(r) for r in rules_doc]
    values = [{"id": c.id, "status": c.status, "statistics": c.statistics} for c in children]
    winner_id, evaluations = dom.choose_winner(rules, values)
    now = datetime.now(UTC)
    summary = {**definition, "rules": rules_doc, "winner_run_id": winner_id, "evaluations": evaluations}
    done: dict[str, Any] = {"finished_at": now, "owner": None,
                            "duration_ms": (now - (parent.started_at or parent.created_at)).total_seconds() * 1000}
    if parent.cancel_requested:
        done.update(status=RunStatus.CANCELED.value, error="run was canceled")
    elif winner_id is None:
        errors = "; ".join(f"{c.id}: {c.error or c.status}" for c in children)
        done.update(status=RunStatus.FAILED.value, error=f"every child run failed: {errors}",
                    error_log={"error": f"every child run failed: {errors}", "stdout": "", "stderr": ""})
    else:
        winner = next(c for c in children if c.id == winner_id)
        if winner.has_output:
            platform.blobs.copy(output_key(winner.id), output_key(parent.id))
        done.update(status=RunStatus.SUCCEEDED.value, has_output=winner.has_output, output_size=winner.output_size,
                    output_format=winner.output_format, statistics=winner.statistics, metrics=winner.metrics,
                    version_id=winner.version_id, instance_id=winner.instance_id, execution_ms=winner.execution_ms)
    summary["status"] = done["status"]
    done["routing"] = {"ensemble": summary}
    moved = s.execute(update(Run).where(Run.id == parent.id, Run.status == RunStatus.RUNNING.value).values(**done)).rowcount
    if not moved:
        return
    events.record_run_status(s, [parent.id], now=now)
    if winner_id is not None:
        app = s.get(Application, parent.app_pk)
        if app is not None:
            events.emit(s, "ensemble.winner", {
                "run_id": parent.id, "application_id": app.id, "definition_id": definition.get("id"),
                "winner_run_id": winner_id, "evaluations": evaluations, "created_at": now.isoformat().replace("+00:00", "Z")},
                account_id=app.account_id, subject=parent.id, app_id=app.id, detail="winner")


def cancel_run(platform: Platform, principal: Principal, app_id: str, run_id: str) -> None:
    """Cancel a run; an ensemble run's children are canceled with it."""
    reads.cancel_run(platform, principal, app_id, run_id)
    with platform.db.session() as s:
        run = reads.load_run(s, load_app(s, principal, app_id), run_id)
        if run.run_type != "ensemble":
            return
        ids = [c.id for c in _children(s, run_id) if not is_terminal(c.status)]
    for child_id in ids:
        try:
            reads.cancel_run(platform, principal, app_id, child_id)
        except Conflict:  # it ended meanwhile
            pass
    child_ended(platform, run_id)


def ensemble_result(platform: Platform, principal: Principal, app_id: str, run_id: str) -> dict[str, Any]:
    """``GET …/runs/{id}/ensemble``: the children, each rule's evaluation and the winner.

    An ensemble run whose children all ended without a report (a lost worker's runs are failed by
    recovery, not finished) is ended here."""
    with platform.db.session() as s:
        parent = reads.load_run(s, load_app(s, principal, app_id), run_id)
        pending = parent.run_type == "ensemble" and parent.status == RunStatus.RUNNING.value
    if pending:
        child_ended(platform, run_id)
    with platform.db.session() as s:
        run = reads.load_run(s, load_app(s, principal, app_id), run_id)
        if run.run_type != "ensemble":
            raise NotFound(f"run {run_id!r} is not an ensemble run")
        summary = dict((run.routing or {}).get("ensemble") or {})
        children = _children(s, run_id)
        return {
            "id": run.id, "status_v2": run.status, "definition_id": summary.get("definition_id"),
            "winner_run_id": summary.get("winner_run_id"),
            "child_runs": [{"id": c.id, "run_group_id": (c.routing or {}).get("run_group_id"), "repetition": c.repetition,
                            "instance_id": c.instance_id, "status_v2": c.status, "statistics": c.statistics,
                            "error": c.error or ""} for c in children],
            "rule_evaluations": summary.get("evaluations", []),
            "rules": summary.get("rules", []),
        }
