"""The end of a run: the runner's report turned into a final status, with its output and assets stored."""

from __future__ import annotations

import json
import os
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, select, update

from runyard.domain import runs as states
from runyard.domain.errors import NotFound
from runyard.domain.runs import RunStatus
from runyard.execution.runtime.types import RunReport
from runyard.services.blob_keys import asset_content_key, assets_key, output_key
from runyard.services.platform import Platform, Principal
from runyard.services.runs.reads import get_run
from runyard.services.runs.transitions import status_among
from runyard.storage.db import Run

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
        platform.blobs.put_bytes(asset_content_key(run_id, asset_id), content)
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
            return asset_content_key(run_id, asset_id), entry.get("content_type", "json")
    raise NotFound(f"asset {asset_id!r} of run {run_id!r} does not exist")
