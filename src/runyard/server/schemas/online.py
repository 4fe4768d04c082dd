"""Request bodies and response views of shadow tests, switchback tests and ensemble definitions (spec §3.13–3.14)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import StrictStr

from runyard.domain.errors import Invalid
from runyard.server.schemas.requests import Body
from runyard.server.schemas.views import run_list_item, ts
from runyard.services.online import TestView
from runyard.storage.db import EnsembleDefinition, OnlineTest


class ShadowCreate(Body):
    id: StrictStr | None = None
    name: StrictStr | None = None
    description: StrictStr | None = None
    comparisons: Any = None
    start_events: dict[str, Any] | None = None
    termination_events: dict[str, Any] | None = None


class SwitchbackCreate(Body):
    id: StrictStr | None = None
    name: StrictStr | None = None
    description: StrictStr | None = None
    comparison: dict[str, Any] | None = None
    generate_random_plan: dict[str, Any] | None = None


class StopBody(Body):
    intent: StrictStr | None = None


class EnsembleCreate(Body):
    id: StrictStr | None = None
    name: StrictStr | None = None
    description: StrictStr | None = None
    run_groups: Any = None
    rules: Any = None


def when(value: Any, name: str) -> datetime | None:
    """An ISO 8601 date-time (naive ones are UTC), or None."""
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise Invalid(f"{name} must be an ISO 8601 date-time string")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise Invalid(f"{name} must be an ISO 8601 date-time, not {value!r}") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def comparisons_map(raw: Any) -> dict[str, list[str]]:
    """``comparisons`` as the SDK sends it (baseline → candidates), or as this server returns it (a list)."""
    if isinstance(raw, list):
        out: dict[str, list[str]] = {}
        for i, item in enumerate(raw):
            if not isinstance(item, dict) or not isinstance(item.get("baseline_instance_id"), str):
                raise Invalid(f"comparisons[{i}] needs a baseline_instance_id and candidate_instance_ids")
            out[item["baseline_instance_id"]] = item.get("candidate_instance_ids") or []
        return out
    if not isinstance(raw, dict):
        raise Invalid("comparisons must be an object mapping a baseline instance id to a list of candidate instance ids")
    return raw


def integer(value: Any, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value:
        raise Invalid(f"{name} must be an integer")
    return int(value)


def number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Invalid(f"{name} must be a number")
    return float(value)


def test_metadata(t: OnlineTest, app_id: str) -> dict[str, Any]:
    out: dict[str, Any] = {"id": t.id, "name": t.name, "description": t.description or "", "app_id": app_id,
                           "status": t.status, "created_at": ts(t.created_at), "updated_at": ts(t.updated_at)}
    if t.started_at is not None:
        out["started_at"] = ts(t.started_at)
    if t.completed_at is not None:
        out["completed_at"] = ts(t.completed_at)
    return out


def _counts(v: TestView) -> dict[str, int]:
    roles = [tag.role for _, tag in v.runs]
    return {"number_of_runs": len(roles), "number_of_baseline_runs": roles.count("baseline"),
            "number_of_candidate_runs": roles.count("candidate"),
            "number_of_completed_runs": sum(run.status in ("succeeded", "failed", "canceled") for run, _ in v.runs)}


def shadow(v: TestView, app_id: str) -> dict[str, Any]:
    t = v.test
    out = test_metadata(t, app_id)
    out["comparisons"] = list(t.comparisons or [])
    out["start_events"] = {"time": ts(t.start_time)} if t.start_time else {}
    out["termination_events"] = {"maximum_runs": t.maximum_runs, **({"time": ts(t.end_time)} if t.end_time else {})}
    out["grouped_distributional_summaries"] = v.summaries
    out.update(_counts(v))
    return out


def switchback(v: TestView, app_id: str) -> dict[str, Any]:
    t = v.test
    out = test_metadata(t, app_id)
    out["comparison"] = (t.comparisons or [{}])[0]
    plan = dict(t.plan or {})
    out["plan"] = {"start": plan.get("start"), "units": plan.get("units") or [], "seed": plan.get("seed"),
                   "unit_duration_minutes": plan.get("unit_duration_minutes")}
    out["grouped_distributional_summaries"] = v.summaries
    out["unit_summaries"] = v.unit_summaries or []
    out.update(_counts(v))
    return out


def test_runs(v: TestView) -> dict[str, Any]:
    """``{"runs": [Run…]}``, each tagged with its arm (and unit, for a switchback test)."""
    runs = []
    for run, tag in v.runs:
        item = run_list_item(run)
        item["arm"] = tag.role
        if tag.source_run_id:
            item["baseline_run_id"] = tag.source_run_id
        if tag.unit_index is not None:
            item["unit_index"] = tag.unit_index
        runs.append(item)
    return {"runs": runs}


def ensemble_definition(d: EnsembleDefinition, app_id: str) -> dict[str, Any]:
    return {"id": d.id, "application_id": app_id, "name": d.name or "", "description": d.description or "",
            "run_groups": list(d.run_groups or []), "rules": list(d.rules or []),
            "created_at": ts(d.created_at), "updated_at": ts(d.updated_at)}
