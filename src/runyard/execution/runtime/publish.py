"""The runner's local results made durable: output and assets into the blob store, as the contract's report."""

from __future__ import annotations

import json
import os
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from runyard.execution.contract import RunReport, RunTask
from runyard.execution.runtime.types import LocalReport
from runyard.storage.blobs import BlobStore


def publish(blobs: BlobStore, task: RunTask, local: LocalReport) -> RunReport:
    """Store what ``local`` left on this machine under the task's keys; a failure to store is the run's error."""
    report = RunReport(
        exit_code=local.exit_code, canceled=local.canceled, deadline_hit=local.deadline_hit,
        output_exceeded=local.output_exceeded, error=local.error, log_key=task.log_key,
        statistics=local.statistics if isinstance(local.statistics, dict) else None,
        metrics=local.metrics if isinstance(local.metrics, dict) else None,
        execution_ms=local.execution_ms, stdout_tail=local.stdout_tail, stderr_tail=local.stderr_tail,
    )
    try:
        if _regular_file(local.output_path):
            report.output_size = blobs.put_local_file(task.output_key, local.output_path)  # type: ignore[arg-type]
            report.output_key = task.output_key
        if store_assets(blobs, task.assets_key, task.assets_prefix, local.assets):
            report.assets_key = task.assets_key
    except Exception as exc:  # noqa: BLE001 - the run ends failed, saying why, instead of vanishing
        report.error = report.error or f"storing the run's output failed: {type(exc).__name__}: {exc}"
    return report


def _regular_file(path: Path | None) -> bool:
    """Only a regular file counts: a symlink the app put in its place is no output."""
    if path is None:
        return False
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except FileNotFoundError:
        return False


def store_assets(blobs: BlobStore, index_key: str, prefix: str, assets: Any) -> bool:
    """Keep a run's assets: an index plus one blob per asset's content; False when there are none."""
    if isinstance(assets, dict):
        assets = assets.get("assets")
    if not isinstance(assets, list) or not assets:
        return False
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    index = []
    for i, asset in enumerate(a for a in assets if isinstance(a, dict)):
        asset_id = f"asset-{i}"
        content = json.dumps(asset.get("content"), separators=(",", ":")).encode()
        blobs.put_bytes(f"{prefix}{asset_id}", content)
        entry = {"id": asset_id, "name": str(asset.get("name") or asset_id), "created_at": now, "size": len(content),
                 "content_type": str(asset.get("content_type") or "json")}
        if isinstance(asset.get("visual"), dict):
            entry["visual"] = asset["visual"]
        if asset.get("description"):
            entry["description"] = str(asset["description"])
        index.append(entry)
    blobs.put_bytes(index_key, json.dumps(index).encode())
    return True
