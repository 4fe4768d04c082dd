"""Shadow and switchback tests, and ensemble winners, as pure code on plain values."""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from runyard.domain.stats import lookup, numeric

# ExperimentStatus values (1.13.0) a shadow or switchback test moves through.
DRAFT, STARTED, STOPPING, COMPLETED, CANCELED = "draft", "started", "stopping", "completed", "canceled"
ENDED = frozenset({COMPLETED, CANCELED, "failed"})


def random_plan(baseline: str, candidate: str, *, units: int, unit_minutes: float, seed: int) -> list[dict[str, Any]]:
    """``units`` consecutive units, half to each instance (the odd one out to either, by the seed), shuffled.

    The same seed always gives the same plan.
    """
    rng = random.Random(seed)
    half, odd = divmod(units, 2)
    extra = [rng.choice((baseline, candidate))] if odd else []
    order = [baseline] * half + [candidate] * half + extra
    rng.shuffle(order)
    return [{"index": i, "instance_id": inst, "duration_minutes": float(unit_minutes)} for i, inst in enumerate(order)]


def unit_at(plan_units: Sequence[Mapping[str, Any]], start: datetime, now: datetime) -> Mapping[str, Any] | None:
    """The plan unit that ``now`` falls in, or None before the start or after the last unit."""
    if now < start:
        return None
    offset = start
    for unit in plan_units:
        end = offset + timedelta(minutes=float(unit["duration_minutes"]))
        if now < end:
            return unit
        offset = end
    return None


def plan_end(plan_units: Sequence[Mapping[str, Any]], start: datetime) -> datetime:
    return start + timedelta(minutes=sum(float(u["duration_minutes"]) for u in plan_units))


@dataclass(frozen=True)
class Lifecycle:
    """What a test's status should be now, from its settings (pure: the caller supplies the clock)."""

    status: str
    start_time: datetime | None
    end_time: datetime | None
    maximum_runs: int | None
    baseline_runs: int
    plan_end: datetime | None = None

    def next_status(self, now: datetime) -> str:
        status = self.status
        if status == DRAFT and self.start_time is not None and now >= self.start_time:
            status = STARTED
        if status != STARTED:
            return status
        if self.end_time is not None and now >= self.end_time:
            return COMPLETED
        if self.maximum_runs is not None and self.baseline_runs >= self.maximum_runs:
            return COMPLETED
        if self.plan_end is not None and now >= self.plan_end:
            return COMPLETED
        return STARTED


# Ensembles
@dataclass(frozen=True)
class Rule:
    id: str
    statistics_path: str
    objective: str  # maximize | minimize
    tolerance_type: str  # absolute | relative
    tolerance: float
    index: int


def rule_from(doc: Mapping[str, Any]) -> Rule:
    tol = doc.get("tolerance") or {}
    return Rule(id=str(doc["id"]), statistics_path=str(doc["statistics_path"]), objective=str(doc["objective"]),
                tolerance_type=str(tol.get("type") or "absolute"), tolerance=float(tol.get("value") or 0.0),
                index=int(doc.get("index") or 0))


def within(value: float, best: float, rule: Rule) -> bool:
    """Whether ``value`` is within the rule's tolerance of ``best`` (on the objective's bad side)."""
    gap = best - value if rule.objective == "maximize" else value - best
    allowed = rule.tolerance * abs(best) if rule.tolerance_type == "relative" else rule.tolerance
    return gap <= allowed


def choose_winner(rules: Sequence[Rule], children: Sequence[Mapping[str, Any]]) -> tuple[str | None, list[dict[str, Any]]]:
    """The winning child id and each rule's evaluation.

    ``children`` are ``{"id", "status", "statistics"}`` in fan-out order; only succeeded children
    with a numeric value at a rule's path stay in the running. Rules apply in ``index`` order, each
    keeping the children within tolerance of the best; the first child left wins.
    """
    left = [c for c in children if c.get("status") == "succeeded"]
    evaluations: list[dict[str, Any]] = []
    for rule in sorted(rules, key=lambda r: r.index):
        values = {c["id"]: _value(c, rule.statistics_path) for c in left}
        scored = [c for c in left if values[c["id"]] is not None]
        if not scored:
            evaluations.append({"rule_id": rule.id, "best": None, "values": values, "kept": [c["id"] for c in left]})
            continue
        pick = max if rule.objective == "maximize" else min
        best = pick(float(values[c["id"]]) for c in scored)  # type: ignore[arg-type]
        left = [c for c in scored if within(float(values[c["id"]]), best, rule)]  # type: ignore[arg-type]
        evaluations.append({"rule_id": rule.id, "best": best, "values": values, "kept": [c["id"] for c in left]})
    return (left[0]["id"] if left else None), evaluations


def _value(child: Mapping[str, Any], path: str) -> float | None:
    number = numeric(lookup(child.get("statistics"), path))
    return number if number is not None and math.isfinite(number) else None
