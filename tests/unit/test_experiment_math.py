"""Experiment summaries and acceptance verdicts are pure code on plain values (no ORM rows)."""

from __future__ import annotations

from runyard.domain import acceptance, stats


def _run(instance: str, status: str, value: float | None, **keys: str) -> dict:
    metrics = {"result": {"value": value}} if value is not None else None
    return {"instance_id": instance, "version_id": "v1", "option_set": "", "scenario_id": "", "status": status,
            "statistics": {"run": {"duration": 1}}, "metrics": metrics, **keys}


RUNS = [_run("control", "succeeded", 10), _run("control", "succeeded", 12), _run("candidate", "succeeded", 9),
        _run("candidate", "failed", None)]


def test_indicator_values_flatten_numeric_leaves_metrics_last() -> None:
    assert stats.indicator_values({"a": {"b": 1, "c": "x"}, "d": True}, {"a": {"b": 2.5}}) == {"a.b": 2.5}


def test_group_summaries_count_every_run_and_summarize_succeeded_ones() -> None:
    keys = ["instance_id", "version_id", "option_set"]
    control, candidate = stats.group_summaries(keys, RUNS)
    assert control["group_values"] == ["control", "v1", ""]
    assert control["indicator_keys"] == ["result.value", "run.duration"]
    assert control["indicator_distributions"]["result.value"]["mean"] == 11
    assert (candidate["number_of_runs_total"], candidate["number_of_runs_succeeded"], candidate["number_of_runs_failed"]) == (2, 1, 1)


def test_acceptance_results_compare_a_statistic_of_each_side() -> None:
    metric = {"field": "metrics.result.value", "metric_type": "direct-comparison", "statistic": "mean",
              "params": {"operator": "lt", "tolerance": {"type": "", "value": 0}}}
    out = acceptance.results([metric], {"instance_id": "control"}, {"instance_id": "candidate", "version_id": "v2"}, RUNS)
    assert out["passed"] is True and "error" not in out
    sides = out["metric_results"][0]["statistics"]
    assert sides["candidate"]["version_id"] == "v2" and sides["candidate"]["number_of_runs_total"] == 2
    missing = acceptance.results([{**metric, "field": "metrics.nothing"}], {"instance_id": "control"}, {"instance_id": "candidate"}, RUNS)
    assert missing["passed"] is False and missing["error"] == "no numeric values for 'metrics.nothing' in control runs"
