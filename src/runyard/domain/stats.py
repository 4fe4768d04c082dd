"""Experiment statistics: distribution summaries, percentiles and acceptance verdicts. Pure code.

Conventions (documented for users): ``std`` is the sample standard deviation (0 for one value);
percentiles interpolate linearly between closest ranks (NumPy's default); the shifted geometric
mean is ``exp(mean(log(x + s))) - s`` with shift ``s = max(1, 1 - min(x))`` so every term is ≥ 1.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Sequence
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
