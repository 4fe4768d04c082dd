"""Acceptance-test results: one metric's statistic compared between control and candidate runs. Pure code.

Runs are plain mappings with ``instance_id``, ``status``, ``statistics`` and ``metrics``; a side
(control or candidate) is a mapping with ``instance_id`` and ``version_id``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from runyard.domain import stats

Runs = Sequence[Mapping[str, Any]]


def metric_values(runs: Runs, field_path: str) -> list[float]:
    """The numeric values of ``field_path`` in the succeeded runs (metrics first, then statistics)."""
    out = []
    for run in runs:
        if run["status"] != "succeeded":
            continue
        value = None
        for doc in (run["metrics"], run["statistics"]):
            value = stats.lookup(doc, field_path.removeprefix("metrics.").removeprefix("statistics."))
            if value is not None:
                break
        number = stats.numeric(value)
        if number is not None:
            out.append(number)
    return out


def _side(runs: Runs, instance_id: str) -> list[Mapping[str, Any]]:
    return [r for r in runs if r["instance_id"] == instance_id]


def _result_side(side: Mapping[str, Any], runs: Runs, values: list[float]) -> dict[str, Any]:
    summary = stats.summarize(values)
    return {
        "instance_id": side["instance_id"],
        "version_id": side.get("version_id", ""),
        "number_of_runs_total": len(runs),
        "distribution_summary_statistics": {k: summary[k] for k in ("min", "max", "mean", "std", "shifted_geometric_mean", "shift_parameter", "count")},
        "distribution_percentiles": summary["percentiles"],
    }


def evaluate_metric(metric: dict[str, Any], control: Mapping[str, Any], candidate: Mapping[str, Any], runs: Runs) -> tuple[dict[str, Any], str]:
    """One metric's result, and why it could not be evaluated ("" when it could)."""
    control_runs, candidate_runs = _side(runs, control["instance_id"]), _side(runs, candidate["instance_id"])
    cv, kv = metric_values(control_runs, metric["field"]), metric_values(candidate_runs, metric["field"])
    result = {"metric": metric, "statistics": {"control": _result_side(control, control_runs, cv),
                                                 "candidate": _result_side(candidate, candidate_runs, kv)}, "passed": False}
    if not cv or not kv:
        return result, f"no numeric values for {metric['field']!r} in {'control' if not cv else 'candidate'} runs"
    name = metric["statistic"]
    c = stats.statistic(stats.summarize(cv), name)
    k = stats.statistic(stats.summarize(kv), name)
    tol = metric["params"].get("tolerance") or {}
    result["passed"] = stats.verdict(k, c, metric["params"]["operator"], tol.get("type", ""), float(tol.get("value", 0)))
    return result, ""


def results(metrics: list[dict[str, Any]], control: Mapping[str, Any], candidate: Mapping[str, Any], runs: Runs) -> dict[str, Any]:
    """A test's results: every metric's, passed when all passed, and the errors of those not evaluated."""
    metric_results, errors = [], []
    for metric in metrics:
        result, error = evaluate_metric(metric, control, candidate, runs)
        metric_results.append(result)
        if error:
            errors.append(error)
    out: dict[str, Any] = {"passed": bool(metric_results) and all(r["passed"] for r in metric_results), "metric_results": metric_results}
    if errors:
        out["error"] = "; ".join(errors)
    return out
