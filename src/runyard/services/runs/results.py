"""The end of a run: a backend's report (output and assets already stored, by key) turned into a final status."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, select, update

from runyard.domain import runs as states
from runyard.domain.errors import NotFound
from runyard.domain.runs import RunStatus
from runyard.execution.contract import RunReport
from runyard.services.blob_keys import asset_content_key, assets_key
from runyard.services.events import record_run_status
from runyard.services.platform import Platform, Principal
from runyard.services.runs.reads import get_run
from runyard.services.runs.transitions import status_among
from runyard.storage.db import Run

# Every run ends through these two statements, built once: a ``PointRead``, then the update for its status.
_RUNS = Run.__table__
_FINISH_READ = select(_RUNS.c.status, _RUNS.c.cancel_requested, _RUNS.c.started_at, _RUNS.c.created_at,
                      _RUNS.c.parent_run_id).where(
    _RUNS.c.id == bindparam("run_id"))
_FINISHED_COLUMNS = ("status", "error", "finished_at", "duration_ms", "execution_ms", "output_size", "has_output",
                     "statistics", "metrics", "error_log")
_FINISH = {  # by terminal status: the statuses it may be reached from are part of the statement
    target: update(_RUNS)
    .where(_RUNS.c.id == bindparam("run_id"), status_among(_RUNS.c.status, states.sources_of(target)))
    .values({name: bindparam(f"new_{name}", type_=_RUNS.c[name].type) for name in _FINISHED_COLUMNS})
    for target in states.TERMINAL
}
# A worker's report counts only while the run is still its own (another worker may have taken it over
# after this one's lease expired).
_FINISH_OWNED = {target: statement.where(_RUNS.c.owner == bindparam("by_owner")) for target, statement in _FINISH.items()}


def finish_run(platform: Platform, run_id: str, report: RunReport, *, owner: str | None = None) -> RunStatus | None:
    """Move the run to the terminal status its report and its recorded cancel intent give: the status
    is read, then moved if it still may (another actor may have ended it meanwhile) and, with ``owner``,
    if that worker still owns it."""
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
    now = datetime.now(UTC)
    values: dict[str, Any] = {
        "status": status.value,
        "error": error,
        "finished_at": now,
        "duration_ms": (now - started).total_seconds() * 1000,
        "execution_ms": report.execution_ms,
        "output_size": report.output_size if report.output_key else 0,
        "has_output": report.output_key is not None,
        "statistics": report.statistics if isinstance(report.statistics, dict) else None,
        "metrics": report.metrics if isinstance(report.metrics, dict) else None,
        "error_log": {"error": error, "stdout": report.stdout_tail, "stderr": report.stderr_tail}
        if status is RunStatus.FAILED else None,
    }
    params = {f"new_{name}": value for name, value in values.items()}
    with platform.db.engine.begin() as conn:
        if owner is None:
            moved = conn.execute(_FINISH[status], {"run_id": run_id, **params}).rowcount
        else:
            moved = conn.execute(_FINISH_OWNED[status], {"run_id": run_id, "by_owner": owner, **params}).rowcount
        if moved:
            record_run_status(conn, [run_id], now=now)
    if moved and run.parent_run_id:  # a child of an ensemble run: its last child ends the ensemble run
        platform.child_ended(run.parent_run_id)
    return status if moved else None


def list_assets(platform: Platform, principal: Principal, app_id: str, run_id: str) -> list[dict[str, Any]]:
    get_run(platform, principal, app_id, run_id)
    if not platform.blobs.exists(assets_key(run_id)):
        return []
    return list(json.loads(platform.blobs.get_bytes(assets_key(run_id))))


def asset_key(platform: Platform, principal: Principal, app_id: str, run_id: str, asset_id: str) -> tuple[str, str]:
    for entry in list_assets(platform, principal, app_id, run_id):
        if entry["id"] == asset_id:
            return asset_content_key(run_id, asset_id), entry.get("content_type", "json")
    raise NotFound(f"asset {asset_id!r} of run {run_id!r} does not exist")
