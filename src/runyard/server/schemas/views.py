"""Response views that follow spec/nextmv-api.md exactly, valid for both SDK generations at once."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from runyard.domain.runs import status_v1
from runyard.services.bundles import executable_view
from runyard.storage.db import Application, Bundle, Instance, Run, Version


def ts(value: datetime | None) -> str | None:
    """RFC 3339 in UTC with a ``Z``."""
    if value is None:
        return None
    return value.isoformat().replace("+00:00", "Z")


def application(app: Application) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": app.id,
        "name": app.name,
        "description": app.description or "",
        "type": app.type or "custom",
        "locked": bool(app.locked),
        "created_at": ts(app.created_at),
        "updated_at": ts(app.updated_at),
    }
    if app.default_instance:
        out["default_instance"] = app.default_instance
    if app.default_experiment_instance:
        out["default_experiment_instance"] = app.default_experiment_instance
    if app.type == "subscription":
        out["subscription_id"] = app.id
    return out


def version(v: Version, bundle: Bundle, app_id: str) -> dict[str, Any]:
    executable = executable_view(bundle)
    executable["uploaded_at"] = ts(executable["uploaded_at"])
    return {
        "id": v.id,
        "application_id": app_id,
        "name": v.name,
        "description": v.description or "",
        "executable": executable,
        "created_at": ts(v.created_at),
        "updated_at": ts(v.updated_at),
    }


def instance(i: Instance, app_id: str) -> dict[str, Any]:
    return {
        "id": i.id,
        "application_id": app_id,
        "version_id": i.version_id,
        "name": i.name,
        "description": i.description or "",
        "configuration": i.configuration or {},
        "locked": bool(i.locked),
        "created_at": ts(i.created_at),
        "updated_at": ts(i.updated_at),
    }


def _options(run: Run) -> dict[str, Any]:
    stored = run.options or {}
    summary = stored.get("summary")
    if summary is None:  # (a tracked run: no options were resolved; 1.13.0's compare_runs reads active_options)
        return {"request_options": stored.get("request") or {}, "active_options": {}}
    return {
        "request_options": stored.get("request") or {},
        "active_options": {s["name"]: s["value"] for s in summary},
        "options_summary": summary,
    }


def run_metadata(run: Run) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "application_id": run.app_id,
        "application_instance_id": run.instance_id,
        "application_version_id": run.version_id,
        "created_at": ts(run.created_at),
        "duration": float(run.duration_ms or 0.0),
        "error": run.error or "",
        "input_size": float(run.input_size or 0),
        "output_size": float(run.output_size or 0),
        "status": status_v1(run.status),
        "status_v2": run.status,
        "format": {"input": {"type": run.input_format}, "output": {"type": run.output_format}},
        "run_type": run_type(run),
        "execution_class": run.execution_class,
        "execution_duration": float(run.execution_ms or 0.0),
        "queuing_priority": run.priority,
        "queuing_disabled": bool(run.queuing_disabled),
        "options": _options(run),
    }
    if run.started_at is not None:
        meta["initiated_at"] = ts(run.started_at)
    if run.secrets_collection_id:
        meta["secrets_collection_id"] = run.secrets_collection_id
    metrics = comparable_metrics(run)
    if metrics:
        meta["metrics"] = metrics
    documents = {k: v for k, v in (("statistics", run.statistics), ("metrics", run.metrics)) if v is not None}
    if documents:  # whole, for Runyard's clients (the console): not a field of either SDK's model
        meta["documents"] = documents
    if run.experiment_id:
        meta["experiment_id"] = run.experiment_id
    tracking = {k: v for k, v in (("input_id", run.input_id), ("cloned_run_id", run.cloned_run_id)) if v}
    if tracking:
        meta["tracking"] = tracking
    if run.routing and run.routing.get("experiment_type"):  # a shadow or switchback test made or routed it
        meta["experiment_type"] = run.routing["experiment_type"]
        meta["routing"] = run.routing  # (not a field of either SDK's model: they drop it, compare_runs too)
    return meta


def comparable_metrics(run: Run) -> dict[str, Any]:
    """The run's metrics (or, for an app on the deprecated convention, its statistics) as dotted scalar leaves.

    1.13.0's ``compare_runs`` puts every metadata value into a set, so no value of the metadata may be an
    object or a list: the documents stay whole in the run's output; lists appear as their JSON text."""
    doc = run.metrics if run.metrics else run.statistics
    if not isinstance(doc, dict):
        return {}
    if list(doc) == ["metrics"] and isinstance(doc["metrics"], dict):
        doc = doc["metrics"]
    return flat_leaves(doc)


def flat_leaves(doc: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in doc.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flat_leaves(value, name + "."))
        elif isinstance(value, list):
            out[name] = json.dumps(value, separators=(",", ":"), default=str)
        else:
            out[name] = value
    return out


def run_type(run: Run) -> dict[str, Any]:
    """``{"type"}``, with the definition of an ensemble run and the ensemble run of a child (``reference_id``)."""
    out: dict[str, Any] = {"type": run.run_type or "standard"}
    if run.run_type == "ensemble" and run.routing:
        out["definition_id"] = (run.routing.get("ensemble") or {}).get("definition_id")
    if run.parent_run_id:
        out["reference_id"] = run.parent_run_id
    return out


def run_information(run: Run) -> dict[str, Any]:
    return {
        "id": run.id,
        "name": run.name or "",
        "description": run.description or "",
        "user_email": run.user_email or "",
        "metadata": run_metadata(run),
    }


def run_list_item(run: Run) -> dict[str, Any]:
    """The stricter ``Run`` model of 1.13.0 list responses."""
    item: dict[str, Any] = {
        "id": run.id,
        "user_email": run.user_email or "",
        "name": run.name or "",
        "description": run.description or "",
        "created_at": ts(run.created_at),
        "application_id": run.app_id,
        "application_instance_id": run.instance_id,
        "application_version_id": run.version_id,
        "run_type": run_type(run),
        "execution_class": run.execution_class,
        "runtime": "",
        "status_v2": run.status,
        "queuing_priority": run.priority,
        "queuing_disabled": bool(run.queuing_disabled),
    }
    opts = _options(run)
    if "options_summary" in opts:
        item["options"] = opts["active_options"]
        item["options_summary"] = opts["options_summary"]
    item["request_options"] = opts["request_options"]
    for key in ("experiment_id", "input_id", "input_set_id", "option_set", "scenario_id", "repetition"):
        if getattr(run, key) is not None:
            item[key] = getattr(run, key)
    for key, value in (("statistics", run.statistics), ("metrics", run.metrics)):
        if value is not None:
            item[key] = {"status": "success", "indicators": indicators(value)}
    return item


def indicators(doc: dict[str, Any], prefix: str = "", limit: int = 100) -> list[dict[str, Any]]:
    """Scalar leaves of a statistics or metrics document as dotted ``name``/``value`` pairs."""
    out: list[dict[str, Any]] = []
    for key, value in doc.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.extend(indicators(value, name + ".", limit - len(out)))
        elif not isinstance(value, list):
            out.append({"name": name, "value": value})
        if len(out) >= limit:
            break
    return out[:limit]
