"""Experiment statistics: distribution summaries, percentiles and acceptance verdicts. Pure code.

Conventions (documented for users): ``std`` is the sample standard deviation (0 for one value);
percentiles interpolate linearly between closest ranks (NumPy's default); the shifted geometric
mean is ``exp(mean(log(x + s))) - s`` with shift ``s = max(1, 1 - min(x))`` so every term is ≥ 1.
"""

from __future__ import annotations

import math
import operator
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

PERCENTILES = (1, 5, 10, 25, 50, 75, 90, 95, 99)
STATISTICS = ("min", "max", "mean", "std", "shifted_geometric_mean", *(f"p{p:02d}" for p in PERCENTILES))


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """The ``p``-th percentile (0–100) of already sorted values, linear interpolation."""
    if not sorted_values:
        return 0.0
    rank = (len(sorted_values) - 1) * p / 100
    lo, hi = math.floor(rank), math.ceil(rank)
    return float(sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (rank - lo))


def shift_parameter(values: Sequence[float]) -> float:
    return max(1.0, 1.0 - min(values)) if values else 1.0


def shifted_geometric_mean(values: Sequence[float], shift: float) -> float:
    if not values:
        return 0.0
    return math.exp(sum(math.log(v + shift) for v in values) / len(values)) - shift


def summarize(values: Sequence[float]) -> dict[str, Any]:
    """count, min, max, mean, std, shifted geometric mean (+ shift) and percentiles p01…p99."""
    data = sorted(float(v) for v in values)
    n = len(data)
    mean = sum(data) / n if n else 0.0
    std = math.sqrt(sum((v - mean) ** 2 for v in data) / (n - 1)) if n > 1 else 0.0
    shift = shift_parameter(data)
    return {
        "count": n,
        "min": data[0] if n else 0.0,
        "max": data[-1] if n else 0.0,
        "mean": mean,
        "std": std,
        "shifted_geometric_mean": shifted_geometric_mean(data, shift),
        "shift_parameter": shift,
        "percentiles": {f"p{p:02d}": percentile(data, p) for p in PERCENTILES},
    }


def statistic(summary: dict[str, Any], name: str) -> float:
    if name.startswith("p") and name[1:].isdigit():
        return float(summary["percentiles"][name])
    return float(summary[name])


def lookup(document: Any, path: str) -> Any:
    """The value at a dotted ``path`` in nested dicts (a leading ``$.`` is allowed); None if absent."""
    node = document
    for part in path.removeprefix("$.").split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def numeric(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def indicator_values(statistics: Any, metrics: Any) -> dict[str, float]:
    """Numeric leaves of a run's statistics and metrics, by dotted path (metrics win on a clash)."""
    out: dict[str, float] = {}
    for doc in (statistics, metrics):
        if isinstance(doc, dict):
            for name, value in leaves(doc):
                number = numeric(value)
                if number is not None:
                    out[name] = number
    return out


def leaves(doc: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """(dotted path, value) of every non-dict value in nested dicts."""
    out: list[tuple[str, Any]] = []
    for key, value in doc.items():
        if isinstance(value, dict):
            out.extend(leaves(value, f"{prefix}{key}."))
        else:
            out.append((f"{prefix}{key}", value))
    return out


def group_summaries(keys: list[str], runs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Distribution summaries per group of runs sharing the values of ``keys``, in order of first appearance.

    Each run is a mapping with ``keys`` plus ``status``, ``statistics`` and ``metrics``; only succeeded
    runs contribute indicator values.
    """
    groups: dict[tuple[str, ...], list[Mapping[str, Any]]] = defaultdict(list)
    for run in runs:
        groups[tuple(str(run[k] or "") for k in keys)].append(run)
    out = []
    for values, members in groups.items():
        per_indicator: dict[str, list[float]] = defaultdict(list)
        for run in members:
            if run["status"] == "succeeded":
                for name, number in indicator_values(run["statistics"], run["metrics"]).items():
                    per_indicator[name].append(number)
        out.append({
            "group_keys": keys,
            "group_values": list(values),
            "number_of_runs_total": len(members),
            "number_of_runs_succeeded": sum(r["status"] == "succeeded" for r in members),
            "number_of_runs_failed": sum(r["status"] == "failed" for r in members),
            "indicator_keys": sorted(per_indicator),
            "indicator_distributions": {name: summarize(vals) for name, vals in sorted(per_indicator.items())},
        })
    return out


_OPS: dict[str, Callable[[float, float], bool]] = {
    "lt": operator.lt, "le": operator.le, "gt": operator.gt, "ge": operator.ge,
}


def verdict(candidate: float, control: float, op: str, tolerance_type: str, tolerance: float) -> bool:
    """Whether the candidate passes against the control.

    The tolerance widens the comparison in the candidate's favour: ``allowed`` is the absolute
    tolerance, or ``|control| × tolerance`` when relative. ``lt``: candidate < control + allowed;
    ``le``: ≤; ``gt``: candidate > control − allowed; ``ge``: ≥; ``eq``: |candidate − control| ≤
    allowed; ``ne``: |candidate − control| > allowed.
    """
    allowed = abs(control) * tolerance if tolerance_type == "relative" else tolerance
    if op in ("lt", "le"):
        return _OPS[op](candidate, control + allowed)
    if op in ("gt", "ge"):
        return _OPS[op](candidate, control - allowed)
    if op == "eq":
        return abs(candidate - control) <= allowed
    if op == "ne":
        return abs(candidate - control) > allowed
    raise ValueError(f"unknown operator {op!r}")
