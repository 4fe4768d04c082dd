"""Response views for managed inputs, input sets, experiments and acceptance tests (spec §3.8–3.10)."""

from __future__ import annotations

from typing import Any

from runyard.domain.errors import Invalid
from runyard.domain.options import option_value_str
from runyard.server.schemas.views import ts
from runyard.services.experiments import Counts
from runyard.storage.db import AcceptanceTest, Experiment, InputSet, ManagedInput


def _format(fmt: dict[str, Any] | None) -> dict[str, Any] | None:
    if not fmt:
        return None
    out = dict(fmt)
    if (out.get("input") or {}).get("type") == "csv":
        out["input"] = {**out["input"], "type": "csv-archive"}
    return out


def managed_input(m: ManagedInput) -> dict[str, Any]:
    out: dict[str, Any] = {"id": m.id, "name": m.name, "description": m.description or "",
                           "created_at": ts(m.created_at), "updated_at": ts(m.updated_at)}
    for key in ("upload_id", "run_id"):
        if getattr(m, key):
            out[key] = getattr(m, key)
    if fmt := _format(m.format):
        out["format"] = fmt
    return out


def _member(entry: dict[str, Any]) -> dict[str, Any]:
    row = entry["row"]
    if entry["kind"] == "managed":
        return managed_input(row)
    return {"id": row.id, "name": row.name or row.id, "description": row.description or "", "run_id": row.id,
            "format": {"input": {"type": row.input_format}, "output": {"type": row.output_format}},
            "created_at": ts(row.created_at), "updated_at": ts(row.created_at)}


def input_set(row: InputSet, members: list[dict[str, Any]], app_id: str) -> dict[str, Any]:
    return {"app_id": app_id, "id": row.id, "name": row.name, "description": row.description or "",
            "input_ids": list(row.input_ids or []), "inputs": [_member(m) for m in members],
            "created_at": ts(row.created_at), "updated_at": ts(row.updated_at)}


def option_sets(raw: dict[str, Any] | None) -> dict[str, dict[str, str]] | None:
    if raw is None:
        return None
    out: dict[str, dict[str, str]] = {}
    for name, values in raw.items():
        if not isinstance(values, dict):
            raise Invalid(f"option_sets.{name} must be an object of option values")
        out[name] = {k: option_value_str(v) for k, v in values.items()}
    return out


def batch_metadata(e: Experiment, c: Counts, app_id: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": e.id, "name": e.name, "description": e.description or "", "app_id": app_id, "type": e.type,
        "status": e.status, "created_at": ts(e.created_at), "updated_at": ts(e.updated_at),
        "number_of_requested_runs": e.requested_runs, "number_of_runs": c.total, "number_of_completed_runs": c.finished,
        "number_of_succeeded_runs": c.succeeded, "number_of_failed_runs": c.failed, "number_of_canceled_runs": c.canceled,
    }
    if e.option_sets is not None:
        out["option_sets"] = e.option_sets
    if e.completed_at is not None:
        out["completed_at"] = ts(e.completed_at)
    return out


def batch(e: Experiment, c: Counts, app_id: str) -> dict[str, Any]:
    out = batch_metadata(e, c, app_id)
    out["input_set_id"] = e.input_set_id or ""
    out["instance_ids"] = list(e.instance_ids or [])
    if e.summaries is not None:
        out["grouped_distributional_summaries"] = e.summaries
    return out


def acceptance(t: AcceptanceTest, app_id: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": t.id, "name": t.name, "description": t.description or "", "app_id": app_id, "experiment_id": t.experiment_id,
        "control": t.control, "candidate": t.candidate, "metrics": t.metrics, "status": t.status,
        "created_at": ts(t.created_at), "updated_at": ts(t.updated_at),
    }
    if t.results is not None:
        out["results"] = t.results
    return out
